"""The Heads panel's left column: which score, and the settings that score reads.

Only the rows that the chosen score uses are shown (:data:`workbench.heads.FIELDS`). The widget
turns its fields into a :class:`workbench.heads.ScoreSpec` (or the in-context prompts of the
function-vector score) and says what to fix when they do not make one.
"""

from __future__ import annotations

from typing import Any, cast

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from ui.context import AppContext
from ui.panels.heads.jobs import KIND_TITLES, SCORE_TIPS
from workbench.heads.kinds import SCORE_KINDS  # torch-free, unlike the rest of workbench.heads

KINDS = (*SCORE_KINDS, "function_vector")  # the panel adds head choice by indirect effect
RANDOM = "random tokens repeated twice"
BUILTIN_TASK = "days → months (built-in)"
CUSTOM_TASK = "the prompt below"
METRIC_TIPS = {
    "": "Default: logit(target) − logit(foil) when there is a foil, else logit(target).",
    "logit_diff": "logit(target) − logit(foil) at the last token",
    "logit": "logit(target) at the last token",
    "logprob": "log p(target) at the last token",
    "prob": "p(target) at the last token",
}
# Which rows each kind shows (besides "Score").
ROWS = {
    "induction": ("input", "n_seqs", "seq_len", "seed"),
    "previous": ("input", "n_seqs", "seq_len", "seed"),
    "duplicate": ("input", "n_seqs", "seq_len", "seed"),
    "successor": ("sequences",),
    "copying": ("n_tokens", "seed", "top_k"),
    "dla": ("task", "prompt", "target", "foil"),
    "ablation": ("task", "prompt", "target", "foil", "metric", "mode"),
    "patching": ("task", "prompt", "corrupted", "target", "foil", "metric", "positions", "source", "normalize"),
    "attribution": ("task", "prompt", "corrupted", "target", "foil", "metric", "positions", "source", "normalize"),
    "function_vector": ("demos", "n_prompts", "n_shots", "seed"),
}  # fmt: skip


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _combo(items: list[tuple[str, str]], tip: str) -> QComboBox:
    c = QComboBox()
    for text, data in items:
        c.addItem(text, data)
    c.setToolTip(tip)
    return c


class ScoreSettingsWidget(QWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.kind = QComboBox()
        for i, k in enumerate(KINDS):
            self.kind.addItem(KIND_TITLES[k], k)
            self.kind.setItemData(i, SCORE_TIPS[k], Qt.ItemDataRole.ToolTipRole)
        self.kind.currentIndexChanged.connect(self._on_kind)
        # combo boxes, spin boxes, line edits and a check box, each read by its own name
        self.fields: dict[str, Any] = {}
        f = self.fields
        f["input"] = QComboBox()
        f["input"].setToolTip(
            "Random tokens repeated twice give the published scores; a prompt set's texts "
            "show how the heads behave on real text."
        )
        f["n_seqs"] = _spin(1, 512, 8, "How many random sequences")
        f["seq_len"] = _spin(4, 512, 32, "Tokens in each half of a repeated sequence")
        f["seed"] = _spin(0, 2**31 - 1, 0, "Random seed of the sampled tokens or prompts")
        f["sequences"] = QComboBox()
        f["sequences"].setToolTip(
            "Ordered sequences (numbers, days, months, letters); items that are not one token "
            "drop out."
        )
        f["n_tokens"] = _spin(2, 5000, 200, "Size of the random token sample")
        f["top_k"] = _spin(1, 100, 1, "A token counts as copied when it is among the head's top k")
        f["task"] = QComboBox()
        f["task"].setToolTip(
            "Prompts whose next token is scored: the built-in successor task (Monday, Tuesday, "
            "Wednesday, → Thursday; corrupted by months), your prompt below, or in-context "
            "prompts from a demonstration set (corrupted = shuffled answers)."
        )
        f["task"].currentIndexChanged.connect(self._update_rows)
        f["prompt"] = QLineEdit("The capital of France is")
        f["prompt"].setToolTip("The clean prompt; the score reads its last token's logits")
        f["corrupted"] = QLineEdit("The capital of Italy is")
        f["corrupted"].setToolTip(
            "The corrupted prompt patched into (same number of tokens as the clean one to "
            "patch every position)"
        )
        f["target"] = QLineEdit(" Paris")
        f["target"].setToolTip(
            "The answer word, read as it follows the prompt (a leading space is added; its "
            "first token counts)"
        )
        f["foil"] = QLineEdit(" Rome")
        f["foil"].setToolTip(
            "Optional: a wrong answer; the score then reads logit(target) − logit(foil)"
        )
        f["metric"] = _combo(
            [("default", ""), ("logit difference", "logit_diff"), ("logit", "logit"),
             ("log-probability", "logprob"), ("probability", "prob")],
            "\n".join(f"{k or 'default'}: {v}" for k, v in METRIC_TIPS.items()),
        )  # fmt: skip
        f["mode"] = _combo(
            [("zero", "zero"), ("mean", "mean")],
            "zero: set the head's output z to 0; mean: set it to its mean over the prompts",
        )
        f["positions"] = _combo(
            [("all positions", "all"), ("last position", "last")],
            "Patch every position (clean and corrupted must have equal token counts) or the "
            "last one only",
        )
        f["source"] = _combo(
            [("paired", "paired"), ("mean of clean", "mean")],
            "paired: each corrupted prompt gets its own clean prompt's z; mean: the mean over "
            "clean prompts",
        )
        f["normalize"] = QCheckBox("divide by clean − corrupted")
        f["normalize"].setChecked(True)
        f["demos"] = QComboBox()
        f["demos"].setToolTip("A demonstration set (input → output pairs, see the Prompts dock)")
        f["n_prompts"] = _spin(2, 256, 12, "How many in-context prompts")
        f["n_shots"] = _spin(1, 32, 5, "Demonstrations in each prompt")
        self.form.addRow("Score", self.kind)
        self.about = QLabel()
        self.about.setObjectName("hint")
        self.about.setWordWrap(True)
        self.form.addRow(self.about)
        labels = {
            "input": "Input", "n_seqs": "Sequences", "seq_len": "Length", "seed": "Seed",
            "sequences": "Ordinal set", "n_tokens": "Tokens", "top_k": "Top-k", "task": "Task",
            "prompt": "Prompt", "corrupted": "Corrupted", "target": "Target", "foil": "Foil",
            "metric": "Metric", "mode": "Ablation", "positions": "Positions", "source": "Source",
            "normalize": "", "demos": "Demonstrations", "n_prompts": "Prompts", "n_shots": "Shots",
        }  # fmt: skip
        for key, w in f.items():
            self.form.addRow(labels[key], w)
        ctx.state.events.prompt_sets.connect(self._refill_sets)
        self._refill_sets()
        self._on_kind()

    # ------------------------------------------------------------ choices
    def current_kind(self) -> str:
        return self.kind.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))

    def _on_kind(self, *_: Any) -> None:
        self.kind.setToolTip(SCORE_TIPS[self.current_kind()])
        self.about.setText(SCORE_TIPS[self.current_kind()])
        self._update_rows()

    def _update_rows(self, *_: Any) -> None:
        rows = ROWS[self.current_kind()]
        custom = self.fields["task"].currentData() == "custom"
        for key, w in self.fields.items():
            show = key in rows and (key not in ("prompt", "corrupted", "target", "foil") or custom)
            self.form.setRowVisible(w, show)

    def _refill_sets(self, *_: Any) -> None:
        sets = self.ctx.state.prompt_sets
        by_kind = lambda *kinds: [p["name"] for p in sets if p["kind"] in kinds]  # noqa: E731
        f = self.fields
        self._fill(
            f["input"],
            [(RANDOM, "")]
            + [(f"texts of {n}", n) for n in by_kind("plain", "labelled", "contrastive")],
        )
        self._fill(f["sequences"], [(n, n) for n in by_kind("ordinal")] or [("built-in", "")])
        demos = by_kind("demonstrations")
        self._fill(
            f["task"],
            [(BUILTIN_TASK, ""), (CUSTOM_TASK, "custom")]
            + [(f"in-context: {n}", n) for n in demos],
        )
        self._fill(f["demos"], [(n, n) for n in demos], prefer="antonyms")

    @staticmethod
    def _fill(combo: QComboBox, items: list[tuple[str, str]], prefer: str = "") -> None:
        keep = combo.currentData() if combo.count() else prefer
        combo.blockSignals(True)
        combo.clear()
        for text, data in items:
            combo.addItem(text, data)
        combo.setCurrentIndex(max(combo.findData(keep), 0))
        combo.blockSignals(False)

    def prompt_set(self, name: str) -> Any:
        p = self.ctx.state.prompt_set(name)
        if p is None:
            raise ValueError(f"There is no prompt set {name!r}: pick one in the Prompts dock.")
        return p["set"]

    # ------------------------------------------------------ saved settings
    def snapshot(self) -> dict[str, Any]:
        """The chosen score and the values of the rows it shows (stored with each run, so that
        showing the run again puts them back)."""
        kind = self.current_kind()
        out: dict[str, Any] = {"kind": kind}
        for key in ROWS[kind]:
            out[key] = _value(self.fields[key])
        if "task" in ROWS[kind] and out["task"] and out["task"] != "custom":
            for key in ("n_prompts", "n_shots", "seed"):  # the in-context prompts read these
                out[key] = _value(self.fields[key])
        return out

    def restore(self, settings: dict[str, Any]) -> None:
        """Show the score and settings of a stored run: its ``panel`` snapshot when it has one,
        else what the engine recorded (older runs). Values that no longer fit (a prompt set that
        is gone) leave their row as it is."""
        kind = settings.get("kind")
        if kind not in ROWS:
            return
        values = settings.get("panel")
        if not isinstance(values, dict) or values.get("kind") != kind:
            values = self._from_engine(kind, settings)
        self.set_kind(kind)
        for key, value in values.items():
            if key in self.fields:
                _set_value(self.fields[key], value)
        self._update_rows()

    def _from_engine(self, kind: str, st: dict[str, Any]) -> dict[str, Any]:
        """Panel values from the settings a score records (no panel snapshot)."""
        out: dict[str, Any] = {}
        sets = self.ctx.state.prompt_sets

        def find(kinds: tuple[str, ...], same: Any) -> str | None:
            for p in sets:
                if p["kind"] in kinds:
                    try:
                        if same(p["set"]):
                            return p["name"]
                    except Exception:  # noqa: BLE001 - a set that cannot be compared is not the one
                        continue
            return None

        if kind in ("induction", "previous", "duplicate"):
            if st.get("prompts") is not None:
                texts = list(st["prompts"])
                name = find(
                    ("plain", "labelled", "contrastive"), lambda ps: list(ps.all_texts()) == texts
                )
                if name is not None:
                    out["input"] = name
            else:
                out["input"] = ""
                out.update({k: st[k] for k in ("n_seqs", "seq_len", "seed") if k in st})
        elif kind == "successor":
            seqs = [list(s) for s in st.get("sequences") or []]
            name = find(("ordinal",), lambda ps: [list(s) for s in ps.sequences] == seqs)
            out["sequences"] = name if name is not None else ""
        elif kind == "copying":
            out.update({k: st[k] for k in ("n_tokens", "seed", "top_k") if k in st})
        else:
            task = st.get("task") or {}
            name = str(task.get("name") or "")
            prompts = list(task.get("prompts") or [])
            icl, _, shots = name.rpartition(" ")
            n_shots = shots.removesuffix("-shot")
            if kind != "function_vector" and name == "custom" and prompts:
                first = lambda key: (task.get(key) or [""])[0]  # noqa: E731
                out.update(task="custom", prompt=prompts[0], target=first("targets"))
                out["foil"] = first("foils")
                if task.get("corrupted"):
                    out["corrupted"] = first("corrupted")
            elif icl and shots.endswith("-shot") and n_shots.isdigit():
                out["demos" if kind == "function_vector" else "task"] = icl
                out.update(n_shots=int(n_shots), n_prompts=len(prompts))
            elif kind != "function_vector":
                out["task"] = ""
            if kind != "function_vector":
                out.update({k: st[k] for k in ("metric", "mode", "positions", "source") if k in st})
                if "normalize" in st:
                    out["normalize"] = bool(st["normalize"])
        return out

    # --------------------------------------------------------------- spec
    def task(self, hm: Any) -> Any:
        """The TaskPrompts of the logit-based scores, checked against the tokenizer."""
        from workbench.heads import TaskPrompts, icl_prompts
        from workbench.heads.data import successor_task

        f = self.fields
        kind = self.current_kind()
        choice = f["task"].currentData()
        if not choice:
            return successor_task()
        if choice != "custom":
            from workbench.heads import ICLTask

            return icl_prompts(
                ICLTask.from_prompt_set(self.prompt_set(choice)),
                f["n_prompts"].value(),
                f["n_shots"].value(),
                f["seed"].value(),
            )
        prompt, target = f["prompt"].text(), f["target"].text()
        foil, corrupted = f["foil"].text(), f["corrupted"].text()
        if not prompt.strip():
            raise ValueError("The prompt is empty: type the prompt whose next token is scored.")
        needs_corrupted = kind in ("patching", "attribution")
        if needs_corrupted and not corrupted.strip():
            raise ValueError(
                "Patching needs a corrupted prompt: type one (e.g. the same sentence about another country)."
            )
        for what, text in (("target", target), ("foil", foil)):
            if what == "foil" and not text.strip():
                continue
            _check_token(hm, what, text)
        return TaskPrompts(
            [prompt], [target], [foil] if foil.strip() else None,
            [corrupted] if needs_corrupted else None, name="custom",
        )  # fmt: skip

    def build(self, hm: Any) -> tuple[Any, Any]:
        """``(ScoreSpec or None, in-context TaskPrompts or None)`` for the chosen score."""
        from workbench.heads import ScoreSpec, icl_prompts

        f = self.fields
        kind = self.current_kind()
        if kind == "function_vector":
            name = f["demos"].currentData()
            if not name:
                raise ValueError(
                    "Pick a demonstration set (antonyms, country → capital…); add one in the Prompts dock."
                )
            from workbench.heads import ICLTask

            task = ICLTask.from_prompt_set(self.prompt_set(name))
            return None, icl_prompts(
                task, f["n_prompts"].value(), f["n_shots"].value(), f["seed"].value()
            )
        kw: dict[str, Any] = {}
        if kind in ("induction", "previous", "duplicate"):
            src = f["input"].currentData()
            kw.update(
                n_seqs=f["n_seqs"].value(), seq_len=f["seq_len"].value(), seed=f["seed"].value()
            )
            if src:
                kw["prompts"] = self.prompt_set(src).all_texts()
        elif kind == "successor":
            src = f["sequences"].currentData()
            if src:
                kw["sequences"] = [list(s) for s in self.prompt_set(src).sequences]
        elif kind == "copying":
            kw.update(
                n_tokens=f["n_tokens"].value(), seed=f["seed"].value(), top_k=f["top_k"].value()
            )
        else:
            kw["task"] = self.task(hm)
            kw["metric"] = f["metric"].currentData() or None
            if kw["metric"] == "logit_diff" and kw["task"].foils is None:
                raise ValueError(
                    "The logit-difference metric needs a foil: type one, or pick the logit metric."
                )
            kw.update(mode=f["mode"].currentData(), positions=f["positions"].currentData())
            kw.update(source=f["source"].currentData(), normalize=f["normalize"].isChecked())
        return ScoreSpec(kind, **kw), None


def _value(w: QWidget) -> Any:
    if isinstance(w, QComboBox):
        return w.currentData()
    if isinstance(w, QSpinBox):
        return w.value()
    if isinstance(w, QCheckBox):
        return w.isChecked()
    return cast(QLineEdit, w).text()


def _set_value(w: QWidget, value: Any) -> None:
    if isinstance(w, QComboBox):
        i = w.findData(value)
        if i >= 0:
            w.setCurrentIndex(i)
    elif isinstance(w, QSpinBox):
        if isinstance(value, int) and w.minimum() <= value <= w.maximum():
            w.setValue(value)
    elif isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(value, str):
        cast(QLineEdit, w).setText(value)


def _check_token(hm: Any, what: str, text: str) -> None:
    """A target or foil must start with a token the model knows (its first token is scored)."""
    tok = hm.tokenizer
    if not text.strip():
        raise ValueError(
            f"The {what} is empty: type the token the model should predict (e.g. ' Paris')."
        )
    from workbench.models.tokens import target_token_id

    target_token_id(tok, text)  # the engine's one word rule; refuses a word it cannot read

"""Hook-site names in TransformerLens's spelling.

A site is a stable string; it is what the project file stores and what an exported vector's
metadata says. One adapter per architecture resolves it to a module (see ``adapters``).

=============================  ===================================  ==========================
site                           what it is                           shape
=============================  ===================================  ==========================
``hook_embed``                 token embeddings (input of block 0)  [batch, pos, d_model]
``blocks.L.hook_resid_pre``    input of block L                     [batch, pos, d_model]
``blocks.L.hook_resid_mid``    after attention, before the MLP      [batch, pos, d_model]
``blocks.L.hook_resid_post``   output of block L                    [batch, pos, d_model]
``blocks.L.hook_attn_out``     attention output (after o_proj)      [batch, pos, d_model]
``blocks.L.hook_mlp_out``      MLP output                           [batch, pos, d_model]
``blocks.L.attn.hook_z``       per-head values entering o_proj      [batch, pos, head, d_head]
``blocks.L.attn.hook_pattern`` attention weights (eager only)       [batch, head, query, key]
=============================  ===================================  ==========================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.errors import SiteError

RESID_KINDS = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")
HEAD_KINDS = ("z", "pattern")
SITE_KINDS = ("embed", *RESID_KINDS, *HEAD_KINDS)  # every site type (Site.kind)
_BLOCK = re.compile(r"^blocks\.(\d+)\.hook_(resid_pre|resid_mid|resid_post|attn_out|mlp_out)$")
_ATTN = re.compile(r"^blocks\.(\d+)\.attn\.hook_(z|pattern)$")


@dataclass(frozen=True, order=True)
class Site:
    """A parsed site name: ``layer`` is None for ``hook_embed``."""

    layer: int | None
    kind: str

    @property
    def name(self) -> str:
        if self.kind == "embed":
            return "hook_embed"
        if self.kind in HEAD_KINDS:
            return f"blocks.{self.layer}.attn.hook_{self.kind}"
        return f"blocks.{self.layer}.hook_{self.kind}"

    @property
    def block(self) -> int:
        """The block index (every site but ``hook_embed`` has one)."""
        if self.layer is None:
            raise SiteError(f"{self.name} belongs to no block")
        return self.layer

    @property
    def per_head(self) -> bool:
        return self.kind in HEAD_KINDS

    def __str__(self) -> str:
        return self.name


def parse_site(name: str) -> Site:
    """Parse a site name; raise :class:`SiteError` with the accepted spellings otherwise."""
    name = name.strip()
    if name == "hook_embed":
        return Site(None, "embed")
    m = _BLOCK.match(name)
    if m:
        return Site(int(m.group(1)), m.group(2))
    m = _ATTN.match(name)
    if m:
        return Site(int(m.group(1)), m.group(2))
    raise SiteError(
        f"{name!r} is not a hook site. Use hook_embed, blocks.L.hook_resid_pre|resid_mid|"
        "resid_post|attn_out|mlp_out, or blocks.L.attn.hook_z|hook_pattern (L counts from 0)."
    )


def site_name(kind: str, layer: int | None = None) -> str:
    """The name of the site of type ``kind`` (``resid_post``, ``z``, ``embed``...; see
    :data:`SITE_KINDS`) at block ``layer`` (None for ``embed`` only). Every site name in the
    engine is built here, through :class:`Site`, never by formatting a string by hand."""
    if kind not in SITE_KINDS:
        raise SiteError(f"{kind!r} is not a site type; use one of {', '.join(SITE_KINDS)}.")
    if (kind == "embed") != (layer is None):
        raise SiteError(
            "hook_embed belongs to no block" if kind == "embed" else f"{kind} needs a block number"
        )
    if layer is not None and int(layer) < 0:
        raise SiteError(f"block {layer} does not exist: blocks count from 0.")
    return Site(None if layer is None else int(layer), kind).name


def resid_pre(layer: int) -> str:
    return site_name("resid_pre", layer)


def resid_mid(layer: int) -> str:
    return site_name("resid_mid", layer)


def resid_post(layer: int) -> str:
    return site_name("resid_post", layer)


def attn_out(layer: int) -> str:
    return site_name("attn_out", layer)


def mlp_out(layer: int) -> str:
    return site_name("mlp_out", layer)


def head_z(layer: int) -> str:
    return site_name("z", layer)


def pattern(layer: int) -> str:
    return site_name("pattern", layer)


# One block's sites in forward order.
_FORWARD_ORDER = ("resid_pre", "pattern", "z", "attn_out", "resid_mid", "mlp_out", "resid_post")


def all_sites(n_layers: int) -> list[str]:
    """Every site of a model with ``n_layers`` blocks, in forward order."""
    return [site_name("embed")] + [
        site_name(kind, L) for L in range(n_layers) for kind in _FORWARD_ORDER
    ]


def readout_site(sites: list[str]) -> str:
    """The site a concept's logit lens reads by default: two thirds of the way through its
    sites (a concept's token read-out is noise in the early layers and sharpest late, but
    the very last layers are dominated by next-token prediction)."""
    if not sites:
        raise SiteError("A concept with no sites has nothing to read.")
    return sites[len(sites) * 2 // 3]

"""The project file's tables as SQLAlchemy 2.0 typed models.

These models describe the *head* revision; the Alembic migrations in ``migrations/versions``
build the same tables step by step (a test compares the two). Change a table here only together
with a new migration and a new frozen fixture in ``tests/store/fixtures``.

Tensors are stored as raw little-endian bytes with their dtype name (``float32``, ``bfloat16``),
shape (a JSON list) and the sha256 of the bytes, so a file can be read without torch (numpy or
any language with SQLite) and damage is detected on load.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints let batch migrations find them again (SQLite cannot ALTER them in place).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class TensorColumns:
    """Columns shared by every stored tensor."""

    dtype: Mapped[str] = mapped_column(String(16))  # "float32", "bfloat16", ...
    shape: Mapped[list[Any]] = mapped_column()  # JSON list of ints
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Info(Base):
    """Facts about the file: which app version created and last wrote it."""

    __tablename__ = "info"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelRecord(Base):
    """A model the project used, and how to find it again."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    architecture: Mapped[str] = mapped_column(String(128), default="")
    d_model: Mapped[int] = mapped_column(default=0)
    n_layers: Mapped[int] = mapped_column(default=0)
    model_type: Mapped[str] = mapped_column(String(64), default="")
    file_hash: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(32), default="lm")
    path: Mapped[str] = mapped_column(Text, default="")  # where it was on the saving machine
    format: Mapped[str] = mapped_column(String(32), default="")  # "hf", "gguf", "safetensors"
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # summary of the config
    created: Mapped[str] = mapped_column(String(40))


class PromptSetRecord(Base):
    __tablename__ = "prompt_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # its shape: contrastive, labelled...
    items: Mapped[list[Any]] = mapped_column()
    # poles, template, separator, description (schema 0002; before, under items[0]["_meta"])
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[str] = mapped_column(String(40))
    updated: Mapped[str] = mapped_column(String(40))


class ConceptRecord(Base):
    __tablename__ = "concepts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    recipe: Mapped[dict[str, Any]] = mapped_column()
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[str] = mapped_column(String(40))
    vectors: Mapped[list[ConceptVector]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ConceptVector.position"
    )


class ConceptVector(TensorColumns, Base):
    __tablename__ = "concept_vectors"
    __table_args__ = (Unique("concept_id", "site"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    concept_id: Mapped[str] = mapped_column(
        ForeignKey("concepts.id", ondelete="CASCADE")
    )  # indexed by the unique (concept_id, site)
    position: Mapped[int] = mapped_column()  # keeps the concept's site order
    site: Mapped[str] = mapped_column(String(128))
    norm: Mapped[float | None] = mapped_column(Float)  # L2 norm for listings; NULL when NaN


class CanvasRecord(Base):
    """A canvas layout (nodes, expressions, positions) as the UI saved it."""

    __tablename__ = "canvases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    layout: Mapped[dict[str, Any]] = mapped_column()
    updated: Mapped[str] = mapped_column(String(40))


class RunRecord(Base):
    """A head-score run, a sweep, a probe...: settings in, result out."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "head_scores", "sweep", "probe"... (``kind`` before schema 0002)
    analysis: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    settings: Mapped[dict[str, Any]] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column()
    created: Mapped[str] = mapped_column(String(40))
    tensors: Mapped[list[RunTensor]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="RunTensor.id"
    )


class RunTensor(TensorColumns, Base):
    __tablename__ = "run_tensors"
    __table_args__ = (Unique("run_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))


class GenerationRecord(Base):
    """A generation (text, or an image as PNG) with the provenance to make it again."""

    __tablename__ = "generations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "text" or "image" (``kind`` before schema 0002)
    medium: Mapped[str] = mapped_column(String(32), index=True)
    prompt: Mapped[str] = mapped_column(Text)
    baseline: Mapped[str | None] = mapped_column(Text)
    steered: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any]] = mapped_column()
    image_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    baseline_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created: Mapped[str] = mapped_column(String(40))


class FigureRecord(Base):
    """A figure's spec (JSON to redraw it) and its rendered files."""

    __tablename__ = "figures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    spec: Mapped[dict[str, Any]] = mapped_column()
    created: Mapped[str] = mapped_column(String(40))
    files: Mapped[list[FigureFile]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="FigureFile.id"
    )


class FigureFile(Base):
    __tablename__ = "figure_files"
    __table_args__ = (Unique("figure_id", "fmt"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    figure_id: Mapped[int] = mapped_column(ForeignKey("figures.id", ondelete="CASCADE"))
    fmt: Mapped[str] = mapped_column(String(16))  # "png", "svg", "pdf"
    data: Mapped[bytes] = mapped_column(LargeBinary)


class NoteRecord(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    created: Mapped[str] = mapped_column(String(40))
    updated: Mapped[str] = mapped_column(String(40))


class SettingRecord(Base):
    """A setting (window layout, last model...): a JSON value, or bytes in ``blob``."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated: Mapped[str] = mapped_column(String(40))


class LockRecord(Base):
    """Who has the project open for writing (one row at most, id 1)."""

    __tablename__ = "project_lock"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column()
    host: Mapped[str] = mapped_column(String(256))
    process_started: Mapped[float] = mapped_column(Float)  # guards against reused pids
    app_version: Mapped[str] = mapped_column(String(32))
    acquired: Mapped[str] = mapped_column(String(40))
    heartbeat: Mapped[float] = mapped_column(Float)  # time.time() of the last sign of life

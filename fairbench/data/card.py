"""Dataset cards (``datasets/<name>.yaml``): licence, consent, citation, label provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairbench.data.paths import card_path
from fairbench.errors import DataError
from fairbench.safeyaml import read_yaml_file

LabelSource = Literal["self-reported", "annotated", "derived"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeSpec(_Strict):
    """One demographic column: what it means, its values and how they were obtained."""

    description: str = ""
    kind: Literal["categorical", "numeric"] = "categorical"
    vocabulary: list[str] | None = None  # None: any value accepted
    label_source: LabelSource
    #: Spellings of "no value" beyond the common vocabulary (fairbench.core.missing)
    missing: list[str] = Field(default_factory=list)
    #: Whether the value belongs to the person (the same on all their images) or to each
    #: image; default: subject for categorical attributes, image for numeric ones (ages).
    per: Literal["subject", "image"] | None = None

    @property
    def level(self) -> str:
        return self.per or ("image" if self.kind == "numeric" else "subject")


class Download(_Strict):
    url: str
    sha256: str | None = None  # None for archives that move (a branch tarball)
    size_mb: float | None = None
    extract: dict[str, str] = Field(default_factory=dict)  # archive prefix -> data folder path
    note: str = ""


class DatasetCard(_Strict):
    """Everything a report must say about a dataset besides its numbers."""

    name: str
    title: str
    version: str
    citation: str
    licence: str
    consent: str
    homepage: str = ""
    adapter: Literal["london", "manifest"]
    manifest: str | None = None  # for adapter "manifest": CSV/Parquet path inside the data folder
    attributes: dict[str, AttributeSpec]
    derived_attributes: dict[str, str] = Field(default_factory=dict)  # name -> from attribute
    downloads: list[Download] = Field(default_factory=list)
    checksums: str | None = None  # file of "sha256  relative/path" lines beside the card
    limits: list[str] = Field(default_factory=list)

    def label_source(self, attribute: str) -> str:
        """How an attribute's labels were obtained (derived ones say so)."""
        if attribute in self.attributes:
            return self.attributes[attribute].label_source
        if attribute in self.derived_attributes:
            base = self.derived_attributes[attribute]
            return self.attributes[base].label_source if base in self.attributes else "derived"
        return "unknown"


def load_card(name_or_path: str | Path) -> DatasetCard:
    """Load and validate a dataset card by name or file path."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = card_path(str(name_or_path))
    data = read_yaml_file(p, "dataset card", DataError)
    try:
        return DatasetCard.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise DataError(f"{p}: invalid dataset card", problems) from None

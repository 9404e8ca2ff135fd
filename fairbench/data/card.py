"""Dataset cards (``datasets/<name>.yaml``): licence, consent, citation, label provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairbench.data.paths import card_path
from fairbench.errors import DataError
from fairbench.safeyaml import read_yaml_file

LabelSource = Literal["self-reported", "annotated", "derived"]
#: consented: the people shown agreed to take part; none: collected without their consent
#: (web-scraped, mugshots...); every table and report of such a run carries a warning
ConsentStatus = Literal["consented", "none", "unknown"]


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


class Nested(_Strict):
    """An archive inside the distribution that import unpacks in place (after checking
    its published md5, where the distribution ships one)."""

    archive: str
    md5_file: str | None = None


class DatasetCard(_Strict):
    """Everything a report must say about a dataset besides its numbers."""

    name: str
    title: str
    version: str
    citation: str
    licence: str
    consent: str  # in plain words: who agreed to what
    consent_status: ConsentStatus = "unknown"
    access: str = ""  # how the data is obtained where it cannot be fetched (a request form)
    homepage: str = ""
    adapter: str  # a loader of fairbench.data.adapters (london, manifest, folders, cfd, ...)
    manifest: str | None = None  # for adapter "manifest": CSV/Parquet path inside the data folder
    options: dict[str, Any] = Field(default_factory=dict)  # the adapter's defaults
    sources: list[str] = Field(default_factory=list)  # where the layout was documented
    attributes: dict[str, AttributeSpec]
    derived_attributes: dict[str, str] = Field(default_factory=dict)  # name -> from attribute
    #: coarser attributes by mapping: name -> {source, map, default}; see DatasetConfig
    groupings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    downloads: list[Download] = Field(default_factory=list)
    nested: list[Nested] = Field(default_factory=list)  # archives inside, for import
    checksums: str | None = None  # file of "sha256  relative/path" lines beside the card
    limits: list[str] = Field(default_factory=list)

    def consent_warning(self) -> str:
        """The warning every table of a run on this dataset carries ('' if none is due)."""
        if self.consent_status != "none":
            return ""
        return f"collected without the consent of the people shown: {self.consent.rstrip('. ')}"

    def label_source(self, attribute: str) -> str:
        """How an attribute's labels were obtained (derived ones say so)."""
        if attribute in self.attributes:
            return self.attributes[attribute].label_source
        if attribute in self.derived_attributes:
            base = self.derived_attributes[attribute]
            return self.attributes[base].label_source if base in self.attributes else "derived"
        if attribute in self.groupings:
            base = str(self.groupings[attribute].get("source", ""))
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

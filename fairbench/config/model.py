"""A whole run config: its mode, the sections that mode uses, settings, and a hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, model_validator

from fairbench.config.sections import (
    CacheConfig,
    CaptureConfig,
    DatasetConfig,
    ExecutorConfig,
    IdentificationConfig,
    MatcherConfig,
    VerificationConfig,
    _Strict,
)
from fairbench.core.settings import Settings

#: sections that say how a run computes on this machine, never what: not hashed
MACHINE_LOCAL = ("cache", "executor")

MODE_SECTIONS = {"verification": ("verification", "capture"),
                 "identification": ("identification",)}


class Config(_Strict):
    """A whole run: the dataset, the matcher, and the section of its mode.

    ``mode`` defaults to ``identification`` when the config has an ``identification:``
    section and to ``verification`` otherwise; a section the mode does not use is an error.
    """

    mode: Literal["verification", "identification"] | None = None
    dataset: DatasetConfig
    matcher: MatcherConfig = Field(default_factory=MatcherConfig)
    verification: VerificationConfig | None = None
    identification: IdentificationConfig | None = None
    cache: CacheConfig = Field(default_factory=CacheConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)  # how, not what
    capture: CaptureConfig | None = None  # capture, liveness, transaction (1:1 runs)

    @model_validator(mode="after")
    def _mode_and_sections(self) -> Config:
        sim = self.dataset.simulate is not None
        if sim != (self.matcher.name == "simulated"):
            raise ValueError("dataset.simulate and matcher.name 'simulated' go together")
        if self.mode is None:
            self.mode = "identification" if self.identification is not None \
                else "verification"
        used = MODE_SECTIONS[self.mode]
        stray = [k for k in ("verification", "identification", "capture")
                 if getattr(self, k) is not None and k not in used]
        if stray:
            raise ValueError(
                f"section(s) {', '.join(stray)} are not used by mode {self.mode!r} (1:1 and "
                "1:N runs are separate): remove them or set mode to the run you want")
        if self.mode == "verification" and self.verification is None:
            self.verification = VerificationConfig()
        if self.mode == "identification" and self.identification is None:
            self.identification = IdentificationConfig()
        return self

    @property
    def reading(self) -> VerificationConfig | IdentificationConfig:
        """The section of the running mode (verification or identification)."""
        section = self.verification if self.mode == "verification" else self.identification
        assert section is not None
        return section

    def settings(self) -> Settings:
        """How this run's rates are read, as one typed object."""
        return Settings.from_sections(self.dataset.model_dump(mode="json"),
                                      self.reading.model_dump(mode="json"))

    def resolved(self) -> dict[str, Any]:
        """The config as plain JSON-able data, defaults included, for the running mode."""
        return self.model_dump(mode="json", exclude_none=False,
                               exclude={k for k in ("verification", "identification", "capture")
                                        if getattr(self, k) is None})

    def hash(self) -> str:
        """sha256 of the canonical JSON of the resolved config, without machine-local
        settings (``cache``, ``executor``: where templates are kept and where the work ran
        change no result), so the same study hashes the same on two machines."""
        data = self.resolved()
        for local in MACHINE_LOCAL:
            data.pop(local, None)
        data["matcher"].pop("workers", None)  # how many cores extract: the same templates
        return config_hash(data)


def config_hash(data: dict[str, Any]) -> str:
    """Canonical hash: sorted keys, no whitespace, so equal configs hash equal."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()

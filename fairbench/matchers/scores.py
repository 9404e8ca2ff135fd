"""``matcher: {name: scores}``: comparisons scored elsewhere, read from files.

Real audits rarely run the vendor's model: they receive score files. This matcher embeds
nothing; it names the files, their format and score direction, and pins their sha256. The
score-list pipeline reads them (:mod:`fairbench.data.scorefiles`) and every 1:1 table is
computed from the listed comparisons with the same definitions as for templates.

Formats (``params.format``):

- ``bob4``: ``claimed_id real_id test_label score`` (whitespace separated): the reference
  is subject ``claimed_id``'s model, the probe sample ``test_label`` of subject ``real_id``;
- ``bob5``: ``claimed_id model_label real_id test_label score``: the reference is model
  ``model_label`` of subject ``claimed_id``;
- ``csv``: a header with ``probe_id, reference_id, score`` and optionally
  ``probe_subject, reference_subject``; ids are the manifest's image ids unless subjects
  are given;
- ``matrix``: a similarity matrix (``.npy`` with ``rows`` and ``columns`` id lists, one id
  per line, or a CSV whose header holds column ids and first column row ids), optionally
  with a ``mask`` (``.npy``, non-zero where a comparison was made);
- ``pyeer``: pyeer's genuine and impostor files (``genuine``, ``impostor``); each line ends
  in the score and must start with the probe and reference image ids;
- ``candidates`` (1:N): ``search_id, probe_id, rank, candidate_id, score`` rows of a
  vendor's own search engine, with the ``gallery`` it searched (one enrolled image or
  subject id per line) and optionally every ``searches`` made (``search_id, probe_id``; a
  search without candidate rows returned none); see :mod:`fairbench.pipeline.candidates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from fairbench._version import __version__
from fairbench.errors import MatcherError
from fairbench.matchers.base import FaceResult, Matcher, MatcherInfo, StrictParams
from fairbench.provenance import file_sha256

Format = Literal["bob4", "bob5", "csv", "matrix", "pyeer", "candidates"]
NEEDS: dict[str, tuple[str, ...]] = {
    "bob4": ("path",), "bob5": ("path",), "csv": ("path",), "matrix": ("path",),
    "pyeer": ("genuine", "impostor"), "candidates": ("path", "gallery")}


class ScoresParams(StrictParams):
    """Parameters of :class:`ScoresMatcher`."""

    format: Format
    path: Path | None = None
    genuine: Path | None = None  # pyeer
    impostor: Path | None = None  # pyeer
    rows: Path | None = None  # matrix (.npy): row ids, one per line
    columns: Path | None = None  # matrix (.npy): column ids, one per line
    mask: Path | None = None  # matrix: .npy, non-zero where a comparison was made
    gallery: Path | None = None  # candidates: the enrolled image or subject ids
    searches: Path | None = None  # candidates: search_id, probe_id of every search
    direction: Literal["similarity", "distance"] = "similarity"
    sha256: dict[str, str] = Field(default_factory=dict)  # pins: file key -> sha256
    system: str = ""  # what produced the scores (vendor, model, version), for the record
    simulated: bool = False  # synthetic scores: every table and the report say SIMULATED
    #: a pair of samples compared twice (either order): an error, or kept as two comparisons
    repeats: Literal["error", "keep"] = "error"
    #: a square matrix over one id list holds each pair twice: read its upper triangle
    #: (each pair once), or both triangles (as two comparisons; needs repeats: keep)
    triangle: Literal["upper", "both"] = "upper"
    chunk_rows: int = Field(1_000_000, ge=1000, le=50_000_000)  # rows per chunk read

    @model_validator(mode="after")
    def _files(self) -> ScoresParams:
        missing = [k for k in NEEDS[self.format] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"format {self.format!r} needs {', '.join(missing)}")
        if self.format == "matrix" and self.path is not None and \
                self.path.suffix.lower() == ".npy" and (self.rows is None or
                                                       self.columns is None):
            raise ValueError("a .npy matrix needs rows and columns (id lists)")
        unknown = [k for k in self.sha256 if k not in self.files()]
        if unknown:
            raise ValueError(f"sha256 pins name {unknown}; the files are {list(self.files())}")
        return self

    def files(self) -> dict[str, Path]:
        """Every input file by its key."""
        keys = ("path", "genuine", "impostor", "rows", "columns", "mask", "gallery",
                "searches")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class ScoresMatcher(Matcher):
    """Scores read from files (see the module docstring); embeds nothing."""

    name = "scores"
    Params = ScoresParams
    needs_images = False
    gives_scores: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._sha: dict[str, str] | None = None

    @property
    def p(self) -> ScoresParams:
        return self.params  # type: ignore[return-value]

    def file_sha256(self) -> dict[str, str]:
        """sha256 of every input file, checked against the pins (once per instance)."""
        if self._sha is None:
            out, bad = {}, []
            for key, path in self.p.files().items():
                f = Path(path).expanduser()
                if f.is_dir():
                    raise MatcherError(f"matcher.params.{key}: {f} is a folder, not a file")
                if not f.is_file():
                    raise MatcherError(f"matcher.params.{key}: file not found: {f}")
                out[key] = file_sha256(f)
                pin = self.p.sha256.get(key)
                if pin and pin.lower() != out[key]:
                    bad.append(f"matcher.params.{key}: {f} has sha256 {out[key]}, the config "
                               f"pins {pin}")
            if bad:
                raise MatcherError("a score file differs from its pinned sha256", bad)
            self._sha = out
        return self._sha

    def info(self) -> MatcherInfo:
        direction = "higher_is_more_alike" if self.p.direction == "similarity" \
            else "lower_is_more_alike"
        return MatcherInfo(
            name=self.name, version=__version__, weights_sha256=self.file_sha256(),
            embedding_size=0, similarity=self.p.direction,  # type: ignore[arg-type]
            native_score=f"{self.p.direction} read from a {self.p.format} file",
            native_direction=direction,  # type: ignore[arg-type]
            details={"format": self.p.format, "system": self.p.system,
                     "simulated": self.p.simulated})

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        raise MatcherError("the scores matcher reads comparisons from files; it has no "
                           "templates to compute")

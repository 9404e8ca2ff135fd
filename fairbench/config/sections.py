"""The sections of a run config: typed, strict (unknown keys are errors), with defaults."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_AGE_BANDS = [0, 5, 14, 21, 45, 70]


def _target_rates(v: list[float], name: str) -> list[float]:
    """Target rates strictly inside (0, 1), deduplicated, loosest first."""
    bad = [x for x in v if not 0 < x < 1]
    if bad:
        raise ValueError(f"target {name}s must lie strictly between 0 and 1, got {bad}")
    return sorted(set(v), reverse=True)


def _finite(v: list[float], name: str) -> list[float]:
    """Fixed thresholds must be real numbers (NaN or infinity would match all or nothing)."""
    bad = [x for x in v if not math.isfinite(x)]
    if bad:
        raise ValueError(f"{name} must be finite numbers, got {bad}")
    return v


def _unique(v: list[str], name: str) -> list[str]:
    dup = sorted({x for x in v if v.count(x) > 1})
    if dup:
        raise ValueError(f"{name} lists {', '.join(map(repr, dup))} more than once")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Device = Literal["cpu", "cuda"]
Precision = Literal["float32", "tf32", "float16"]


def _device_precision(section: str, device: str, precision: str) -> None:
    """Reduced-precision products exist on the GPU kernel only (the CPU kernel is float32)."""
    if precision != "float32" and device != "cuda":
        raise ValueError(f"{section}.precision: {precision} is for device: cuda (the CPU "
                         "kernel multiplies in float32)")


class SimSpec(_Strict):
    """Simulated templates with planted group differences (see :mod:`fairbench.data.simulate`);
    defaults plant an increasing shift and noise across groups."""

    n_subjects: int = Field(1000, ge=2)
    groups: int = Field(4, ge=1)
    dim: int = Field(128, ge=2)
    images_per_subject: int = Field(2, ge=1)
    shift: list[float] | None = None  # per group; default linspace(0.0, 0.6)
    noise: list[float] | None = None  # per group; default linspace(0.5, 0.8)
    seed: int = 0
    dtype: str = Field("float32", pattern="^(float32|float16)$")

    @model_validator(mode="after")
    def _lengths(self) -> SimSpec:
        for name in ("shift", "noise"):
            v = getattr(self, name)
            if v is not None and len(v) != self.groups:
                raise ValueError(f"{name} needs one value per group ({self.groups})")
        return self


class Grouping(_Strict):
    """A coarser attribute made from another one by a mapping (e.g. Fitzpatrick I-VI into
    light / medium / dark): values the map lacks become ``other`` unless ``default``."""

    source: str
    map: dict[str, str]
    default: str | None = None


class DatasetConfig(_Strict):
    """Which images, and which attributes to break results down by."""

    name: str | None = None
    manifest: Path | None = None
    simulate: SimSpec | None = None  # simulated templates with planted group differences
    root: Path | None = None
    attributes: list[str] = Field(default_factory=list)
    intersections: bool = True
    age_bands: list[float] = Field(default_factory=lambda: list(DEFAULT_AGE_BANDS))
    #: attributes that may differ between one person's images (others must agree)
    per_image: list[str] = Field(default_factory=list)
    max_image_pixels: int = Field(50_000_000, ge=1)  # larger images: failure image_too_large
    max_images_per_subject: int | None = Field(None, ge=2)  # seeded sample of the rest
    sample_seed: int = Field(0, ge=0)
    #: the card's adapter options (a protocol, frames per video, ...); see its card
    options: dict[str, Any] = Field(default_factory=dict)
    #: coarser attributes by mapping (new name -> source attribute and map); a card may
    #: ship its own, these add to or replace them
    groupings: dict[str, Grouping] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        given = [k for k in ("name", "manifest", "simulate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of dataset.name (a card), dataset.manifest or dataset.simulate")
        if self.simulate is not None and not self.attributes:
            self.attributes = ["group"]  # the simulator's only attribute
        return self

    @field_validator("age_bands")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if not v or any(b <= a for a, b in zip(v, v[1:])) or not all(map(math.isfinite, v)):
            raise ValueError("age_bands must be a non-empty, strictly increasing list of "
                             "finite edges")
        return v

    @field_validator("attributes")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if any(not a or "|" in a for a in v):
            raise ValueError("attribute names must be non-empty and may not contain '|' (it "
                             "joins intersections)")
        return _unique(v, "dataset.attributes")


class MatcherConfig(_Strict):
    """Which matcher and its parameters (validated by the matcher's own strict model)."""

    name: str = "dlib"
    batch_size: int = Field(16, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    #: template extraction's parallelism: worker processes (dlib) or library threads (ONNX
    #: Runtime); None = every core, 1 = sequential. The templates are identical whatever
    #: it is, so it is left out of the config hash; run.json records what ran
    workers: int | None = Field(None, ge=1)


class BootstrapConfig(_Strict):
    replicates: int = Field(1000, ge=0, le=100_000)
    seed: int = Field(0, ge=0)


class ScanConfig(_Strict):
    """The worst-subgroup scan over intersections (metrics.scan); depth 0 turns it off."""

    depth: int = Field(2, ge=0, le=4)  # attributes per subgroup, at most
    min_subjects: int = Field(5, ge=2)  # people a subgroup needs to be scored


class ImpostorSample(_Strict):
    """For compare-only matchers: how many impostor pairs to sample (stratified, seeded)."""

    pairs: int = Field(ge=1, le=50_000_000)
    seed: int = Field(0, ge=0)


class VerificationConfig(_Strict):
    """1:1 operating points and how results are read."""

    target_fmr: list[float] = Field(default_factory=lambda: [1e-2, 1e-3, 1e-4])
    fixed_thresholds: list[float] = Field(default_factory=list)
    #: how a target FMR becomes a threshold: fairbench's (the pooled FMR is at most the
    #: target) or bob.measure's far_threshold (an impostor score; see metrics.thresholds)
    threshold_rule: Literal["fairbench", "bob"] = "fairbench"
    #: per_group adds each group's own threshold for every target FMR, and the FNMR it pays
    #: there and under the global threshold (tables/thresholds_per_group.csv), beside the
    #: global view (NIST reads one global threshold; every other table keeps to it)
    threshold_policy: Literal["global", "per_group"] = "global"
    #: compare-only matchers (a server that scores two images): every mated pair plus
    #: this stratified sample of impostor pairs (see fairbench.plan.sampled)
    impostor_sample: ImpostorSample | None = None
    reference_group: dict[str, str] = Field(default_factory=dict)
    confidence: float = Field(0.95, gt=0, lt=1)
    min_errors: int = Field(30, ge=1)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    alpha: float = Field(0.5, ge=0, le=1)  # FMR weight in FDR and GARBE
    #: subject-level relabellings behind each permutation test of a difference (0: none)
    permutations: int = Field(999, ge=0, le=100_000)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    histogram_bins: int = Field(4096, ge=64, le=1 << 20)
    block_size: int = Field(1024, ge=16, le=16384)  # tile side; memory grows as its square
    storage: Literal["float32", "float16"] = "float32"  # float16 halves template memory
    #: how the impostor tail is held: pairs (one 12-byte record per impostor pair at or
    #: above the loosest threshold's bin), people (exact scores only in the thresholds'
    #: bins, the rest counted per pair of people and stratum: memory bounded by pairs of
    #: people, at the price of a second pass, and EERs and per-group thresholds off those
    #: bins read at bin resolution), or auto (pairs unless they would pass 50 million)
    tail: Literal["pairs", "people", "auto"] = "auto"
    #: where the all-pairs kernel runs: cpu (every core) or cuda (this machine's GPU, CuPy:
    #: pip install "fairbench[gpu]"); in the hash: a GPU sums products in another order
    device: Device = "cpu"
    #: the GPU's product inputs: float32 (TF32 off), tf32 or float16; float32 accumulation
    #: always (never bfloat16, which moves tail counts by up to 0.65 %)
    precision: Precision = "float32"

    @field_validator("target_fmr")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        return _target_rates(v, "FMR")

    @field_validator("fixed_thresholds")
    @classmethod
    def _fixed(cls, v: list[float]) -> list[float]:
        return _finite(v, "fixed_thresholds")

    @model_validator(mode="after")
    def _some_point(self) -> VerificationConfig:
        if not self.target_fmr and not self.fixed_thresholds:
            raise ValueError("give at least one operating point: verification.target_fmr or "
                             "verification.fixed_thresholds")
        _device_precision("verification", self.device, self.precision)
        if self.tail == "people" and self.device != "cpu":
            raise ValueError("verification.tail: people runs on the CPU kernel (the GPU "
                             "kernel keeps pairs); use device: cpu, or tail: pairs or auto")
        return self


class GalleryConfig(_Strict):
    """Which images of an enrolled subject go into the gallery."""

    per_subject: int = Field(1, ge=1)
    select: dict[str, str] = Field(default_factory=dict)  # e.g. {expression: neutral}


class MakeupConfig(_Strict):
    """Gallery make-up sweep: over-represent each group of ``attribute`` in turn."""

    attribute: str | None = None  # default: the first dataset attribute
    share: float = Field(0.5, gt=0, lt=1)


class IdentificationConfig(_Strict):
    """1:N searches: plan, operating points, sweeps (its own mode and report)."""

    seed: int = 0
    nonmated_share: float = Field(0.2, gt=0, lt=1)
    rank: int = Field(1, ge=1)
    candidates: int = Field(20, ge=1, le=10_000)
    target_fpir: list[float] = Field(default_factory=lambda: [1e-1, 1e-2])
    reference_group: dict[str, str] = Field(default_factory=dict)
    reference_fpir: float = Field(0.002, gt=0, lt=1)
    fixed_thresholds: list[float] = Field(default_factory=list)
    gallery: GalleryConfig = Field(default_factory=GalleryConfig)
    gallery_fractions: list[float] = Field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0])
    makeup: MakeupConfig | None = Field(default_factory=MakeupConfig)
    confidence: float = Field(0.95, gt=0, lt=1)
    min_errors: int = Field(30, ge=1)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    storage: Literal["float32", "float16"] = "float32"
    device: Device = "cpu"  # where the 1:N top-k runs; as verification.device
    precision: Precision = "float32"  # as verification.precision

    @field_validator("target_fpir")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        return _target_rates(v, "FPIR")

    @field_validator("fixed_thresholds")
    @classmethod
    def _fixed(cls, v: list[float]) -> list[float]:
        return _finite(v, "fixed_thresholds")

    @model_validator(mode="after")
    def _rank_listed(self) -> IdentificationConfig:
        if self.rank > self.candidates:
            raise ValueError("identification.rank cannot exceed identification.candidates")
        _device_precision("identification", self.device, self.precision)
        return self

    @field_validator("gallery_fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < x <= 1 for x in v):
            raise ValueError("gallery fractions must lie in (0, 1]")
        return sorted(set(v))


class AcquisitionConfig(_Strict):
    """When an image counts as acquired: the matcher got a template and these bars hold."""

    min_detector_score: float = Field(0.0, ge=0.0)
    min_face_px: float = Field(0.0, ge=0.0)  # shorter side of the face box, in pixels


class SkinToneConfig(_Strict):
    """Derived skin tone (ITA from landmark skin patches) and its band -> group mapping."""

    enabled: bool = True
    groups: dict[str, str] = Field(default_factory=lambda: {
        "very_light": "lighter", "light": "lighter", "intermediate": "medium",
        "tan": "medium", "brown": "darker", "dark": "darker"})


class LivenessConfig(_Strict):
    """A presentation-attack detection plugin and its operating point."""

    name: str = "onnx"
    params: dict[str, Any] = Field(default_factory=dict)
    threshold: float = 0.5  # bona fide when score >= threshold
    validated: bool = False  # False: every liveness figure is labelled unvalidated


class CaptureConfig(_Strict):
    """Capture stress, acquisition rule, derived skin tone, liveness, transaction level."""

    conditions: list[str] = Field(default_factory=lambda: ["clean"])
    seed: int = 0
    detector_model: Path  # YuNet, for face boxes and landmarks (skin patches, PAD crops)
    detector_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    acquisition: AcquisitionConfig = Field(default_factory=AcquisitionConfig)
    skin_tone: SkinToneConfig | None = Field(default_factory=SkinToneConfig)
    liveness: LivenessConfig | None = None
    target_fmr: float | None = None  # 1:1 operating point; default the first supported
    transaction_k: list[int] = Field(default_factory=lambda: [1, 5, 30])


class CacheConfig(_Strict):
    enabled: bool = True
    dir: Path | None = None  # default ~/.cache/fairbench/templates


_ADDRESS = r"^(auto|local|ray://[^\s:/]+:[0-9]{1,5})$"


class ExecutorConfig(_Strict):
    """Where the work runs: ``local`` (threads in this process) or ``ray`` (a cluster).

    Results are identical bit for bit under every executor, so this section is *how* a run
    computes, not *what*: it is recorded (run.json provenance) but left out of the config
    hash, like ``cache``. ``address``: ``local`` starts a private Ray cluster on this machine
    (shut down at the end of the run), ``auto`` joins the cluster running here, and
    ``ray://host:10001`` a remote one through Ray Client; unset, Ray's own rule ($RAY_ADDRESS,
    else a cluster running here, else a private one). ``num_cpus``: the CPUs the run uses
    (a private cluster gets this many; on a shared one at most this many tasks run at once).
    """

    name: str = "local"
    address: str | None = Field(None, pattern=_ADDRESS)
    num_cpus: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _local_takes_nothing(self) -> ExecutorConfig:
        if self.name == "local":
            given = [k for k in ("address", "num_cpus") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"executor.{given[0]} is for a cluster executor (name: ray); "
                                 "the local executor takes no options")
        return self

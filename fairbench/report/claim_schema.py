"""The claims file: what a vendor or agency said, written so that a run can check it.

A bare "accuracy" means nothing, so the schema makes every claim name its error rates:

- ``rate``: a named error rate (fmr, fnmr, fta of a 1:1 run; fpir, fnir of a 1:N run;
  bpcer, apcer once runs carry them) of the whole set or of every group of an attribute,
  ``at_most`` or ``at_least`` a value;
- ``accuracy``: "accuracy >= a" read as *each* rate named in ``means`` being <= 1 - a
  (e.g. ``means: [fnmr, fmr]``: at most 1 - a of genuine pairs rejected and of impostor
  pairs accepted). ``means`` is required;
- ``ratio``: the largest ratio of a rate between any two groups (``between: any_two``) or
  between any group and the reference group (``between: reference``) is ``at_most`` k;
- ``summary``: a stored summary measure (fmr_max_geomean, fdr, garbe, ...) bound.

Rates are fractions; strings such as "99.88%" are accepted. ``at`` names the operating
point: ``{target_fmr: 1.0e-3}`` (the global threshold set for that FMR), ``{target_fpir:
1.0e-2}`` or ``{reference_fpir: 2.0e-3}`` (1:N: the global FPIR, or NIST's FPIR on the
reference group), or ``{fixed: 0.6}`` (a threshold in the matcher's native scale).

Example::

    claims:
      - id: no-differential
        text: "no group's FMR above 2x the best at FMR 1 in 1,000"
        checks:
          - {kind: ratio, rate: fmr, attribute: eth, between: any_two, at_most: 2,
             at: {target_fmr: 1.0e-3}}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fairbench.errors import FairbenchError
from fairbench.safeyaml import read_yaml_file

Rate = Literal["fmr", "fnmr", "fta", "bpcer", "apcer", "fpir", "fnir"]


class ClaimsError(FairbenchError):
    """The claims file is missing, not YAML, or does not follow the schema."""


def fraction(v: Any) -> float:
    """0.9988, "0.9988", "99.88%" and "99.88 %" all mean 0.9988.

    Anything else (a list, a word, NaN) is a ValueError, which the claims schema reports.
    """
    try:
        if isinstance(v, bool):
            raise TypeError
        if isinstance(v, str):
            s = v.strip()
            out = float(s[:-1].strip()) / 100 if s.endswith("%") else float(s)
        else:
            out = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{v!r} is not a rate (write 0.0012 or '0.12%')") from None
    if not math.isfinite(out):
        raise ValueError(f"{v!r} is not a finite rate")
    return out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OperatingPoint(_Strict):
    """Where a claim is read: a target-FMR (1:1) or target-FPIR (1:N) threshold, NIST's
    reference-group FPIR threshold (1:N), or a fixed native threshold."""

    target_fmr: float | None = Field(None, gt=0, lt=1)
    target_fpir: float | None = Field(None, gt=0, lt=1)
    reference_fpir: float | None = Field(None, gt=0, lt=1)
    fixed: float | None = None

    @model_validator(mode="after")
    def _one(self) -> OperatingPoint:
        given = [k for k in ("target_fmr", "target_fpir", "reference_fpir", "fixed")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of target_fmr, target_fpir, reference_fpir or "
                             "fixed")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("target_fmr", "target_fpir", "reference_fpir", "fixed")
                    if getattr(self, k) is not None)

    @property
    def value(self) -> float:
        return float(getattr(self, self.kind))

    def label(self) -> str:
        if self.kind == "fixed":
            return f"fixed threshold {self.fixed:g}"
        rate = "FMR" if self.kind == "target_fmr" else "FPIR"
        on = " on the reference group" if self.kind == "reference_fpir" else ""
        return f"the threshold for {rate} 1 in {round(1 / self.value):,}{on}"


class _Bound(_Strict):
    at_most: float | None = None
    at_least: float | None = None

    @field_validator("at_most", "at_least", mode="before")
    @classmethod
    def _frac(cls, v: Any) -> Any:
        return None if v is None else fraction(v)

    @model_validator(mode="after")
    def _one_bound(self) -> _Bound:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError("give exactly one of at_most or at_least")
        return self


class RateCheck(_Bound):
    kind: Literal["rate"]
    rate: Rate
    attribute: str = "all"
    groups: list[str] | None = None  # None: every known group of the attribute
    at: OperatingPoint | None = None
    skip_insufficient: bool = False  # leave out groups with too little data (listed)


class AccuracyCheck(_Strict):
    kind: Literal["accuracy"]
    at_least: float
    means: list[Rate] = Field(min_length=1)
    attribute: str = "all"
    groups: list[str] | None = None
    at: OperatingPoint | None = None
    skip_insufficient: bool = False

    @field_validator("at_least", mode="before")
    @classmethod
    def _frac(cls, v: Any) -> float:
        return fraction(v)


class RatioCheck(_Strict):
    kind: Literal["ratio"]
    rate: Literal["fmr", "fnmr", "fpir", "fnir"]
    attribute: str
    between: Literal["any_two", "reference"] = "any_two"
    at_most: float = Field(gt=0)
    at: OperatingPoint
    skip_insufficient: bool = False


class DifferenceCheck(_Strict):
    """'No group's rate differs from the reference group's': refuted when a subject-level
    permutation test finds a difference (adjusted p below ``level``); a test that finds
    none cannot support the claim (absence of evidence), so it is then not testable."""

    kind: Literal["difference"]
    rate: Literal["fmr", "fnmr"]
    attribute: str
    at: OperatingPoint
    level: float = Field(0.05, gt=0, lt=1)
    adjust: Literal["holm", "bh", "none"] = "holm"


class SummaryCheck(_Bound):
    kind: Literal["summary"]
    measure: str
    attribute: str
    at: OperatingPoint


Check = Annotated[RateCheck | AccuracyCheck | RatioCheck | DifferenceCheck | SummaryCheck,
                  Field(discriminator="kind")]


class Claim(_Strict):
    id: str
    text: str
    source: str = ""
    checks: list[Check] = Field(min_length=1)


class ClaimsFile(_Strict):
    claims_version: Literal[1] = 1
    title: str = ""
    source: str = ""
    claims: list[Claim] = Field(min_length=1)


def parse_claims(data: Any, source: str) -> ClaimsFile:
    """Validate claims data (a mapping); every problem is listed in one error."""
    try:
        return ClaimsFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ClaimsError(f"{source}: invalid claims file", problems) from None


#: Claims files fairbench ships, usable by name (``no-demographic-impact``).
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "claims"


def shipped_claims() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def load_claims(path: str | Path) -> ClaimsFile:
    """Read and validate a claims file (UTF-8 YAML); a name that is not a file but names a
    shipped example (``no-demographic-impact``) reads that example."""
    p = Path(path)
    if not p.exists() and (SHIPPED / f"{p.name}.yaml").is_file() and p.suffix == "":
        p = SHIPPED / f"{p.name}.yaml"
    if not p.exists():
        raise ClaimsError(f"{p}: claims file not found (shipped examples, usable by name: "
                          f"{', '.join(shipped_claims())})")
    return parse_claims(read_yaml_file(p, "claims file", ClaimsError), str(p))


def as_claims(claims: str | Path | Any) -> ClaimsFile:
    """A ClaimsFile from a path, a mapping or a ClaimsFile."""
    if isinstance(claims, ClaimsFile):
        return claims
    if isinstance(claims, (str, Path)):
        return load_claims(claims)
    return parse_claims(claims, "<claims>")

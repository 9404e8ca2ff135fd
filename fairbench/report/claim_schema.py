"""The claims file: what a vendor or agency said, written so that a run can check it.

A bare "accuracy" means nothing, so the schema makes every claim name its error rates:

- ``rate``: a named error rate (fmr, fnmr, fta; bpcer, apcer, fpir, fnir once runs carry
  them) of the whole set or of every group of an attribute, ``at_most`` or ``at_least`` a value;
- ``accuracy``: "accuracy >= a" read as *each* rate named in ``means`` being <= 1 - a
  (e.g. ``means: [fnmr, fmr]``: at most 1 - a of genuine pairs rejected and of impostor
  pairs accepted). ``means`` is required;
- ``ratio``: the largest ratio of a rate between any two groups (``between: any_two``) or
  between any group and the reference group (``between: reference``) is ``at_most`` k;
- ``summary``: a stored summary measure (fmr_max_geomean, fdr, garbe, ...) bound.

Rates are fractions; strings such as "99.88%" are accepted. ``at`` names the operating
point: ``{target_fmr: 1.0e-3}`` (the global threshold set for that FMR) or ``{fixed: 0.6}``
(a threshold in the matcher's native scale).

Example::

    claims:
      - id: no-differential
        text: "no group's FMR above 2x the best at FMR 1 in 1,000"
        checks:
          - {kind: ratio, rate: fmr, attribute: eth, between: any_two, at_most: 2,
             at: {target_fmr: 1.0e-3}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fairbench.errors import FairbenchError

Rate = Literal["fmr", "fnmr", "fta", "bpcer", "apcer", "fpir", "fnir"]


class ClaimsError(FairbenchError):
    """The claims file is missing, not YAML, or does not follow the schema."""


def fraction(v: Any) -> float:
    """0.9988, "0.9988", "99.88%" and "99.88 %" all mean 0.9988."""
    if isinstance(v, str):
        s = v.strip()
        if s.endswith("%"):
            return float(s[:-1].strip()) / 100
        return float(s)
    return float(v)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OperatingPoint(_Strict):
    """Where a claim is read: a target-FMR threshold or a fixed native threshold."""

    target_fmr: float | None = Field(None, gt=0, lt=1)
    fixed: float | None = None

    @model_validator(mode="after")
    def _one(self) -> OperatingPoint:
        if (self.target_fmr is None) == (self.fixed is None):
            raise ValueError("give exactly one of target_fmr or fixed")
        return self

    def label(self) -> str:
        if self.target_fmr is not None:
            return f"the threshold for FMR 1 in {round(1 / self.target_fmr):,}"
        return f"fixed threshold {self.fixed:g}"


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
    rate: Literal["fmr", "fnmr"]
    attribute: str
    between: Literal["any_two", "reference"] = "any_two"
    at_most: float = Field(gt=0)
    at: OperatingPoint
    skip_insufficient: bool = False


class SummaryCheck(_Bound):
    kind: Literal["summary"]
    measure: str
    attribute: str
    at: OperatingPoint


Check = Annotated[RateCheck | AccuracyCheck | RatioCheck | SummaryCheck,
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


def load_claims(path: str | Path) -> ClaimsFile:
    """Read and validate a claims file; every problem is listed in one error."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClaimsError(f"{p}: claims file not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ClaimsError(f"{p}: cannot read claims file ({exc})") from None
    try:
        return ClaimsFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ClaimsError(f"{p}: invalid claims file", problems) from None

"""One operating-point type for 1:1 and 1:N runs, and the one way to name it.

Kinds: ``target_fmr`` (a global threshold set so that the FMR over all impostor pairs is at
most the target), ``target_fpir`` (the same for FPIR over all non-mated searches),
``reference_fpir`` (NIST's 1:N demographic view: FPIR = target on one reference group) and
``fixed`` (a threshold from the config, in the matcher's native scale).

>>> OperatingPoint("target_fmr", 1e-3, -0.5, 0.5).label
'fmr=1e-3'
>>> OperatingPoint("fixed", None, -0.6, 0.6).label, parse_label("FMR=0.001")
('fixed=0.6', ('target_fmr', 0.001))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("target_fmr", "target_fpir", "reference_fpir", "fixed")
_PREFIX = {"target_fmr": "fmr", "target_fpir": "fpir", "reference_fpir": "fpir",
           "fixed": "fixed"}
_RATE = {"target_fmr": "FMR", "target_fpir": "FPIR", "reference_fpir": "FPIR"}


def short(x: float) -> str:
    """A rate or threshold in few characters: 0.001 -> '1e-3', 0.25 -> '0.25'."""
    if x != 0 and abs(x) < 0.01:
        m, e = f"{x:.6e}".split("e")
        return f"{float(m):g}e{int(e)}"
    return f"{x:g}"


def one_in(f: float) -> str:
    """A target rate as words: 1e-3 -> '1 in 1,000'."""
    return f"1 in {round(1 / f):,}"


@dataclass(frozen=True)
class OperatingPoint:
    """Where a rate is read: internal similarity threshold and the native one."""

    kind: str
    target: float | None  # the target rate (FMR or FPIR); None for fixed thresholds
    similarity: float | None  # internal threshold (None when the data cannot support it)
    native: float | None
    supported: bool = True
    note: str = ""
    reference_group: str | None = None  # reference_fpir: "attribute=group"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown operating point kind {self.kind!r}")

    @property
    def label(self) -> str:
        """Machine label: ``fmr=1e-3``, ``fpir=1e-2``, ``fpir=2e-3@eth=white``, ``fixed=0.6``."""
        if self.kind == "fixed":
            return f"fixed={short(float(self.native or 0.0))}"
        base = f"{_PREFIX[self.kind]}={short(float(self.target or 0.0))}"
        return f"{base}@{self.reference_group}" if self.kind == "reference_fpir" else base

    def describe(self) -> str:
        """Human label: 'FMR 1 in 1,000 (threshold 0.503)', 'fixed threshold 0.6'."""
        thr = "" if self.native is None else f" (threshold {self.native:.4g})"
        if self.kind == "fixed":
            return f"fixed threshold {float(self.native or 0.0):.4g}"
        on = f" on {self.reference_group}" if self.kind == "reference_fpir" else ""
        return f"{_RATE[self.kind]} {one_in(float(self.target or 0.0))}{on}{thr}"

    def matches(self, kind: str, value: float) -> bool:
        """Whether this point is (kind, target) or (fixed, native value)."""
        mine = self.native if self.kind == "fixed" else self.target
        return self.kind == kind and mine is not None and math.isclose(
            float(mine), float(value), rel_tol=1e-9, abs_tol=1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OperatingPoint:
        """From run.json (schema 2) or a schema-1 ``thresholds`` entry."""
        kind = d["kind"]
        target = d.get("target", d.get("target_fmr", d.get("target_fpir")))
        ref = d.get("reference_group")
        return cls(kind, None if target is None else float(target), d.get("similarity"),
                   d.get("native"), bool(d.get("supported", True)), d.get("note", "") or "",
                   ref)


def describe_row(row: dict[str, Any]) -> str:
    """:meth:`OperatingPoint.describe` for a table row (``threshold_kind`` and friends)."""
    return point_of_row(row).describe()


def point_of_row(row: dict[str, Any]) -> OperatingPoint:
    """The operating point a table row was read at."""
    kind = row["threshold_kind"]
    target = row.get("target_fmr") if kind == "target_fmr" else row.get("target_fpir")
    nat = row.get("threshold_native")
    ref = row.get("threshold_reference") if kind == "reference_fpir" else None
    return OperatingPoint(kind, None if _nan(target) else float(target),
                          row.get("threshold_similarity"), None if _nan(nat) else float(nat),
                          True, "", ref or None)


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def parse_label(text: str) -> tuple[str, float]:
    """``"fmr=1e-3"`` -> ('target_fmr', 0.001); ``fpir=``, ``fixed=`` likewise.

    Raises ValueError with the accepted forms when ``text`` is none of them.
    """
    key, sep, value = str(text).strip().partition("=")
    kinds = {"fmr": "target_fmr", "fpir": "target_fpir", "fixed": "fixed"}
    k = key.strip().lower()
    if not sep or k not in kinds:
        raise ValueError(f"operating point {text!r}: write fmr=1e-3, fpir=1e-2 or fixed=0.6")
    try:
        v = float(value.split("@")[0])
    except ValueError:
        raise ValueError(f"operating point {text!r}: {value!r} is not a number") from None
    return ("reference_fpir" if "@" in value else kinds[k]), v

"""Claim results for people and scripts: the terminal text, the JSON document, and the body of
``fairbench check-claims`` (exit status 1 when a claim is refuted)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fairbench.report.claim_schema import Claim, ClaimsFile
from fairbench.report.claims import NOT_TESTABLE, REFUTED, SUPPORTED, ClaimResult, check_claims


def render_text(results: Sequence[ClaimResult], record: Mapping[str, Any],
                claims: ClaimsFile | Claim | None = None) -> str:
    """A plain report for the terminal or a CI log."""
    mt, ds = record["matcher"], record["dataset"]
    lines = [f"Claims checked against run {record['run_id']} (matcher {mt['name']} "
             f"{mt.get('version', '')}, dataset {ds['name']}, {ds['n_subjects']} people)", ""]
    for r in results:
        lines.append(f"[{r.verdict.upper()}] {r.id}: {r.text}")
        for c in r.checks:
            lines.append(f"  - {c.check}: {c.verdict}")
            lines += [f"      {e}" for e in c.evidence]
        lines.append("")
    counts = {v: sum(r.verdict == v for r in results) for v in (SUPPORTED, REFUTED,
                                                                NOT_TESTABLE)}
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines) + "\n"



def check_run(run_dir: Any, claims_path: Any, as_json: bool = False,
              strict: bool = False) -> tuple[str, bool]:
    """``fairbench check-claims``: (printed text, whether the exit status is 1)."""
    import json
    from pathlib import Path

    from fairbench.report.claim_schema import load_claims
    from fairbench.results.run import read_record

    claims = load_claims(claims_path)
    record = read_record(Path(run_dir))
    results = check_claims(record, claims, strict)
    failed = any(r.verdict == REFUTED or (strict and r.verdict == NOT_TESTABLE)
                 for r in results)
    if as_json:
        doc = {"run_id": record["run_id"], "claims_file": str(claims_path),
               "results": [r.to_dict() for r in results]}
        return json.dumps(doc, indent=1) + "\n", failed
    return render_text(results, record), failed

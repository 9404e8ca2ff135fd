"""The samples of a comparison list: ids resolved against the manifest, as integer codes.

A *sample* is one side of a comparison: a manifest image (named by its ``image_id``), a
probe sample the file labels itself (bob's ``test_label``) with a subject from the file,
or an enrolled model (bob's ``model_label``, or bob4's subject model). Its attributes are
those of its manifest row: the image's own, else its subject's first row (a subjects table
has one row per person). Samples are numbered in the order first seen, so a second pass
over the same file maps every row to the same codes.

Everything that does not resolve (an id the manifest lacks, a subject it lacks, an image
the file assigns to another subject than the manifest, a pyeer genuine row of two people)
is collected, not raised, so one error can list every problem after a pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fairbench.core.codes import PairBanding, Plan
from fairbench.core.comparisons import Keys, RawChunk, ScoredChunk
from fairbench.core.scale import NEGATED
from fairbench.plan.allpairs import make_codes

MAX_LISTED = 20


class Samples:
    """Resolve the ids of :class:`RawChunk` rows to sample codes (see the module docs)."""

    def __init__(self, frame: pd.DataFrame, attributes: Sequence[str],
                 banded: Mapping[str, tuple[str, Sequence[float]]] | None,
                 keyed_by: str, kind: str, source: str) -> None:
        self.frame, self.keyed_by, self.kind, self.source = frame, keyed_by, kind, source
        self.codes = make_codes(frame, attributes, banded)
        sid = frame["subject_id"].astype(str).to_numpy()
        self.subject_code = {s: k for k, s in enumerate(self.codes.subjects)}
        self.subject_row: dict[str, int] = {}
        for r, s in enumerate(sid):
            self.subject_row.setdefault(s, r)
        self.image_row = {} if keyed_by == "subject" else {
            str(i): r for r, i in enumerate(frame["image_id"].astype(str))}
        self.index: dict[tuple[str, str], int] = {}
        self.row: list[int] = []
        self.key: list[str] = []
        self.origin: list[str] = []  # image | sample | model
        self.subject: list[int] = []
        self.problems: Counter[str] = Counter()
        self.rows_dropped = 0
        self._row_a = np.zeros(0, dtype=np.int64)
        self._subj_a = np.zeros(0, dtype=np.int64)

    # --- resolution -------------------------------------------------------------------
    def _add(self, space: str, key: str, row: int, subject: int) -> int:
        k = len(self.row)
        self.index[(space, key)] = k
        self.row.append(row)
        self.key.append(key)
        self.origin.append(space)
        self.subject.append(subject)
        return k

    def _problem(self, text: str) -> None:
        self.problems[text] += 1

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(manifest row, subject code) per sample, as arrays (rebuilt when samples grew)."""
        if len(self._row_a) != len(self.row):
            self._row_a = np.array(self.row, dtype=np.int64)
            self._subj_a = np.array(self.subject, dtype=np.int64)
        return self._row_a, self._subj_a

    def _side(self, ids: Keys, subjects: Keys | None, space: str, subject_model: bool,
              side: str) -> tuple[np.ndarray, np.ndarray]:
        """(sample code, subject code) per row; -1 where it does not resolve."""
        first = np.full(len(ids.values), -1, dtype=np.int64)  # first row of each id, O(n)
        first[ids.codes[::-1]] = np.arange(len(ids.codes) - 1, -1, -1)
        uniq = np.flatnonzero(first >= 0)
        pos = first[uniq]
        row_subj = None
        names: list[str] = []
        if subjects is not None:
            sub_code = np.array([self.subject_code.get(v, -1) for v in subjects.values],
                                dtype=np.int64)
            row_subj = sub_code[subjects.codes]
            names = subjects.values
            for v, c in zip(subjects.values, sub_code):
                if c < 0:
                    self._problem(f"{side} subject {v!r} is not in the manifest")
        code = np.full(len(ids.values), -1, dtype=np.int64)
        for k, at in zip(uniq.tolist(), pos.tolist()):
            subj = None if row_subj is None else int(row_subj[at])
            name = None if subjects is None else names[subjects.codes[at]]
            code[k] = self._resolve(ids.values[k], subj, name, space, subject_model, side)
        sample = code[ids.codes]
        _, subj_of = self._arrays()
        subj = np.where(sample >= 0, subj_of[np.maximum(sample, 0)] if len(subj_of) else -1,
                        -1)
        if row_subj is not None:  # a sample seen under two subjects
            clash = (sample >= 0) & (row_subj >= 0) & (subj != row_subj)
            for k in np.flatnonzero(clash)[:MAX_LISTED]:
                who, said = self.codes.subjects[subj[k]], self.codes.subjects[row_subj[k]]
                if self.origin[sample[k]] == "image":
                    self._problem(f"{side} image {self.key[sample[k]]!r} belongs to subject "
                                  f"{who!r} in the manifest, the score file says {said!r}")
                else:
                    self._problem(f"{side} {self.key[sample[k]]!r} is listed under subjects "
                                  f"{who!r} and {said!r}")
            sample = np.where(clash, -1, sample)
        return sample, subj

    def _resolve(self, v: str, subj: int | None, subj_name: str | None, space: str,
                 subject_model: bool, side: str) -> int:
        if subject_model:  # bob4: the reference is the subject's own model
            hit = self.index.get(("model", v))
            if hit is not None:
                return hit
            row = self.subject_row.get(v)
            if row is None:
                self._problem(f"{side} subject {v!r} is not in the manifest")
                return -1
            return self._add("model", v, row, self.subject_code[v])
        if v in self.image_row:
            hit = self.index.get(("image", v))
            if hit is not None:
                return hit
            row = self.image_row[v]
            own = int(self.codes.subject[row])
            if subj is not None and subj >= 0 and subj != own:
                self._problem(f"{side} image {v!r} belongs to subject "
                              f"{self.codes.subjects[own]!r} in the manifest, the score file "
                              f"says {subj_name!r}")
                return -1
            return self._add("image", v, row, own)
        if subj is None:
            what = "an image id of the manifest" if self.keyed_by == "image" else \
                "resolvable: with a subjects table the score file must name subjects"
            self._problem(f"{side} id {v!r} is not {what}")
            return -1
        if subj < 0:
            return -1  # its subject is reported already
        hit = self.index.get((space, v))
        if hit is not None:
            return hit
        return self._add(space, v, self.subject_row[self.codes.subjects[subj]], subj)

    def lookup(self, ids: Keys, side: str, subjects_ok: bool) -> np.ndarray:
        """Sample code per row of ids that name manifest images (or, with ``subjects_ok``,
        subjects' enrolled models); -1, recorded as a problem, where neither."""
        code = np.full(len(ids.values), -1, dtype=np.int64)
        for k in np.unique(ids.codes).tolist():
            v = ids.values[k]
            if v in self.image_row or not subjects_ok or v not in self.subject_row:
                code[k] = self._resolve(v, None, None, "sample", False, side)
            else:
                code[k] = self._resolve(v, None, None, "model", True, side)
        return code[ids.codes]

    def resolve(self, raw: RawChunk, expected: str = "") -> ScoredChunk:
        """The chunk as codes; rows that do not resolve are dropped (and recorded)."""
        p, ps = self._side(raw.probe, raw.probe_subject, "sample", False, "probe")
        r, rs = self._side(raw.reference, raw.reference_subject, raw.reference_space,
                           raw.reference_is_subject, "reference")
        ok = (p >= 0) & (r >= 0)
        self_cmp = ok & (p == r)
        for k in np.flatnonzero(self_cmp)[:MAX_LISTED]:
            self._problem(f"{self.source} line {raw.first_row + int(k)}: compares "
                          f"{self.key[p[k]]!r} with itself")
        ok &= ~self_cmp
        if expected:
            wrong = ok & ((ps == rs) != (expected == "genuine"))
            for k in np.flatnonzero(wrong)[:MAX_LISTED]:
                self._problem(f"{self.source} line {raw.first_row + int(k)}: the pyeer "
                              f"{expected} file compares subjects "
                              f"{self.codes.subjects[ps[k]]!r} and "
                              f"{self.codes.subjects[rs[k]]!r}")
            ok &= ~wrong
        self.rows_dropped += int((~ok).sum())
        rows, _ = self._arrays()
        st = self.codes.stratum
        s = np.asarray(raw.score, dtype=np.float64)[ok]
        return ScoredChunk(p[ok], r[ok], ps[ok], rs[ok], st[rows[p[ok]]], st[rows[r[ok]]],
                           -s if self.kind in NEGATED else s)

    # --- after a pass -----------------------------------------------------------------
    def messages(self) -> list[str]:
        """Every problem once, with how often it occurred (the first few dozen)."""
        out = [f"{t} ({n:,} rows)" if n > 1 else t
               for t, n in list(self.problems.items())[:MAX_LISTED * 2]]
        if len(self.problems) > len(out):
            out.append(f"... and {len(self.problems) - len(out):,} more")
        return out

    def plan(self, mated_i: np.ndarray, mated_j: np.ndarray) -> Plan:
        """The samples as a :class:`Plan` (manifest strata and subjects, listed mates)."""
        rows = np.array(self.row, dtype=np.int64)
        c = self.codes
        bands = {a: PairBanding(b.values[rows], b.edges) for a, b in c.banded.items()}
        return Plan(np.array(self.subject, dtype=np.int64), c.stratum[rows], c.strata,
                    c.subjects, mated_i, mated_j, bands)

    def ids(self) -> list[str]:
        """A unique id per sample: image ids as they are, others as ``model:<id>`` or
        ``sample:<id>`` (one name can label a probe sample and a model)."""
        return [k if o == "image" else f"{o}:{k}" for k, o in zip(self.key, self.origin)]

    def frame_of_samples(self) -> pd.DataFrame:
        """samples.csv: each sample's id, what it is, its subject and manifest columns."""
        rows = np.array(self.row, dtype=np.int64)
        f = self.frame.iloc[rows].reset_index(drop=True).drop(
            columns=[c for c in ("path",) if c in self.frame.columns])
        f.insert(0, "sample_id", self.key)
        f.insert(1, "sample_kind", self.origin)
        f["subject_id"] = [self.codes.subjects[s] for s in self.subject]
        if self.keyed_by == "subject" and "image_id" in f:
            f = f.drop(columns=["image_id"])
        return f

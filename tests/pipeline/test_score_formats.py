"""The same comparisons in every score format give the same tables, equal to brute force;
bad score files are one clear error listing every problem."""

from __future__ import annotations

import numpy as np
import pytest

import fairbench
from fairbench.errors import DataError, MatcherError
from tests import scorefixtures as sf
from tests.pipeline.test_scores import check


def run_with(tmp_path, manifest, params, name="run"):
    cfg = {"dataset": {"manifest": str(manifest), "attributes": ["grp"]},
           "matcher": {"name": "scores", "params": params},
           "verification": {"target_fmr": [0.1, 0.01], "fixed_thresholds": [1.0],
                            "bootstrap": {"replicates": 30}}}
    return fairbench.run(cfg, tmp_path / name, progress=False)


@pytest.fixture
def matrix_case(tmp_path):
    subjects = sf.people()
    man = sf.images(subjects)
    man.to_csv(tmp_path / "images.csv", index=False)
    m, ids = sf.matrix(man)
    mask = np.random.default_rng(5).random(m.shape) < 0.8
    return tmp_path, subjects, man, m, ids, mask


def test_matrix_csv_and_pyeer_agree_with_brute_force(matrix_case):
    tmp, subjects, man, m, ids, mask = matrix_case
    np.save(tmp / "m.npy", m)
    np.save(tmp / "mask.npy", mask)
    (tmp / "ids.txt").write_text("\n".join(ids) + "\n")
    rows = sf.matrix_rows(m, ids, man, mask)
    g, i = sf.write_pyeer(rows, tmp)
    runs = {
        "matrix": run_with(tmp, tmp / "images.csv", {
            "format": "matrix", "path": str(tmp / "m.npy"), "rows": str(tmp / "ids.txt"),
            "columns": str(tmp / "ids.txt"), "mask": str(tmp / "mask.npy"),
            "chunk_rows": 1000}, "a"),
        "csv": run_with(tmp, tmp / "images.csv", {
            "format": "csv", "path": str(sf.write_csv(rows, tmp / "s.csv"))}, "b"),
        "csv+subjects": run_with(tmp, tmp / "images.csv", {
            "format": "csv", "path": str(sf.write_csv(rows, tmp / "t.csv", True))}, "c"),
        "pyeer": run_with(tmp, tmp / "images.csv", {
            "format": "pyeer", "genuine": str(g), "impostor": str(i)}, "d"),
    }
    # a pyeer run lists genuine rows first: same comparisons, other order
    first = None
    for name, run in runs.items():
        check(run, rows, subjects)
        table = run.tables["verification_by_group"].drop(columns=[
            c for c in run.tables["verification_by_group"] if "boot" in c or "ratio_ci" in c])
        if first is None:
            first = table
        else:
            assert table.equals(first), name


def test_matrix_as_csv(matrix_case):
    tmp, subjects, man, m, ids, _ = matrix_case
    import pandas as pd

    pd.DataFrame(m, index=ids, columns=ids).to_csv(tmp / "m.csv", index_label="id",
                                                   na_rep="nan")
    run = run_with(tmp, tmp / "images.csv", {"format": "matrix", "path": str(tmp / "m.csv")})
    check(run, sf.matrix_rows(m, ids, man), subjects)


def test_unknown_ids_and_subjects_are_listed_together(tmp_path):
    subjects = sf.people()
    subjects.to_csv(tmp_path / "subjects.csv", index=False)
    rows = sf.scored_rows(subjects)
    rows[5].reference_subject = "nobody"
    rows[7].probe_subject = "ghost"
    rows[9].probe_subject = rows[9].reference_subject = "ghost2"
    path = sf.write_bob4(rows, tmp_path / "s.txt")
    with pytest.raises(DataError) as e:
        run_with(tmp_path, tmp_path / "subjects.csv", {"format": "bob4", "path": str(path)})
    text = str(e.value) + " ".join(e.value.problems)
    for who in ("nobody", "ghost", "ghost2"):
        assert f"subject {who!r} is not in the manifest" in text
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_image_ids_the_manifest_lacks_and_wrong_subjects(matrix_case):
    tmp, subjects, man, m, ids, _ = matrix_case
    rows = sf.matrix_rows(m, ids, man)[:200]
    rows[0].probe = "not-an-image"
    p = sf.write_csv(rows, tmp / "s.csv")
    with pytest.raises(DataError) as e:
        run_with(tmp, tmp / "images.csv", {"format": "csv", "path": str(p)})
    assert e.value.problems == ["probe id 'not-an-image' is not an image id of the manifest"]
    rows[0].probe = ids[0]
    rows[1].probe_subject = "s999"
    rows[3].probe_subject = "s001"  # rows[3]'s probe is s000_0, an image of s000
    p = sf.write_csv(rows, tmp / "t.csv", subjects=True)
    with pytest.raises(DataError) as e:
        run_with(tmp, tmp / "images.csv", {"format": "csv", "path": str(p)})
    assert sorted(e.value.problems) == [
        "probe image 's000_0' belongs to subject 's000' in the manifest, the score file "
        "says 's001'", "probe subject 's999' is not in the manifest"]


def test_pyeer_rows_in_the_wrong_file(matrix_case):
    tmp, subjects, man, m, ids, _ = matrix_case
    rows = sf.matrix_rows(m, ids, man)
    g, i = sf.write_pyeer(rows, tmp)
    with open(g, "a") as f:  # an impostor pair among the genuine ones
        f.write(f"{ids[0]} {ids[5]} 0.5\n")
    with pytest.raises(DataError, match="do not match the manifest") as e:
        run_with(tmp, tmp / "images.csv", {"format": "pyeer", "genuine": str(g),
                                          "impostor": str(i)})
    assert any("pyeer genuine file compares subjects" in p for p in e.value.problems)


@pytest.mark.parametrize("text, says", [
    ("s000 s000 a.png 0.5\ns000 s001 b.png\n", "malformed row"),
    ("s000 s000 a.png 0.5\ns000 s001 b.png zero\n", "not a number"),
    ("s000  s000 a.png 0.5\n", "runs of spaces"),
    ("", "no rows"),
])
def test_malformed_bob_files(tmp_path, text, says):
    sf.people().to_csv(tmp_path / "subjects.csv", index=False)
    (tmp_path / "s.txt").write_text(text)
    with pytest.raises(DataError) as e:
        run_with(tmp_path, tmp_path / "subjects.csv", {"format": "bob4",
                                                       "path": str(tmp_path / "s.txt")})
    assert says in str(e.value) + " ".join(e.value.problems)


def test_a_malformed_row_is_named_by_its_line(tmp_path):
    sf.people().to_csv(tmp_path / "subjects.csv", index=False)
    lines = [f"s000 s001 a{k}.png 0.{k}" for k in range(50)]
    lines[37] = "s000 s001 oops"
    (tmp_path / "s.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        run_with(tmp_path, tmp_path / "subjects.csv", {"format": "bob4",
                                                       "path": str(tmp_path / "s.txt")})
    assert any(p.startswith("line 38:") and "oops" in p for p in e.value.problems)


def test_pinned_sha256_and_missing_files(tmp_path):
    sf.people().to_csv(tmp_path / "subjects.csv", index=False)
    p = sf.write_bob4(sf.scored_rows(sf.people(6)), tmp_path / "s.txt")
    with pytest.raises(MatcherError, match="pinned sha256"):
        run_with(tmp_path, tmp_path / "subjects.csv", {"format": "bob4", "path": str(p),
                                                       "sha256": {"path": "0" * 64}})
    with pytest.raises(MatcherError, match="file not found"):
        run_with(tmp_path, tmp_path / "subjects.csv", {"format": "bob4",
                                                       "path": str(tmp_path / "nope")})


def test_repeated_pairs_and_both_triangles(matrix_case):
    """A pair listed twice (either way round) is an error naming it, unless repeats: keep;
    a square matrix counts each pair once, or both triangles when asked."""
    tmp, subjects, man, m, ids, _ = matrix_case
    rows = sf.matrix_rows(m, ids, man)[:300]
    flipped = [sf.Row(r.reference, r.reference_subject, r.probe, r.probe_subject, r.score)
               for r in rows[:3]]
    p = sf.write_csv(rows + flipped, tmp / "s.csv")
    with pytest.raises(DataError, match="3 rows compare a pair") as e:
        run_with(tmp, tmp / "images.csv", {"format": "csv", "path": str(p)})
    assert f"{rows[0].probe} - {rows[0].reference}" in e.value.problems
    run = run_with(tmp, tmp / "images.csv", {"format": "csv", "path": str(p),
                                             "repeats": "keep"}, "k")
    check(run, rows + flipped, subjects)
    assert any("repeat a pair" in n for n in run.record["notes"])
    np.save(tmp / "m.npy", m)
    (tmp / "ids.txt").write_text("\n".join(ids) + "\n")
    both = run_with(tmp, tmp / "images.csv", {
        "format": "matrix", "path": str(tmp / "m.npy"), "rows": str(tmp / "ids.txt"),
        "columns": str(tmp / "ids.txt"), "triangle": "both", "repeats": "keep"}, "both")
    check(both, sf.matrix_rows(m, ids, man, both=True), subjects)

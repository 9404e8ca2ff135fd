"""Manifest validation: every problem listed at once, naming file and row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fairbench.core.bands import band_labels, bands_of
from fairbench.data.checks import check_manifest, find_problems
from fairbench.data.manifest import read_manifest
from fairbench.errors import DataError


def make(tmp_path: Path, rows: list[dict], name: str = "m.csv") -> Path:
    (tmp_path / "img").mkdir(exist_ok=True)
    for r in rows:
        if r.get("make", True):
            (tmp_path / r["path"]).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / r["path"]).write_bytes(b"x")
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "make"} for r in rows])
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def test_clean_manifest_passes(tmp_path):
    p = make(tmp_path, [
        {"image_id": "a", "path": "img/a.jpg", "subject_id": "1", "eth": "x"},
        {"image_id": "b", "path": "img/b.jpg", "subject_id": "1", "eth": "y"},
    ])
    m = read_manifest(p)
    check_manifest(m, ["eth"], vocabularies={"eth": ["x", "y"]})
    assert [r.image_id for r in m.records()] == ["a", "b"]
    assert m.records()[0].path == tmp_path / "img/a.jpg"


def test_every_problem_is_listed_with_its_row(tmp_path):
    outside = tmp_path.parent / "outside.jpg"
    outside.write_bytes(b"x")
    p = make(tmp_path, [
        {"image_id": "a", "path": "img/a.jpg", "subject_id": "1", "eth": "x"},
        {"image_id": "a", "path": "img/b.jpg", "subject_id": "2", "eth": "x"},
        {"image_id": "c", "path": "img/missing.jpg", "subject_id": "3", "eth": "x",
         "make": False},
        {"image_id": "d", "path": "../outside.jpg", "subject_id": "4", "eth": "x",
         "make": False},
        {"image_id": "e", "path": str(outside), "subject_id": "5", "eth": "x", "make": False},
        {"image_id": "f", "path": "img/f.jpg", "subject_id": "6", "eth": "martian"},
        {"image_id": "g", "path": "img/g.jpg", "subject_id": "", "eth": "x"},
    ])
    m = read_manifest(p)
    probs = find_problems(m, ["eth", "sex"], {"eth": ["x"]})
    text = "\n".join(probs)
    assert "attribute column 'sex' not in the manifest" in text
    assert "row 3: duplicate image_id 'a' (first at row 2)" in text
    assert "row 4 (c): file not found" in text
    assert "row 5 (d): path '../outside.jpg' escapes the data root" in text
    assert "row 6 (e): path" in text and "escapes" in text
    assert "row 7 (f): eth='martian' is not in the vocabulary" in text
    assert "row 8 (g): empty subject_id" in text
    assert len(probs) == 7
    with pytest.raises(DataError) as e:
        check_manifest(m, ["eth", "sex"], vocabularies={"eth": ["x"]})
    assert str(p) in e.value.headline and "7 problems" in e.value.headline


def test_missing_required_column_is_named(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("image_id,file,person\na,a.jpg,1\n")
    with pytest.raises(DataError, match="lacks required column.*subject_id"):
        read_manifest(p)


def test_a_manifest_without_paths_needs_no_files_but_a_matcher_reading_images_does(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("image_id,subject_id\na,1\nb,1\n")
    m = read_manifest(p)
    assert m.frame["path"].tolist() == ["", ""]
    assert find_problems(m, require_files=False) == []
    assert find_problems(m) == [f"{p} row 2 (a): empty path", f"{p} row 3 (b): empty path"]


def test_parquet_manifest(tmp_path):
    p = make(tmp_path, [{"image_id": "a", "path": "img/a.jpg", "subject_id": "1", "eth": "x"}])
    pq = tmp_path / "m.parquet"
    pd.read_csv(p).to_parquet(pq)
    m = read_manifest(pq)
    check_manifest(m, ["eth"])
    assert m.frame["subject_id"].tolist() == ["1"]


def test_manifest_hash_changes_with_content(tmp_path):
    p = make(tmp_path, [{"image_id": "a", "path": "img/a.jpg", "subject_id": "1", "eth": "x"}])
    h1 = read_manifest(p).sha256()
    p.write_text(p.read_text().replace(",x", ",y"))
    assert read_manifest(p).sha256() != h1


def test_age_bands_include_children_and_unknown():
    assert band_labels([0, 5, 14, 21, 45, 70]) == ["0-4", "5-13", "14-20", "21-44", "45-69",
                                                    "70+"]
    ages = pd.to_numeric(pd.Series(["0", "4", "5", "20", "21", "69", "70", "NA", "", "x"]),
                         errors="coerce").to_numpy()
    got = bands_of(ages, [0, 5, 14, 21, 45, 70])
    assert got.tolist() == ["0-4", "0-4", "5-13", "14-20", "21-44", "45-69", "70+",
                            "unknown", "unknown", "unknown"]

"""RFW and BFW read from fixtures in their distribution layouts: identities keyed by race,
the official pair lists, and runs (all pairs and official pairs) that carry the consent
warning everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.data.load import read_distribution
from fairbench.errors import DataError
from tests.data.layout_rfw_bfw import build_bfw, build_rfw
from tests.data.runs import random_templates


@pytest.fixture
def rfw(tmp_path, london16):
    build_rfw(tmp_path / "rfw", london16)
    return tmp_path / "rfw"


@pytest.fixture
def bfw(tmp_path, london16):
    build_bfw(tmp_path / "bfw", london16)
    return tmp_path / "bfw"


def test_rfw_layout(rfw):
    loaded, card = read_distribution("rfw", rfw)
    f = loaded.manifest.frame
    assert set(f.race) == {"African", "Asian", "Caucasian", "Indian"}
    assert card.consent_status == "none"
    # a machine id with underscores, split on the last one; one id under two races
    assert f.subject_id.str.contains("__").any()
    mids = f.subject_id.str.split("/").str[1]
    dup = mids[mids.duplicated(keep=False)]
    assert len(set(f.subject_id[dup.index])) >= 2  # kept apart by race
    assert all((rfw / "test" / p).is_file() for p in f.path)
    off, _ = read_distribution("rfw", rfw, {"protocol": "official_pairs"})
    p = off.pairs
    assert p is not None and len(p.a) == 4 * 2 * 4  # 4 races x 2 folds x (2 + 2)
    subj = dict(zip(f.image_id, f.subject_id))
    assert [subj[a] == subj[b] for a, b in zip(p.a, p.b)] == p.mated


def test_rfw_bad_pair_lines_are_listed(rfw):
    path = rfw / "test" / "txts" / "Asian" / "Asian_pairs.txt"
    path.write_text(path.read_text() + "m.nobody\t1\t2\nonly two\n")
    with pytest.raises(DataError) as e:
        read_distribution("rfw", rfw, {"protocol": "official_pairs"})
    text = " ".join(e.value.problems)
    assert "Asian_pairs.txt line 9: no image Asian/m.nobody_0001" in text
    assert "line 10: expected 3 (genuine) or 4 (impostor)" in text
    with pytest.raises(DataError, match="races"):
        read_distribution("rfw", rfw, {"races": ["Martian"]})


def test_bfw_layouts(bfw, tmp_path, london16):
    loaded, card = read_distribution("bfw", bfw, {"protocol": "official_pairs"})
    f = loaded.manifest.frame
    assert set(f.ethnicity) <= {"A", "B", "I", "W"} and set(f.gender) == {"F", "M"}
    assert all((loaded.manifest.root / p).is_file() for p in f.path)
    table = pd.read_csv(bfw / "bfw-datatable.csv")
    assert len(loaded.pairs.a) == len(table)
    assert loaded.pairs.mated == list(table.label == 1)
    build_bfw(tmp_path / "old", london16, layout="v0.1.5")
    old, _ = read_distribution("bfw", tmp_path / "old")
    assert len(old.manifest.frame) == len(f)
    build_bfw(tmp_path / "zipped", london16, extract=False)
    with pytest.raises(DataError, match="bfw-faces-cropped.zip is not unpacked"):
        read_distribution("bfw", tmp_path / "zipped")


def test_bfw_label_that_disagrees_with_the_folders(bfw):
    t = pd.read_csv(bfw / "bfw-datatable.csv")
    t.loc[0, "label"] = 1 - t.loc[0, "label"]
    t.to_csv(bfw / "bfw-datatable.csv", index=False)
    with pytest.raises(DataError, match="label disagrees"):
        read_distribution("bfw", bfw)


@pytest.mark.parametrize("name,attr", [("rfw", "race"), ("bfw", "ethnicity")])
def test_official_pairs_run_equals_brute_force(name, attr, request, tmp_path):
    root = request.getfixturevalue(name)
    loaded, card = read_distribution(name, root, {"protocol": "official_pairs"})
    f = loaded.manifest.frame
    emb = random_templates(f.image_id.tolist(), tmp_path / "e.npz")
    run = fairbench.run({"dataset": {"name": name, "root": str(root), "attributes": [attr],
                                     "options": {"protocol": "official_pairs"}},
                         "matcher": {"name": "precomputed", "params": {"path": str(emb)}},
                         "verification": {"target_fmr": [0.1], "fixed_thresholds": [0.0],
                                          "bootstrap": {"replicates": 10}}},
                        tmp_path / "out", progress=False)
    assert run.record["comparisons"]["listed"] == len(loaded.pairs.a)
    assert run.record["dataset"]["consent_warning"].startswith("collected without")
    # brute force at the fixed threshold 0 (cosine) over the listed pairs
    z = np.load(emb)
    e = {k: v / np.linalg.norm(v) for k, v in zip(z["image_ids"], z["embeddings"])}
    group = dict(zip(f.image_id, f[attr]))
    subj = dict(zip(f.image_id, f.subject_id))
    bg = run.tables["verification_by_group"]
    for g in sorted(set(f[attr])):
        imp = gen = imp_err = gen_err = 0
        for a, b in zip(loaded.pairs.a, loaded.pairs.b):
            if group[a] != g or group[b] != g:
                continue
            s = float(np.float32(e[a] @ e[b]))
            if subj[a] == subj[b]:
                gen, gen_err = gen + 1, gen_err + (s < 0.0)
            else:
                imp, imp_err = imp + 1, imp_err + (s >= 0.0)
        row = bg[(bg.attribute == attr) & (bg.group == g) &
                 (bg.operating_point == "fixed=0")].iloc[0]
        assert (row.n_nonmated, row.fmr_errors) == (imp, imp_err), g
        assert (row.n_mated, row.fnmr_errors) == (gen, gen_err), g
    assert "fta" in bg  # templates were made here: acquisition was measured
    # the consent warning: every table on disk (first column), its notes, report.html
    from fairbench.report.rebuild import build_report

    warning = run.record["dataset"]["consent_warning"]
    tables = sorted((run.run_dir / "tables").glob("*.csv"))
    assert {t.stem for t in tables} >= {"verification_by_group", "eer_by_group"}
    for t in tables:
        frame = pd.read_csv(t)
        assert frame.columns[0] == "consent" and frame["consent"].eq(warning).all(), t.name
    for t in (run.run_dir / "tables").glob("*.md"):
        assert "collected without the consent" in t.read_text(), t.name
    build_report(run.run_dir)
    html = (run.run_dir / "report.html").read_text()
    assert "WARNING: this dataset was collected without" in html


def test_import_archives_atomically(tmp_path, london16, monkeypatch):
    """RFW's test.tar.gz and BFW's release (with its nested, md5-checked zip) install
    into the data root; a damaged nested zip or an unreadable layout leaves nothing."""
    from fairbench.data.fetch import import_dataset

    monkeypatch.setenv("FAIRBENCH_DATA_ROOT", str(tmp_path / "root"))
    build_rfw(tmp_path / "dl", london16, archive=True)
    got = import_dataset("rfw", tmp_path / "dl" / "test.tar.gz")
    assert got == tmp_path / "root" / "rfw" and (got / "test" / "txts").is_dir()
    with pytest.raises(DataError, match="exists already"):
        import_dataset("rfw", tmp_path / "dl" / "test.tar.gz")
    build_bfw(tmp_path / "bfwdl", london16, extract=False)
    import shutil
    shutil.make_archive(str(tmp_path / "BFW-Release"), "zip", tmp_path / "bfwdl")
    got = import_dataset("bfw", tmp_path / "BFW-Release.zip")
    loaded, _ = read_distribution("bfw", got)
    assert len(loaded.manifest.frame) > 0
    (tmp_path / "bfwdl" / "bfw-faces-cropped.md5").write_text("0" * 32 + "  x\n")
    with pytest.raises(DataError, match="md5"):
        import_dataset("bfw", tmp_path / "bfwdl", tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bfw.")]


def test_fetch_says_how_to_request_data(tmp_path, monkeypatch):
    from fairbench.data.fetch import fetch

    monkeypatch.setenv("FAIRBENCH_DATA_ROOT", str(tmp_path))
    with pytest.raises(DataError, match="whdeng.cn/RFW"):
        fetch("rfw")

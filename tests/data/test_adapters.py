"""Dataset adapters read their distribution layouts; cards say what a run must warn of."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.errors import DataError
from tests.data.cli import fairbench_cli
from tests.data.layouts import build_folders
from tests.data.runs import run_on_random_templates


def test_folders_layout_and_its_problems(london16, tmp_path):
    root = build_folders(tmp_path / "set", london16)
    from fairbench.data.load import read_distribution

    loaded, card = read_distribution("folders", root)
    f = loaded.manifest.frame
    assert len(f) == 32 and f.subject_id.nunique() == 16
    assert f.image_id.iloc[0] == "person001/001_neutral"
    assert (root / f.path.iloc[0]).is_file()
    # a folder without a row, a row without a folder, an empty folder: listed together
    (root / "stranger").mkdir()
    (root / "person002" / "x.txt").write_text("")
    for p in (root / "person002").glob("*.jpg"):
        p.unlink()
    with open(root / "attributes.csv", "a") as fh:
        fh.write("ghost,white,female\n")
    with pytest.raises(DataError) as e:
        read_distribution("folders", root)
    text = " ".join(e.value.problems)
    assert "stranger: a person's folder with no row" in text
    assert "person002: no images" in text and "'ghost' has no folder" in text
    with pytest.raises(DataError, match="has no option 'frames'"):
        read_distribution("folders", root, {"frames": 3})




def test_a_run_on_a_folder_set(london16, tmp_path):
    """The folders card end to end: its sidecar's attributes, their label sources from
    dataset.options, and the card's unknown consent said (no warning: it is not 'none')."""
    root = build_folders(tmp_path / "set", london16)
    from fairbench.data.load import read_distribution

    ids = read_distribution("folders", root)[0].manifest.frame.image_id.to_numpy()
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "e.npz", image_ids=ids.astype(str),
             embeddings=rng.normal(size=(len(ids), 8)).astype(np.float32))
    run = fairbench.run({"dataset": {"name": "folders", "root": str(root),
                                     "attributes": ["eth", "sex"],
                                     "options": {"label_sources": {"sex": "self-reported"}}},
                         "matcher": {"name": "precomputed",
                                     "params": {"path": str(tmp_path / "e.npz")}},
                         "verification": {"target_fmr": [0.1],
                                          "bootstrap": {"replicates": 10}}},
                        tmp_path / "out", progress=False)
    d = run.record["dataset"]
    assert d["n_images"] == 32 and d["consent_warning"] == ""
    assert d["consent_status"] == "unknown"
    assert d["label_sources"]["sex"] == "self-reported"
    bg = run.tables["verification_by_group"]
    assert set(bg[bg.attribute == "eth"].group) == {"black", "east_asian", "west_asian",
                                                    "white"}
    assert (bg[bg.group == "all"].n_mated == 16).all()

def test_describe_a_folder_set_breaks_down_by_its_sidecar_columns(london16, tmp_path):
    """The folders card declares no attribute: describe takes the sidecar's columns, and
    --option reaches the adapter (an unknown one is refused, naming it)."""
    root = build_folders(tmp_path / "set", london16)
    from fairbench.pipeline.describe import describe_dataset

    desc = describe_dataset("folders", root, intersections=False)
    assert desc["attributes"] == ["eth", "sex"]
    assert {(g["attribute"], g["group"]) for g in desc["groups"]} >= {("sex", "female"),
                                                                      ("eth", "white")}
    (root / "attributes.csv").rename(root / "people.csv")
    r = fairbench_cli("datasets", "describe", "folders", "--root", str(root),
                      "--no-intersections", "--option", "sidecar=people.csv")
    assert r.returncode == 0, r.stderr
    assert any(x.split()[:3] == ["sex", "female", "8"] for x in r.stdout.splitlines())
    r = fairbench_cli("datasets", "describe", "folders", "--root", str(root),
                      "--option", "frames=3")
    assert r.returncode == 2 and "has no option 'frames'" in r.stderr, r.stderr

def scraped_card(folder):
    """A local card like RFW's: consent none."""
    (folder / "datasets").mkdir()
    (folder / "datasets" / "scraped.yaml").write_text(
        "name: scraped\ntitle: A scraped set\nversion: '1'\ncitation: x\nlicence: research "
        "only\nconsent: web-scraped photos of public figures; nobody was asked\n"
        "consent_status: none\nadapter: folders\n"
        "attributes:\n  eth: {label_source: annotated}\n  sex: {label_source: annotated}\n")


def test_a_run_on_data_collected_without_consent_warns_everywhere(london16, tmp_path,
                                                                  monkeypatch):
    from fairbench.report.rebuild import build_report

    root = build_folders(tmp_path / "set", london16)
    scraped_card(tmp_path)
    monkeypatch.chdir(tmp_path)
    man = pd.read_csv(root / "attributes.csv")
    ids = [f"{s}/{p.stem}" for s in man.subject_id for p in sorted((root / s).glob("*.jpg"))]
    run = run_on_random_templates({"name": "scraped", "root": str(root),
                                   "attributes": ["eth"]}, ids, tmp_path)
    warning = run.record["dataset"]["consent_warning"]
    assert warning.startswith("collected without the consent") and "nobody was asked" in warning
    assert run.record["notes"][0].startswith("WARNING")
    tables = list((run.run_dir / "tables").glob("*.csv"))
    assert tables and all(pd.read_csv(t)["consent"].eq(warning).all() for t in tables)
    for md in (run.run_dir / "tables").glob("*.md"):
        assert "WARNING: this dataset was collected without the consent" in md.read_text()
    before = {t.name: t.read_bytes() for t in tables}
    build_report(run.run_dir)
    assert {t.name: t.read_bytes() for t in tables} == before
    assert "WARNING: this dataset was collected without" in (run.run_dir / "report.html"
                                                             ).read_text()


def test_groupings_map_an_attribute_into_coarser_groups(london_root):
    from fairbench.config import DatasetConfig
    from fairbench.data.load import load_dataset

    cfg = DatasetConfig(name="london", root=london_root, attributes=["eth", "tone"],
                        groupings={"tone": {"source": "eth", "map": {
                            "white": "lighter", "east_asian": "lighter", "black": "darker"},
                            "default": "mixed or other"}})
    ds = load_dataset(cfg, require_files=False)
    f = ds.manifest.frame
    pairs = set(zip(f.eth, f.tone))
    assert ("black", "darker") in pairs and ("white", "lighter") in pairs
    assert ("west_asian", "mixed or other") in pairs
    assert ds.label_sources["tone"] == "self-reported (grouped from eth)"
    bad = DatasetConfig(name="london", root=london_root, attributes=["tone"],
                        groupings={"tone": {"source": "skin", "map": {}}})
    with pytest.raises(DataError, match="groupings.tone.source: no attribute 'skin'"):
        load_dataset(bad, require_files=False)

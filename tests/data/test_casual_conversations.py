"""Casual Conversations v1 and v2 read from their distributed layouts: frames sampled from
videos (seeded, cached, a broken video a note), subjects keyed by the metadata, every label
as the dataset spells it, and a 1:1 run end to end with children's age bands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.config import DatasetConfig
from fairbench.data.load import load_dataset, read_distribution
from fairbench.data.paths import cache_root
from fairbench.errors import DataError
from tests.data.layout_cc import build_cc_v1, build_cc_v2, marker_index

V1, V2 = "casual_conversations_v1", "casual_conversations_v2"


@pytest.fixture(scope="module")
def v1_root(london16, tmp_path_factory):
    return build_cc_v1(tmp_path_factory.mktemp("cc") / "v1", london16)


@pytest.fixture(scope="module")
def v2_root(london16, tmp_path_factory):
    return build_cc_v2(tmp_path_factory.mktemp("cc") / "v2", london16)


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    """A frame cache of the test's own (the session's is shared by every test)."""
    monkeypatch.setenv("FAIRBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def decodes(monkeypatch):
    """The videos opened for decoding, in order."""
    from fairbench.data.adapters import frames

    opened: list[str] = []
    real = frames._open_video

    def counting(path):
        opened.append(str(path))
        return real(path)

    monkeypatch.setattr(frames, "_open_video", counting)
    return opened


def meta_v1(root):
    return json.loads((root / "CC_annotations" / "CasualConversations.json").read_text())


def test_v1_frames_subjects_and_labels_as_the_dataset_spells_them(v1_root, fresh_cache):
    loaded, card = read_distribution(V1, v1_root)
    f = loaded.manifest.frame
    meta = meta_v1(v1_root)
    n_videos = sum(len(r["files"]) for r in meta.values())
    assert n_videos == 19 and len(f) == 3 * n_videos and f.image_id.is_unique
    # subjects are the JSON keys: "1" (A/1140) and "2" (H/1140) share a folder number
    assert sorted(f.subject_id.unique(), key=int) == [str(k) for k in range(1, 9)]
    one, two = f[f.subject_id == "1"], f[f.subject_id == "2"]
    assert one.image_id.str.startswith("CasualConversationsA/1140/").all()
    assert two.image_id.str.startswith("CasualConversationsH/1140/").all()
    assert f.groupby("subject_id").size().to_dict()["3"] == 15  # five videos
    # labels as spelled (strings, "N/A" kept), lighting per video from dark_files
    by = f.drop_duplicates("subject_id").set_index("subject_id")
    assert by.loc["1", ["age", "gender", "skin_type"]].tolist() == ["33", "Female", "5"]
    assert by.loc["4", "age"] == "N/A" and by.loc["7", "gender"] == "N/A"
    assert by.loc["5", "gender"] == "Other" and by.loc["2", "age"] == "9"
    dark = {p for r in meta.values() for p in r["dark_files"]}
    video = f.image_id.str.rsplit("/", n=1).str[0]
    assert (f.lighting == "dark").tolist() == [v + ".MP4" in dark for v in video]
    # each cached frame is the frame its id names (the fixture's marker block)
    for iid, path, light in zip(f.image_id, f.path, f.lighting):
        assert os.path.isabs(path) and path.startswith(str(cache_root() / "frames" / V1))
        if light == "bright":  # (a darkened marker is too faint after two encodings)
            assert marker_index(path) == int(iid.rsplit("/f", 1)[1])
    assert loaded.notes[0].startswith("still frames sampled from videos: 3 per video")
    assert not list(cache_root().rglob("*.tmp"))  # written atomically
    # through load_dataset: vocabularies checked, label sources, groupings, age bands
    ds = load_dataset(DatasetConfig(name=V1, root=v1_root, attributes=[
        "gender", "skin_type", "skin_group", "lighting", "age_band"]))
    assert ds.label_sources == {
        "gender": "self-reported", "skin_type": "annotated", "lighting": "annotated",
        "skin_group": "annotated (grouped from skin_type)",
        "age_band": "self-reported (banded from age)"}
    g = ds.manifest.frame.drop_duplicates("subject_id").set_index("subject_id")
    assert g.loc["2", "age_band"] == "5-13" and g.loc["4", "age_band"] == "unknown"
    assert g.loc["7", "gender"] == "unknown" and g.loc["5", "gender"] == "Other"
    assert g.loc["1", "skin_group"] == "dark" and g.loc["4", "skin_group"] == "light"


def test_v1_seeded_sampling_spacing_and_video_choice(v1_root, fresh_cache):
    def frame(options=None):
        return read_distribution(V1, v1_root, options)[0].manifest.frame

    ids = frame().image_id.tolist()
    shutil.rmtree(fresh_cache)
    assert frame().image_id.tolist() == ids
    other = frame({"seed": 1}).image_id.tolist()
    assert len(other) == len(ids) and other != ids
    # spacing_s: 0.1 s at the 30 fps the frames are counted at = 3 frames apart
    f = frame({"spacing_s": 0.1})
    for _, idx in f.image_id.str.rsplit("/f", n=1).str[1].astype(int).groupby(
            f.image_id.str.rsplit("/", n=1).str[0]):
        assert np.diff(idx.to_numpy()).tolist() == [3, 3]
    one = frame({"frames": 1})
    assert len(one) == 19
    # skip_dark: the dark_files are left out, and the notes say so
    loaded, _ = read_distribution(V1, v1_root, {"skip_dark": True})
    f = loaded.manifest.frame
    assert (f.lighting == "bright").all() and len(f) == 3 * (19 - 7)
    assert any("low ambient light (dark_files) left out" in n for n in loaded.notes)
    # which videos: patterns and a seeded cap per person; people left with none are named
    loaded, _ = read_distribution(V1, v1_root, {"videos": ["*_00.MP4"]})
    assert loaded.manifest.frame.image_id.str.contains("_00/f").all()
    lost = next(n for n in loaded.notes if "no usable frame" in n)
    assert lost.startswith("4 people") and "'2' (2 videos not matched by" in lost
    capped = frame({"max_videos_per_subject": 1})
    assert capped.groupby("subject_id").size().eq(3).all()


def test_v1_frame_cache_is_reused_and_keyed_by_the_file(v1_root, fresh_cache, decodes):
    first = read_distribution(V1, v1_root)[0].manifest.frame
    assert sorted(decodes) == sorted(str(v1_root / p) for r in meta_v1(v1_root).values()
                                     for p in r["files"])  # one pass each (true headers)
    decodes.clear()
    again = read_distribution(V1, v1_root)[0].manifest.frame
    assert decodes == [] and again.equals(first)
    # a changed file (new mtime) gets a new cache entry; the others stay cached
    video = v1_root / "CasualConversationsM/0522/0522_00.MP4"
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = read_distribution(V1, v1_root)[0].manifest.frame
    assert decodes == [str(video)] and after.image_id.equals(first.image_id)
    assert (after.path != first.path).sum() == 3  # that video's frames, in a new folder
    # one worker or eight: the same manifest
    assert read_distribution(V1, v1_root, {"workers": 1})[0].manifest.frame.equals(after)


def test_frames_are_counted_not_taken_from_the_header(v1_root, fresh_cache, monkeypatch):
    """Two real CC v1 videos report twice their frame count and rate: the sample must be
    the one the decoded count gives (a second pass fetches it)."""
    import cv2

    from fairbench.data.adapters import frames

    truthful = read_distribution(V1, v1_root, {"spacing_s": 0.1})[0].manifest.frame
    shutil.rmtree(fresh_cache)
    real, opened = frames._open_video, []

    class Doubled:
        def __init__(self, path):
            self.cap = real(path)
            opened.append(path)

        def get(self, prop):
            value = self.cap.get(prop)
            return 2 * value if prop in (cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FPS) else value

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(frames, "_open_video", Doubled)
    lying = read_distribution(V1, v1_root, {"spacing_s": 0.1})[0].manifest.frame
    assert lying.image_id.tolist() == truthful.image_id.tolist()
    assert 19 < len(opened) <= 2 * 19
    info = json.loads(next(fresh_cache.rglob("info.json")).read_text())
    assert info["decoded"] == 12 and info["header_frames"] == 24 and info["fps"] == 30


def test_v1_broken_and_missing_videos_are_notes(london16, tmp_path, fresh_cache):
    root = build_cc_v1(tmp_path / "v1", london16)
    (root / "CasualConversationsA/1140/1140_00.MP4").write_bytes(b"not a video" * 100)
    for p in (root / "CasualConversationsM/1139").glob("*.MP4"):  # subject "8": all broken
        p.write_bytes(p.read_bytes()[:200])
    (root / "CasualConversationsM/0522/0522_14.MP4").unlink()  # a partial download
    loaded, _ = read_distribution(V1, root)
    f = loaded.manifest.frame
    assert "8" not in set(f.subject_id) and len(f) == 3 * (19 - 4)
    text = "\n".join(loaded.notes)
    assert "3 videos could not be read or decoded" in text
    assert "CasualConversationsA/1140/1140_00.MP4 (" in text
    assert "1 of the videos CasualConversations.json lists are not in" in text
    assert "0522_14.MP4" in text
    assert "1 person has no usable frame" in text and \
        "'8' (2 videos unreadable or undecodable)" in text
    # the failure is cached with the file's key: the next load decodes nothing
    from fairbench.data.adapters import frames

    def no_decoding(path):
        raise AssertionError(f"decoded {path}")

    frames_open = frames._open_video
    try:
        frames._open_video = no_decoding
        assert read_distribution(V1, root)[0].notes == loaded.notes
    finally:
        frames._open_video = frames_open


def test_v1_layout_problems_are_one_error(london16, tmp_path, fresh_cache):
    root = build_cc_v1(tmp_path / "v1", london16, n_subjects=3)
    meta_file = root / "CC_annotations" / "CasualConversations.json"
    meta = json.loads(meta_file.read_text())
    # the metadata may also sit at the top of the folder
    shutil.move(meta_file, root / "CasualConversations.json")
    assert len(read_distribution(V1, root)[0].manifest.frame) == 3 * 9
    (root / "CasualConversations.json").unlink()
    with pytest.raises(DataError, match=r"no CasualConversations.json \(looked for .*"
                                        r"CC_annotations/CasualConversations.json"):
        read_distribution(V1, root)
    r = subprocess.run([sys.executable, "-m", "fairbench.cli", "datasets", "manifest", V1,
                        "--root", str(root), "-o", str(tmp_path / "m.csv")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "CasualConversations.json" in r.stderr
    meta["2"]["dark_files"] = ["elsewhere.MP4"]
    del meta["3"]["label"]["skin-type"]
    meta["1"]["files"] = ["../outside.MP4"]
    meta["3"]["files"].append(meta["3"]["files"][0])
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(DataError) as e:
        read_distribution(V1, root)
    text = " ".join(e.value.problems)
    assert "subject '2': 'dark_files' not in its 'files'" in text
    assert "subject '3': 'label' lacks skin-type" in text
    assert "subject '1': 'files' entries that are not paths inside" in text
    assert "CasualConversationsM/0522/0522_00.MP4 is listed twice" in text
    meta_file.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_distribution(V1, root)


@pytest.mark.parametrize("options, message", [
    ({"frame": 3}, "has no option 'frame'"),
    ({"setups": ["scripted"]}, "has no option 'setups'"),
    ({"frames": 0}, "frames: at least 1"),
    ({"spacing_s": -1}, "spacing_s"),
    ({"skip_dark": "yes"}, "skip_dark: expected bool"),
    ({"videos": "*.MP4"}, "videos: expected list"),
    ({"workers": 0}, "workers: at least 1"),
])
def test_v1_bad_options_are_refused(v1_root, options, message):
    with pytest.raises(DataError, match=message):
        read_distribution(V1, v1_root, options)


def test_v1_cli_manifest_and_describe(v1_root, tmp_path):
    out = tmp_path / "m.csv"
    cli = [sys.executable, "-m", "fairbench.cli", "datasets"]
    r = subprocess.run([*cli, "manifest", V1, "--root", str(v1_root), "-o", str(out),
                        "--option", "frames=2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "38 images of 8 people" in r.stdout
    m = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert m.columns.tolist() == ["image_id", "path", "subject_id", "age", "gender",
                                  "skin_type", "lighting"]
    assert m.age.tolist().count("N/A") == 4
    r = subprocess.run([*cli, "describe", V1, "--root", str(v1_root)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("casual_conversations_v1: 8 people, 57 images")
    rows = [line.split() for line in lines]
    assert ["age_band", "5-13", "1", "6"] in [row[:4] for row in rows]
    assert ["lighting", "dark", "6", "21"] in [row[:4] for row in rows]
    assert "limit: Adults only (ages 18-84 in the published metadata)" in r.stdout


def test_v1_one_to_one_run_has_childrens_age_bands(v1_root, tmp_path):
    loaded, _ = read_distribution(V1, v1_root)
    ids = loaded.manifest.frame.image_id.to_numpy()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "e.npz", image_ids=ids.astype(str),
             embeddings=rng.normal(size=(len(ids), 8)).astype(np.float32))
    run = fairbench.run({
        "dataset": {"name": V1, "root": str(v1_root), "intersections": False,
                    "attributes": ["gender", "skin_group", "lighting", "age_band"],
                    "options": {"frames": 3}},
        "matcher": {"name": "precomputed", "params": {"path": str(tmp_path / "e.npz")}},
        "verification": {"target_fmr": [0.1], "bootstrap": {"replicates": 10}}},
        tmp_path / "out", progress=False)
    t = pd.read_csv(run.run_dir / "tables" / "verification_by_group.csv",
                    keep_default_na=False)
    bands = t[t.attribute == "age_band"].set_index("group")
    assert {"5-13", "14-20", "21-44", "45-69", "70+"} <= set(bands.index)
    # subject "2" (9): 2 videos x 3 frames
    assert bands.loc["5-13", "n_mated"] == 15 and bands.loc["5-13", "n_subjects"] == 1
    assert set(t[t.attribute == "skin_group"].group) == {"light", "medium", "dark"}
    d = run.record["dataset"]
    assert d["n_images"] == 57 and d["consent_warning"] == ""
    assert d["label_sources"]["skin_group"] == "annotated (grouped from skin_type)"
    assert any(n.startswith("still frames sampled from videos") for n in run.record["notes"])


def test_v2_videos_frames_and_labels(v2_root, fresh_cache):
    loaded, _ = read_distribution(V2, v2_root)
    f = loaded.manifest.frame
    assert len(f) == 3 * 20 and f.subject_id.nunique() == 8
    assert f.groupby("subject_id").size()["0000"] == 18  # six videos
    r = f.set_index("image_id")
    row = r.loc[r.index[r.index.str.startswith("0000_portuguese_scripted_0/")][0]]
    assert row[["subject_id", "age", "gender", "native_language", "country",
                "monk_skin_tone", "fitzpatrick", "video_setup"]].tolist() == [
        "0000", "34", "cis woman", "portuguese (brazil)", "brazil", "scale 05", "type iii",
        "scripted"]
    assert set(f.monk_confidence) <= {"low", "medium", "high"}
    assert f.path.str.contains("/frames/casual_conversations_v2/CCv2_part_").all()
    for iid, path in zip(f.image_id, f.path):
        if iid.split("_")[0] in ("0000", "0002"):  # even subjects: no darkened video
            assert marker_index(path) == int(iid.rsplit("/f", 1)[1])
    ds = load_dataset(DatasetConfig(name=V2, root=v2_root, attributes=[
        "gender", "country", "monk_group", "fitzpatrick_group", "video_setup", "age_band"]))
    g = ds.manifest.frame
    assert set(g[g.subject_id == "0001"].age_band) == {"5-13"}
    assert set(g[g.subject_id == "0003"].age_band) == {"unknown"}  # prefer not to say
    assert set(g[g.subject_id == "0007"].gender) == {"unknown"}
    assert set(g.fitzpatrick_group) == {"light", "medium", "dark"}
    assert ds.label_sources["monk_group"] == "annotated (grouped from monk_skin_tone)"
    assert ds.label_sources["country"] == "self-reported"
    scripted = read_distribution(V2, v2_root, {"setups": ["scripted"]})[0]
    assert set(scripted.manifest.frame.video_setup) == {"scripted"}
    assert len(scripted.manifest.frame) == 3 * 8



def test_v2_one_to_one_run_on_both_skin_tone_scales(v2_root, tmp_path):
    """A whole 1:1 run on v2: per-video Monk and Fitzpatrick groups, self-reported gender
    beyond two categories, and the tables' counts add up over the groups."""
    loaded, _ = read_distribution(V2, v2_root)
    ids = loaded.manifest.frame.image_id.to_numpy()
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "e.npz", image_ids=ids.astype(str),
             embeddings=rng.normal(size=(len(ids), 8)).astype(np.float32))
    run = fairbench.run({
        "dataset": {"name": V2, "root": str(v2_root), "intersections": False,
                    "attributes": ["gender", "monk_group", "fitzpatrick_group", "country"]},
        "matcher": {"name": "precomputed", "params": {"path": str(tmp_path / "e.npz")}},
        "verification": {"target_fmr": [0.1], "bootstrap": {"replicates": 10}}},
        tmp_path / "out", progress=False)
    t = pd.read_csv(run.run_dir / "tables" / "verification_by_group.csv",
                    keep_default_na=False)
    assert {"cis woman", "non-binary", "transgender man"} <= set(t[t.attribute == "gender"]
                                                                  .group)
    assert set(t[t.attribute == "fitzpatrick_group"].group) == {"light", "medium", "dark"}
    d = run.record["dataset"]
    assert d["n_images"] == 60 and d["consent_warning"] == ""
    assert d["label_sources"]["monk_group"] == "annotated (grouped from monk_skin_tone)"
    assert d["label_sources"]["gender"] == "self-reported"
    # every mated pair of one gender (a subject-level label) is counted once
    g = t[(t.attribute == "gender") & (t.operating_point == "fmr=0.1")]
    every = t[(t.attribute == "all") & (t.operating_point == "fmr=0.1")].n_mated.iloc[0]
    assert g.n_mated.sum() == every == 258
    cov = pd.read_csv(run.run_dir / "tables" / "data_coverage.csv", keep_default_na=False)
    assert set(cov.attribute) >= {"gender", "monk_group"}

def test_v2_pre_extracted_frames_and_partial_downloads(london16, tmp_path, fresh_cache,
                                                      decodes):
    root = build_cc_v2(tmp_path / "v2", london16)
    loaded, _ = read_distribution(V2, root, {"source": "frames", "frames": 2})
    f = loaded.manifest.frame
    assert decodes == [] and len(f) == 2 * 20
    assert f.path.str.match(r"CCv2_frames_part_\d/\d{4}/.+_raw_frame\d{8}\.jpg$").all()
    for iid, path in zip(f.image_id, f.path):
        assert path.endswith(f"_raw_frame{int(iid.rsplit('/f', 1)[1]):08d}.jpg")
        assert (root / path).is_file()
    assert loaded.notes[0].startswith("pre-extracted frames used")
    with pytest.raises(DataError, match="spacing_s"):
        read_distribution(V2, root, {"source": "frames", "spacing_s": 1.0})
    # part 2 of the videos missing: its people are a note, the rest are measured
    shutil.rmtree(root / "CCv2_part_2")
    loaded, _ = read_distribution(V2, root)
    f = loaded.manifest.frame
    assert sorted(f.subject_id.unique()) == ["0000", "0001", "0002", "0003", "0004"]
    assert any(n.startswith("6 of the videos CasualConversationsV2.json lists are not in")
               for n in loaded.notes)
    assert any(n.startswith("3 people have no usable frame") for n in loaded.notes)
    # no video at all: auto falls back to the extracted frames
    for p in root.glob("CCv2_part_*"):
        shutil.rmtree(p)
    assert read_distribution(V2, root)[0].notes[0].startswith("pre-extracted frames used")
    shutil.rmtree(root / "CCv2_frames_part_1")
    shutil.rmtree(root / "CCv2_frames_part_2")
    with pytest.raises(DataError, match="no usable frame in any video"):
        read_distribution(V2, root)


def test_v2_layout_problems_and_options(london16, tmp_path, fresh_cache):
    root = build_cc_v2(tmp_path / "v2", london16, n_subjects=2)
    meta_file = root / "CCv2_annotations" / "CasualConversationsV2.json"
    records = json.loads(meta_file.read_text())
    with pytest.raises(DataError, match="has no option 'skip_dark'"):
        read_distribution(V2, root, {"skip_dark": True})
    with pytest.raises(DataError, match="setups: a non-empty list of scripted, nonscripted"):
        read_distribution(V2, root, {"setups": ["read"]})
    with pytest.raises(DataError, match="source: expected 'auto' or 'videos' or 'frames'"):
        read_distribution(V2, root, {"source": "both"})
    # another name for the metadata file
    shutil.move(meta_file, root / "mine.json")
    assert len(read_distribution(V2, root, {"metadata": "mine.json"})[0].manifest.frame) == 24
    with pytest.raises(DataError, match="no CasualConversationsV2.json"):
        read_distribution(V2, root)
    records[1]["video_name"] = records[0]["video_name"]
    del records[2]["subject_id"]
    meta_file.write_text(json.dumps(records))
    with pytest.raises(DataError) as e:
        read_distribution(V2, root)
    text = " ".join(e.value.problems)
    assert "record 1: video_name '0000_portuguese_scripted_0.mp4' again (first in record 0)" \
        in text and "record 2: needs 'subject_id' and 'video_name'" in text
    meta_file.write_text(json.dumps({"0000": records[0]}))
    with pytest.raises(DataError, match="expected a list with one record per video"):
        read_distribution(V2, root)

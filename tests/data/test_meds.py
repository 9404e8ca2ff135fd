"""The MEDS-II (NIST SD32) adapter on a fixture in the distribution's exact layout: chunk
folders, CRLF metadata, the pose option, every layout problem at once, and the consent
warning in run.json, every table and the report."""

from __future__ import annotations

import pandas as pd
import pytest

from fairbench.config import DatasetConfig
from fairbench.data.load import load_dataset, read_distribution
from fairbench.errors import DataError
from tests.data.cli import fairbench_cli
from tests.data.layout_cfd_meds import MEDS2_ROOT_NAME, build_meds2
from tests.data.runs import run_on_random_templates

ALL_POSES = ["Frontal", "Left Angle", "Right Angle", "Left Profile", "Right Profile"]


@pytest.fixture()
def meds(tmp_path, london16):
    """(the folder holding NIST_SD32_MEDS-II_face, that folder)."""
    return tmp_path, build_meds2(tmp_path, london16)


def test_meds2_as_shipped(meds):
    parent, top = meds
    assert b"\r\n" in (top / "subject_metadata.csv").read_bytes()  # CRLF, as NIST ships it
    loaded, card = read_distribution("meds2", parent)
    f = loaded.manifest.frame
    assert read_distribution("meds2", top)[0].manifest.frame.equals(f)  # either root
    assert (len(f), f.subject_id.nunique()) == (7, 5)  # Frontal only by default
    assert set(f.pose) == {"Frontal"}
    assert f.columns.tolist() == ["image_id", "path", "subject_id", "encounter", "sex", "race",
                                  "age", "pose"]
    by = f.set_index("image_id")
    # a person straddling two chunk folders is one subject
    assert by.loc[["S004-01-t10_01", "S004-02-t10_01"], "path"].tolist() == [
        "data/aa/S004-01-t10_01.jpg", "data/ab/S004-02-t10_01.jpg"]
    assert set(by.loc[["S004-01-t10_01", "S004-02-t10_01"], "subject_id"]) == {"S004"}
    assert by.loc["S006-01-t10_01", "age"] == ""  # age_phd 0: no photo date
    assert by.loc["S001-02-t10_01", ["sex", "race", "age", "encounter"]].tolist() == [
        "F", "W", "31.4", "2"]
    notes = " ".join(loaded.notes)
    assert "7 of 11 images" in notes and "1 image(s) with age_phd 0" in notes

    every = read_distribution("meds2", parent, {"poses": ALL_POSES})[0].manifest.frame
    assert len(every) == 11 and every.set_index("image_id").loc["S003-01-t10_01",
                                                                 "race"] == "U"
    ds = load_dataset(DatasetConfig(name="meds2", root=parent, options={"poses": ALL_POSES},
                                    attributes=["sex", "race", "age_band", "pose"]))
    g = ds.manifest.frame.set_index("image_id")
    assert g.loc["S003-01-t10_01", "race"] == "unknown"  # U is the dataset's unknown
    assert g.loc["S006-01-t10_01", "age_band"] == "unknown"
    assert ds.label_sources == {"sex": "annotated", "race": "annotated",
                                "age_band": "derived (banded from age)", "pose": "annotated"}
    assert card.consent_status == "none"
    assert ds.consent_warning.startswith("collected without the consent of the people shown")
    assert "deceased" in ds.consent_warning or "died" in ds.consent_warning
    f = read_distribution("meds2", parent, {"poses": ["Left Profile", "Right Profile"]}
                          )[0].manifest.frame
    assert f.image_id.tolist() == ["S001-03-t10_02", "S001-03-t10_03"]


def test_meds2_options_and_a_zipped_copy(meds, tmp_path, london16):
    parent, top = meds
    for bad, match in [({"pose": "Frontal"}, "has no option 'pose'"),
                       ({"poses": ["frontal"]}, "dataset.options.poses"),
                       ({"poses": []}, "dataset.options.poses")]:
        with pytest.raises(DataError, match=match):
            read_distribution("meds2", parent, bad)
    (top / "subject_metadata.csv").rename(tmp_path / "truth.csv")
    f = read_distribution("meds2", parent, {"metadata": str(tmp_path / "truth.csv")}
                          )[0].manifest.frame
    assert len(f) == 7
    zipped = tmp_path / "z"
    build_meds2(zipped, london16, as_zip=True)
    import shutil

    shutil.rmtree(zipped / MEDS2_ROOT_NAME)
    with pytest.raises(DataError, match="still zipped: unzip it"):
        read_distribution("meds2", zipped)


def test_meds2_lists_every_layout_problem_at_once(meds):
    parent, top = meds
    meta = top / "subject_metadata.csv"
    text = meta.read_bytes().decode()
    text = text.replace("./data/ab,S005-01-t10_01.jpg,5,", "./data/ab,S005-01-t10_01.jpg,7,")
    meta.write_bytes(text.encode())
    (top / "data" / "aa" / "S002-01-t10_01.jpg").unlink()  # a row without its image
    (top / "data" / "ac").mkdir()
    (top / "data" / "ac" / "S009-01-t10_01.jpg").write_bytes(b"")  # an image without a row
    pose = top / "image_pose.csv"
    pose.write_bytes(pose.read_bytes().replace(b"S001-02-t10_01.jpg,Frontal",
                                               b"S001-02-t10_01.jpg,Left Angle"))
    with pytest.raises(DataError) as e:
        read_distribution("meds2", parent)
    problems = "\n".join(e.value.problems)
    assert len(e.value.problems) == 4, problems
    assert "subject_metadata.csv line 11: subject_id/enc_num/img_num 7/1/1 disagree with " \
        "the file name S005-01-t10_01.jpg" in problems
    assert "subject_metadata.csv line 7: image data/aa/S002-01-t10_01.jpg not found" \
        in problems
    assert "data/ac/S009-01-t10_01.jpg: image without a row in subject_metadata.csv" \
        in problems
    assert "image_pose.csv line 3: data/aa/S001-02-t10_01.jpg is 'Left Angle' here but " \
        "'Frontal' in subject_metadata.csv" in problems

    header = meta.read_bytes().split(b"\r\n", 1)
    meta.write_bytes(header[0].replace(b",rac,", b",race,") + b"\r\n" + header[1])
    with pytest.raises(DataError) as e:
        read_distribution("meds2", parent)
    assert len(e.value.problems) == 1 and f"{meta}: no column 'rac'" in e.value.problems[0]



def test_meds2_describe_command(meds):
    parent, _ = meds
    r = fairbench_cli("datasets", "describe", "meds2", "--root", str(parent))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("meds2: 5 people, 7 images")
    lines = r.stdout.splitlines()
    assert any(x.split()[:3] == ["race", "B", "2"] for x in lines)
    assert any(x.startswith("limit: Very unequal groups") for x in lines)


def test_a_meds2_run_carries_the_consent_warning_everywhere(meds, tmp_path):
    from fairbench.report.rebuild import build_report

    parent, _ = meds
    options = {"poses": ALL_POSES}
    ids = read_distribution("meds2", parent, options)[0].manifest.frame.image_id.tolist()
    run = run_on_random_templates({"name": "meds2", "root": str(parent), "options": options,
                                   "attributes": ["sex"]}, ids, tmp_path)
    warning = run.record["dataset"]["consent_warning"]
    assert warning.startswith("collected without the consent of the people shown")
    assert "booking photographs" in warning
    assert run.record["notes"][0].startswith("WARNING")
    tables = list((run.run_dir / "tables").glob("*.csv"))
    assert tables
    for t in tables:
        frame = pd.read_csv(t)
        assert frame.columns[0] == "consent" and frame["consent"].eq(warning).all(), t.name
    build_report(run.run_dir)
    assert "WARNING: this dataset was collected without" in (run.run_dir / "report.html"
                                                             ).read_text()

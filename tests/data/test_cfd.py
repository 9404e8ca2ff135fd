"""The Chicago Face Database 3.0 adapter on a fixture in the distribution's exact layout:
joins and their documented quirks, options, every layout problem at once, the licence
notice in every run."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from fairbench.config import DatasetConfig
from fairbench.data.load import load_dataset, read_distribution
from fairbench.errors import DataError
from tests.data.cli import fairbench_cli
from tests.data.layout_cfd_meds import CFD_WORKBOOK, build_cfd
from tests.data.runs import run_on_random_templates

MAIN, MR, INDIA_US, INDIA_IN = ("CFD U.S. Norming Data", "CFD-MR U.S. Norming Data",
                                "CFD-I U.S. Norming Data", "CFD-I INDIA Norming Data")


@pytest.fixture()
def cfd(tmp_path, london16):
    """(the folder holding 'CFD Version 3.0', that folder)."""
    return tmp_path, build_cfd(tmp_path, london16)


def edit_workbook(top, change):
    wb = openpyxl.load_workbook(top / CFD_WORKBOOK)
    change(wb)
    wb.save(top / CFD_WORKBOOK)


def column_of(ws, label):
    return next(c.column for c in ws[8] if c.value == label)  # the VarLabel row


def test_cfd_as_shipped_joins_images_to_norming_rows(cfd):
    parent, top = cfd
    loaded, card = read_distribution("cfd", parent)
    f = loaded.manifest.frame
    assert read_distribution("cfd", top)[0].manifest.frame.equals(f)  # either root
    assert (len(f), f.subject_id.nunique()) == (15, 9)
    assert f.groupby("part").size().to_dict() == {"CFD": 9, "CFD-INDIA": 4, "CFD-MR": 2}
    assert all((top / p).is_file() for p in f.path)
    by = f.set_index("image_id")
    assert by.loc["CFD-BF-001-028-HC", ["subject_id", "ethnicity", "gender", "expression"]
                  ].tolist() == ["BF-001", "B", "F", "HC"]
    assert by.loc["CFD-AF-200-228-N", "age"] == "" and by.loc["CFD-AF-200-228-N",
                                                              "age_rated"] == "24.1"
    assert by.loc["CFD-MF-331-010-N", ["age", "age_rated"]].tolist() == ["22", "23.5"]
    # India keys have no dash; the -2 shot takes the -1 row; the known file/row mismatch
    assert by.loc["CFD-IF-601-519-N", "subject_id"] == "IF601-519"
    assert by.loc["CFD-IF-644-306-2-N", "subject_id"] == "IF644-306-1"
    assert by.loc["CFD-IM-719-221-N", "subject_id"] == "IM719-220"
    notes = " ".join(loaded.notes)
    assert "facial recognition software" in notes and "written permission" in notes
    assert "CFD-IF-644-306-2-N.jpg -> IF644-306-1" in notes
    assert "CFD-IM-719-221-N.jpg -> IM719-220" in notes
    assert "3 models have more than one image" in notes
    assert card.consent_status == "consented" and "facial recognition" in card.licence
    assert any("written permission" in x for x in card.limits)
    assert any("barely measurable" in x for x in card.limits)

    ds = load_dataset(DatasetConfig(name="cfd", root=parent, attributes=[
        "ethnicity", "gender", "age_band", "expression", "part"]))
    assert ds.label_sources == {"ethnicity": "self-reported", "gender": "self-reported",
                                "age_band": "self-reported (banded from age)",
                                "expression": "annotated", "part": "derived"}
    assert card.label_source("age_rated") == "annotated"
    assert set(ds.manifest.frame.loc[ds.manifest.frame.part == "CFD", "age_band"]) == {
        "unknown"}
    assert ds.notes[0].startswith("CFD licence") and ds.consent_warning == ""


def test_cfd_options_choose_parts_expressions_and_india_raters(cfd):
    parent, top = cfd
    f = read_distribution("cfd", parent, {"parts": ["CFD-MR"]})[0].manifest.frame
    assert f.image_id.tolist() == ["CFD-MF-331-010-N", "CFD-MM-312-002-N"]
    f = read_distribution("cfd", parent, {"expressions": ["N"]})[0].manifest.frame
    assert len(f) == 10 and set(f.expression) == {"N"}
    f = read_distribution("cfd", parent, {"parts": "CFD", "expressions": ["HC", "HO"]}
                          )[0].manifest.frame
    assert sorted(f.image_id) == ["CFD-BF-001-028-HC", "CFD-BF-001-029-HO",
                                  "CFD-WM-209-039-HC"]

    def indian_raters(wb):
        ws = wb[INDIA_IN]
        ws.cell(row=10, column=column_of(ws, "AgeRated"), value=33.5)  # IF601-519
    edit_workbook(top, indian_raters)
    us, _ = read_distribution("cfd", parent, {"parts": ["CFD-INDIA"]})
    ind, _ = read_distribution("cfd", parent, {"parts": ["CFD-INDIA"],
                                               "india_ratings": "India"})
    assert us.manifest.frame.age_rated.iloc[0] == "24.4"
    assert ind.manifest.frame.age_rated.iloc[0] == "33.5"
    assert any("'CFD-I INDIA Norming Data'" in n for n in ind.notes)
    for bad, match in [({"frames": 1}, "has no option 'frames'"),
                       ({"parts": ["CFD-X"]}, "dataset.options.parts"),
                       ({"expressions": []}, "dataset.options.expressions"),
                       ({"india_ratings": "UK"}, "dataset.options.india_ratings")]:
        with pytest.raises(DataError, match=match):
            read_distribution("cfd", parent, bad)


def test_cfd_finds_sheets_by_name_and_the_header_by_its_model_cell(cfd):
    parent, top = cfd
    before = read_distribution("cfd", parent)[0].manifest.frame

    def shuffle(wb):
        wb.move_sheet("CFD 3.0 Codebook", offset=4)  # norming data first, as in CFD 2.x
        wb.move_sheet(INDIA_US, offset=-2)
        wb[MAIN].insert_rows(1)  # one more title row
        wb[MAIN].cell(row=1, column=1, value="an extra title row")
        ws = wb[MR]  # an SD column: a VarID but no VarLabel
        ws.cell(row=7, column=ws.max_column + 1, value="R013_SD")
    edit_workbook(top, shuffle)
    wb = openpyxl.load_workbook(top / CFD_WORKBOOK, read_only=True)
    assert wb.sheetnames[0] == INDIA_US
    wb.close()
    assert read_distribution("cfd", parent)[0].manifest.frame.equals(before)


def test_cfd_lists_every_layout_problem_at_once(cfd):
    parent, top = cfd
    images = top / "Images"

    def break_it(wb):
        del wb[MR]
        ws = wb[MAIN]
        ws.cell(row=8, column=column_of(ws, "GenderSelf"), value="Gender")
    edit_workbook(top, break_it)
    (images / "CFD-INDIA" / "CFD-IF-601-519-N.jpg").unlink()  # a row without its image
    (images / "CFD-INDIA" / "CFD-IF-650-100-N.jpg").write_bytes(b"")  # image without a row
    (images / "CFD-MR" / "portrait.jpg").write_bytes(b"")  # not a CFD name
    (images / "CFD-MR" / ".DS_Store").write_bytes(b"")  # ignored
    with pytest.raises(DataError) as e:
        read_distribution("cfd", parent)
    problems = e.value.problems
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert f"no sheet '{MR}'" in text and CFD_WORKBOOK in text
    assert f"{CFD_WORKBOOK}, sheet '{MAIN}': no column 'GenderSelf'" in text
    assert f"sheet '{INDIA_US}': model 'IF601-519' has no image under Images/CFD-INDIA/" \
        in text
    assert f"Images/CFD-INDIA/CFD-IF-650-100-N.jpg: no row 'IF650-100' in {CFD_WORKBOOK}, " \
        f"sheet '{INDIA_US}'" in text
    assert "Images/CFD-MR/portrait.jpg: not a CFD image name" in text

    (top / CFD_WORKBOOK).unlink()
    with pytest.raises(DataError) as e:
        read_distribution("cfd", parent, {"parts": ["CFD"]})
    assert e.value.problems == [f"{top / CFD_WORKBOOK}: the norming workbook is missing"]
    with pytest.raises(DataError, match="not a CFD 3.0 distribution"):
        read_distribution("cfd", images)



def test_cfd_manifest_command_writes_what_the_adapter_reads(cfd, tmp_path):
    parent, _ = cfd
    out = tmp_path / "m.csv"
    r = fairbench_cli("datasets", "manifest", "cfd", "--root", str(parent), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "15 images of 9 people (cfd, adapter cfd)" in r.stdout
    m = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert m.columns.tolist() == ["image_id", "path", "subject_id", "part", "ethnicity",
                                  "gender", "age", "age_rated", "expression"]
    assert len(m) == 15
    r = fairbench_cli("datasets", "manifest", "cfd", "--root", str(parent), "-o", str(out),
                      "--option", "parts=[CFD-FR]")
    assert r.returncode == 2 and "dataset.options.parts" in r.stderr


def test_a_cfd_run_end_to_end_records_the_licence_notice(cfd, tmp_path):
    parent, _ = cfd
    ids = read_distribution("cfd", parent)[0].manifest.frame.image_id.tolist()
    run = run_on_random_templates({"name": "cfd", "root": str(parent),
                                   "attributes": ["gender"]}, ids, tmp_path)
    assert run.record["dataset"]["consent_warning"] == ""
    assert any("facial recognition software" in n for n in run.record["notes"])
    assert list((run.run_dir / "tables").glob("*.csv"))

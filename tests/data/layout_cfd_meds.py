"""Fixture builders that reproduce, as closely as public evidence allows, the on-disk
layouts of two face datasets as distributed:

* Chicago Face Database 3.0 (main set + CFD-MR + CFD-INDIA extension sets), and
* NIST Special Database 32, Multiple Encounter Dataset II (MEDS-II).

Pixels are stand-ins taken from the london16 fixture; every label value is FAKE.
Only the *layout* (folder names, file-name grammar, workbook sheet names, header
rows, column names, value spellings, CSV dialect) is meant to be faithful.

The sources of every layout decision are in the adapters' docstrings and the cards'
``sources:`` (fairbench/data/adapters/cfd.py, meds.py; fairbench/data/cards/cfd.yaml,
meds2.yaml). Points that public evidence did not settle are marked ``UNVERIFIED`` below.

    build_cfd(dst, london16)                  -> dst/"CFD Version 3.0"
    build_meds2(dst, london16, as_zip=False)  -> dst/"NIST_SD32_MEDS-II_face"
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import openpyxl

__all__ = ["build_cfd", "build_meds2", "CFD_ROOT_NAME", "CFD_WORKBOOK",
           "CFD_SHEETS", "MEDS2_ROOT_NAME", "MEDS2_ZIP_NAME"]

# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------


def _london(london16: Path, face_id: str, variant: str = "neutral") -> np.ndarray:
    path = Path(london16) / f"{face_id}_{variant}.jpg"
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    return img


def _on_canvas(face: np.ndarray, width: int, height: int,
               background: int = 255) -> np.ndarray:
    """Place a square face crop centred on a (white) canvas of the given size."""
    side = min(width, height)
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), background, np.uint8)
    y0, x0 = (height - side) // 2, (width - side) // 2
    canvas[y0:y0 + side, x0:x0 + side] = face
    return canvas


def _write_jpg(path: Path, img: np.ndarray, quality: int = 80) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"could not write {path}")


# ===========================================================================
# Chicago Face Database 3.0
# ===========================================================================

CFD_ROOT_NAME = "CFD Version 3.0"
CFD_WORKBOOK = "CFD 3.0 Norming Data and Codebook.xlsx"

#: Sheet names, in workbook order. Names verified; order: sheets 2-5 of the
#: xlsx hold norming data (one public loader reads xl/worksheets/sheet2..5.xml),
#: so sheet 1 = codebook is INFERRED; the relative order of the four norming
#: sheets is UNVERIFIED.
CFD_SHEETS = (
    "CFD 3.0 Codebook",
    "CFD U.S. Norming Data",
    "CFD-MR U.S. Norming Data",
    "CFD-I U.S. Norming Data",
    "CFD-I INDIA Norming Data",
)

#: Image sub-folder -> norming sheet(s).
CFD_SUBSET_SHEETS = {
    "CFD": ("CFD U.S. Norming Data",),
    "CFD-MR": ("CFD-MR U.S. Norming Data",),
    "CFD-INDIA": ("CFD-I U.S. Norming Data", "CFD-I INDIA Norming Data"),
}

# Norming-sheet geometry (0-indexed rows; verified by three independent public
# loaders): rows 0-5 preamble, row 6 = VarID row, row 7 = VarLabel row whose
# first cell is "Model", row 8 = sub-header row with an empty first cell,
# rows 9.. = one row per model (rated on the NEUTRAL image).
NORMING_ROW_VARID = 6
NORMING_ROW_LABEL = 7
NORMING_ROW_FIRST_DATA = 9

# Codebook geometry: header row (VarID, VarLabel, Description, ...) at 0-indexed
# row 11; the row right after it is not a variable (one loader drops it).
CODEBOOK_ROW_HEADER = 11

#: (VarID, VarLabel, description) of the columns the fixture writes.
#: VarIDs marked (*) are UNVERIFIED placeholders; all others appear in public code.
_COLS_COMMON = [
    ("S001", "EthnicitySelf", "Self-reported race/ethnicity of the model"),
    ("S002", "GenderSelf", "Self-reported gender of the model"),
    ("S003", "AgeSelf", "Self-reported age (populated for CFD-MR and CFD-INDIA only)"),  # (*) VarID
    ("R002", "AgeRated", "Mean rater estimate of age (years)"),
    ("R003", "FemaleProb", "Proportion of raters categorising the face as female"),
    ("R004", "MaleProb", "Proportion of raters categorising the face as male"),
    ("R006", "BlackProb", "Proportion of raters categorising the face as Black"),
    ("R010", "WhiteProb", "Proportion of raters categorising the face as White"),
    ("R011", "Afraid", "Mean rating 1-7"),
    ("R012", "Angry", "Mean rating 1-7"),
    ("ATTR", "Attractive", "Mean rating 1-7"),   # VarID filled per sheet: R013 / R013B
    ("R018", "Happy", "Mean rating 1-7"),
    ("R024", "Threatening", "Mean rating 1-7"),
    ("R025", "Trustworthy", "Mean rating 1-7"),
    ("P001", "LuminanceMedian", "Median luminance of the face region"),
    ("P002", "NoseWidth", "Physical measurement (pixels)"),
    ("P065", "fWHR2", "Face width-to-height ratio"),
]
#: CFD-MR additionally carries self-reported ancestry (column names verified in
#: public code; VarIDs (*) UNVERIFIED).
_COLS_MR_EXTRA = [
    ("S004", "AncestrySelf", "Self-reported ancestry (free text)"),  # (*)
    ("S005", "AncestryMotherSelf", "Self-reported ancestry of mother"),  # (*)
    ("S006", "AncestryFatherSelf", "Self-reported ancestry of father"),  # (*)
]


def _cfd_targets():
    """Fake targets. Key grammar and file grammar follow the real distribution.

    Each entry: (subset, model_key_in_sheet, image_relpaths_with_expressions,
                 eth, gender, age_self, age_rated, london_id)
    """
    return [
        # --- main set: one folder per model, folder name == sheet key ---------
        ("CFD", "AF-200", [("CFD/AF-200/CFD-AF-200-228-N.jpg", "N")],
         "A", "F", None, 24.1, "030"),
        ("CFD", "BF-001", [("CFD/BF-001/CFD-BF-001-025-N.jpg", "N"),
                           ("CFD/BF-001/CFD-BF-001-026-A.jpg", "A"),
                           ("CFD/BF-001/CFD-BF-001-027-F.jpg", "F"),
                           ("CFD/BF-001/CFD-BF-001-028-HC.jpg", "HC"),
                           ("CFD/BF-001/CFD-BF-001-029-HO.jpg", "HO")],
         "B", "F", None, 27.3, "025"),
        ("CFD", "LM-211", [("CFD/LM-211/CFD-LM-211-128-N.jpg", "N")],
         "L", "M", None, 29.8, "008"),
        ("CFD", "WM-209", [("CFD/WM-209/CFD-WM-209-038-N.jpg", "N"),
                           ("CFD/WM-209/CFD-WM-209-039-HC.jpg", "HC")],
         "W", "M", None, 31.0, "004"),
        # --- CFD-MR: flat folder, neutral only --------------------------------
        # EthnicitySelf value "M" is UNVERIFIED (filename race code is "M").
        ("CFD-MR", "MF-331", [("CFD-MR/CFD-MF-331-010-N.jpg", "N")],
         "M", "F", 22, 23.5, "006"),
        ("CFD-MR", "MM-312", [("CFD-MR/CFD-MM-312-002-N.jpg", "N")],
         "M", "M", 26, 27.9, "037"),
        # --- CFD-INDIA: mostly flat; sheet keys drop the dash after IF/IM -----
        # EthnicitySelf value "I" is UNVERIFIED (filename race code is "I").
        ("CFD-INDIA", "IF601-519", [("CFD-INDIA/CFD-IF-601-519-N.jpg", "N")],
         "I", "F", 21, 24.4, "038"),
        # Four real CFD-I models have two neutral shots (-1/-2) kept in a
        # sub-folder; only the -1 shot has a norming row. Sub-folder NAME is
        # UNVERIFIED.
        ("CFD-INDIA", "IF644-306-1",
         [("CFD-INDIA/IF-644-306/CFD-IF-644-306-1-N.jpg", "N"),
          ("CFD-INDIA/IF-644-306/CFD-IF-644-306-2-N.jpg", "N")],
         "I", "F", 25, 26.0, "034"),
        # Real quirk: file CFD-IM-719-221-N.jpg but sheet key IM719-220.
        ("CFD-INDIA", "IM719-220", [("CFD-INDIA/CFD-IM-719-221-N.jpg", "N")],
         "I", "M", 30, 31.7, "042"),
    ]


def _norming_sheet(ws, title: str, columns, rows) -> None:
    """Write one norming sheet in the CFD 3.0 geometry."""
    ws["A1"] = "Chicago Face Database (CFD) Version 3.0"   # preamble text UNVERIFIED
    ws["A2"] = title
    ws["A3"] = "Fixture for layout tests only; all values are fake."
    # rows 4-6 (1-based) left blank
    r_varid, r_label = NORMING_ROW_VARID + 1, NORMING_ROW_LABEL + 1  # 1-based
    r_data = NORMING_ROW_FIRST_DATA + 1
    ws.cell(row=r_varid, column=1, value=None)   # first VarID cell: UNVERIFIED (left empty)
    ws.cell(row=r_label, column=1, value="Model")
    for j, (var_id, label, _desc) in enumerate(columns, start=2):
        ws.cell(row=r_varid, column=j, value=var_id)
        ws.cell(row=r_label, column=j, value=label)
    # row 9 (1-based): "sub-header" row; first cell empty. Real content UNVERIFIED;
    # we put a marker in column 2 so the row is not blank.
    ws.cell(row=r_label + 1, column=2, value="(sub-header)")
    for i, row in enumerate(rows):
        for j, value in enumerate(row, start=1):
            ws.cell(row=r_data + i, column=j, value=value)


def _codebook_sheet(ws, all_columns) -> None:
    ws["A1"] = "Chicago Face Database (CFD) Version 3.0 - Codebook"  # UNVERIFIED text
    ws["A3"] = "Fixture for layout tests only."
    r_hdr = CODEBOOK_ROW_HEADER + 1  # 1-based
    for j, name in enumerate(("VarID", "VarLabel", "Description"), start=1):
        ws.cell(row=r_hdr, column=j, value=name)
    # row r_hdr+1 left blank (a real loader drops the first row after the header)
    seen = set()
    r = r_hdr + 2
    for var_id, label, desc in [("Model", "Model", "Model identifier")] + list(all_columns):
        if var_id in seen:
            continue
        seen.add(var_id)
        ws.cell(row=r, column=1, value=var_id)
        ws.cell(row=r, column=2, value=label)
        ws.cell(row=r, column=3, value=desc)
        r += 1


def _fake_row(key, eth, gender, age_self, age_rated, columns, seed):
    rng = np.random.default_rng(seed)
    values = {"EthnicitySelf": eth, "GenderSelf": gender, "AgeSelf": age_self,
              "AgeRated": age_rated}
    values["FemaleProb"] = 0.95 if gender == "F" else 0.03
    values["MaleProb"] = round(1 - values["FemaleProb"], 2)
    values["BlackProb"] = 0.9 if eth == "B" else 0.05
    values["WhiteProb"] = 0.9 if eth == "W" else 0.05
    values["AncestrySelf"] = "fake ancestry text"
    values["AncestryMotherSelf"] = "fake"
    values["AncestryFatherSelf"] = "fake"
    row = [key]
    for _vid, label, _d in columns:
        if label in values:
            row.append(values[label])
        else:
            row.append(round(float(rng.uniform(1, 7)), 3))
    return row


def build_cfd(dst: Path, london16: Path) -> Path:
    """Write a tiny CFD 3.0 tree under ``dst / "CFD Version 3.0"``.

    Layout::

        CFD Version 3.0/
            CFD 3.0 Norming Data and Codebook.xlsx
            Images/
                CFD/<Model>/CFD-<Model>-<nnn>-<EXPR>.jpg      EXPR in N A F HC HO
                CFD-MR/CFD-M<G>-<nnn>-<nnn>-N.jpg              (flat)
                CFD-INDIA/CFD-I<G>-<nnn>-<nnn>-N.jpg           (flat)
                CFD-INDIA/<sub>/CFD-I<G>-<nnn>-<nnn>-{1,2}-N.jpg  (4 real replicates)
    """
    dst = Path(dst)
    root = dst / CFD_ROOT_NAME
    images = root / "Images"
    targets = _cfd_targets()

    # --- images: CFD originals are 2444x1718 (landscape) JPEG on a white
    # background; stand-ins are written at 1/10 scale (244x172).
    expr_variant = {"N": "neutral", "A": "neutral", "F": "neutral",
                    "HC": "smiling", "HO": "smiling"}
    for _subset, _key, files, *_rest, london_id in targets:
        for rel, expr in files:
            face = _london(london16, london_id, expr_variant[expr])
            _write_jpg(images / rel, _on_canvas(face, 244, 172))

    # --- workbook
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    sheets = {name: wb.create_sheet(name) for name in CFD_SHEETS}

    def cols_for(sheet_name):
        attr_id = "R013B" if sheet_name.startswith("CFD-I ") else "R013"
        cols = [(attr_id if v == "ATTR" else v, lab, d) for v, lab, d in _COLS_COMMON]
        if sheet_name.startswith("CFD-MR"):
            cols += _COLS_MR_EXTRA
        return cols

    all_cols = []
    for sheet_name in CFD_SHEETS[1:]:
        cols = cols_for(sheet_name)
        all_cols += cols
        rows = []
        for n, (subset, key, _files, eth, gender, age_self, age_rated, _lid) in enumerate(targets):
            if sheet_name not in CFD_SUBSET_SHEETS[subset]:
                continue
            rows.append(_fake_row(key, eth, gender, age_self, age_rated, cols,
                                  seed=zlib.crc32(f"{sheet_name}:{n}".encode())))
        _norming_sheet(sheets[sheet_name], sheet_name, cols, rows)
    _codebook_sheet(sheets[CFD_SHEETS[0]], all_cols)

    root.mkdir(parents=True, exist_ok=True)
    wb.save(root / CFD_WORKBOOK)
    return root


# ===========================================================================
# NIST SD32 MEDS-II
# ===========================================================================

MEDS2_ZIP_NAME = "NIST_SD32_MEDS-II_face.zip"
MEDS2_ROOT_NAME = "NIST_SD32_MEDS-II_face"   # folder we unpack the zip into

# Metadata CSVs: column headers verified byte-for-byte against the copies that
# OpenBR committed (biometrics/openbr data/MEDS/truth/*.csv, CRLF line ends).
# That these three files ship at the ZIP ROOT under these names is INFERRED from
# their img_dname values ("./data/aa") and is UNVERIFIED.
MEDS2_SUBJECT_CSV = "subject_metadata.csv"
MEDS2_POSE_CSV = "image_pose.csv"
MEDS2_LANDMARK_CSV = "image_landmarks.csv"

SUBJECT_COLUMNS = ["img_dname", "img_name", "subject_id", "enc_num", "img_num",
                   "subject_imgcount", "age_phd", "no_phd", "inv_phd", "sex", "rac",
                   "hgt", "wgt", "img_width", "img_height", "color_space", "label"]
POSE_COLUMNS = ["img_dname", "img_fname", "human_review_bin_label", "pose_result_type",
                "pp_default_roll", "pp_default_yaw", "pp_default_pitch",
                "manual_edited_roll", "manual_edited_yaw", "manual_edited_pitch"]
_STASM_POINTS = [
    "right_temple", "right_zygion", "right_cheek_top", "right_cheek_bottom",
    "right_gonion", "right_chin_top", "right_chin_bottom", "menton",
    "left_chin_bottom", "left_chin_top", "left_gonion", "left_cheek_bottom",
    "left_cheek_top", "left_zygion", "left_temple", "left_eyebrow_outer",
    "left_eyebrow_outer_top", "left_eyebrow_inner_top", "left_eyebrow_inner",
    "left_eyebrow_inner_bottom", "left_eyebrow_outer_bottom", "right_eyebrow_outer",
    "right_eyebrow_outer_top", "right_eyebrow_inner_top", "right_eyebrow_inner",
    "right_eyebrow_inner_bottom", "right_eyebrow_outer_bottom", "right_eye_outer",
    "right_eye_top", "right_eye_inner", "right_eye_bottom", "right_pupil",
    "left_eye_outer", "left_eye_top", "left_eye_inner", "left_eye_bottom",
    "left_pupil", "right_nasion", "right_alare_crease", "right_alare",
    "right_nostril", "subnasale", "left_nostril", "left_alare", "left_alare_crease",
    "left_nasion", "right_nose_tip", "left_nose_tip", "right_chelion",
    "right_lip_outer_top", "right_lip_inner_top", "lip_top", "left_lip_inner_top",
    "left_lip_outer_top", "left_chelion", "left_lip_outer_bottom",
    "left_lip_inner_bottom", "lip_bottom", "right_lip_inner_bottom",
    "right_lip_outer_bottom", "right_lip_bottom_center", "bottom_stomion",
    "left_lip_bottom_center", "left_lip_top_center", "top_stomion",
    "right_lip_top_center", "stomion", "pronasale",
]
LANDMARK_COLUMNS = (["img_dname", "img_fname", "label", "stasm_result_type"]
                    + [f"{p}_{a}" for p in _STASM_POINTS for a in ("x", "y")])

#: Value vocabularies seen in the real subject_metadata.csv.
MEDS2_SEX = ("M", "F")
MEDS2_RACE = ("A", "B", "I", "U", "W")   # Asian, Black, American Indian, Unknown, White
MEDS2_POSE = ("Frontal", "Left Angle", "Right Angle", "Left Profile", "Right Profile")
MEDS2_COLOR = ("RGB", "Gray")


def _meds_images():
    """Fake encounters. File grammar S<sss>-<ee>-t10_<nn>.jpg; 'data/<xx>' folders
    are 200-image chunks (aa..ag) in the real set, *not* one folder per subject.

    (dname, subject, enc, t10, subject_imgcount, age, no_phd, inv_phd, sex, rac,
     hgt, wgt, width, height, color, pose, london_id)
    """
    return [
        ("aa", 1, 1, 1, 1, 30.12, 0, 0, "F", "W", 503, 140, 96, 120, "RGB", "Frontal", "001"),
        ("aa", 1, 2, 1, 2, 31.40, 0, 0, "F", "W", 503, 145, 96, 120, "RGB", "Frontal", "001"),
        # one encounter with three Type-10 records (frontal-ish + two profiles)
        ("aa", 1, 3, 1, 3, 33.05, 0, 0, "F", "W", 504, 150, 96, 120, "RGB", "Left Angle", "001"),
        ("aa", 1, 3, 2, 4, 33.05, 0, 0, "F", "W", 504, 150, 96, 120, "RGB", "Left Profile", "001"),
        ("aa", 1, 3, 3, 5, 33.05, 0, 0, "F", "W", 504, 150, 96, 120, "RGB", "Right Profile", "001"),
        ("aa", 2, 1, 1, 1, 19.50, 1, 0, "M", "B", 0, 170, 77, 96, "RGB", "Frontal", "043"),
        ("aa", 3, 1, 1, 1, 45.00, 0, 0, "M", "U", 509, 180, 96, 120, "RGB", "Right Angle", "012"),
        # a subject straddling two chunk folders (happens 21x in the real set)
        ("aa", 4, 1, 1, 1, 27.70, 0, 0, "M", "I", 0, 290, 96, 120, "RGB", "Frontal", "037"),
        ("ab", 4, 2, 1, 2, 28.90, 0, 1, "M", "I", 0, 290, 96, 120, "RGB", "Frontal", "037"),
        ("ab", 5, 1, 1, 1, 36.20, 0, 0, "M", "A", 507, 160, 60, 60, "Gray", "Frontal", "024"),
        # age 0.0 with no_phd=1 occurs in the real set (missing photo date)
        ("ab", 6, 1, 1, 1, 0.0, 1, 0, "M", "B", 507, 130, 96, 72, "RGB", "Frontal", "042"),
    ]


def _fname(subject: int, enc: int, t10: int) -> str:
    return f"S{subject:03d}-{enc:02d}-t10_{t10:02d}.jpg"


def _write_crlf_csv(path: Path, header, rows) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("ascii"))


def _fmt(x):
    """Match the real CSV's number style: ints bare, floats without trailing .0."""
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:g}" if x != int(x) else str(int(x))
    return str(x)


def build_meds2(dst: Path, london16: Path, as_zip: bool = False) -> Path:
    """Write a tiny MEDS-II tree under ``dst / "NIST_SD32_MEDS-II_face"``.

    Layout (zip root == that folder)::

        NIST_SD32_MEDS-II_face/
            subject_metadata.csv      (UNVERIFIED name/location; headers verified)
            image_pose.csv            (idem)
            image_landmarks.csv       (idem)
            data/aa/S001-01-t10_01.jpg ...
            data/ab/...

    With ``as_zip=True`` also writes ``dst / "NIST_SD32_MEDS-II_face.zip"`` whose
    members are the same relative paths (``data/aa/...`` at the zip root).
    """
    dst = Path(dst)
    root = dst / MEDS2_ROOT_NAME
    subj_rows, pose_rows, lm_rows = [], [], []
    rng = np.random.default_rng(32)
    for (dname, subject, enc, t10, count, age, no_phd, inv_phd, sex, rac, hgt, wgt,
         width, height, color, pose, london_id) in _meds_images():
        name = _fname(subject, enc, t10)
        face = _london(london16, london_id, "neutral")
        img = _on_canvas(face, width, height, background=200)
        if color == "Gray":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        _write_jpg(root / "data" / dname / name, img)
        d = f"./data/{dname}"
        subj_rows.append([d, name, subject, enc, t10, count, _fmt(age), no_phd, inv_phd,
                          sex, rac, hgt, wgt, width, height, color, pose])
        manual = pose != "Frontal" and t10 == 1
        yaw = {"Frontal": 2, "Left Angle": -15, "Right Angle": 12,
               "Left Profile": -77, "Right Profile": 75}[pose]
        pose_rows.append([d, name, pose, "Manual" if manual else "Automatic", -1, yaw, 0]
                         + ([-1, yaw, 5] if manual else ["", "", ""]))
        if "Profile" in pose:
            lm_rows.append([d, name, pose, "No STASM Output"] + [""] * (2 * len(_STASM_POINTS)))
        else:
            pts = rng.uniform([0, 0], [width, height], size=(len(_STASM_POINTS), 2))
            lm_rows.append([d, name, pose, "AUTO"]
                           + [_fmt(round(float(v), 2)) for v in pts.ravel()])

    _write_crlf_csv(root / MEDS2_SUBJECT_CSV, SUBJECT_COLUMNS, subj_rows)
    _write_crlf_csv(root / MEDS2_POSE_CSV, POSE_COLUMNS, pose_rows)
    _write_crlf_csv(root / MEDS2_LANDMARK_CSV, LANDMARK_COLUMNS, lm_rows)

    if as_zip:
        with zipfile.ZipFile(dst / MEDS2_ZIP_NAME, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    zf.write(p, p.relative_to(root).as_posix())
    return root

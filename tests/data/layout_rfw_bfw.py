"""Tiny fixtures in the distribution layouts of RFW and BFW (research notes behind every
format decision: docs of the datasets and the public loaders cited in their cards).

Pure functions (no network, deterministic output) that write stand-in datasets
whose folders, file names and metadata formats mirror what the upstream
archives contain, so that adapters can be tested without the licensed data.
Pixels come from the london16 fixture (``NNN_neutral.jpg`` / ``NNN_smiling.jpg``
plus ``labels.csv``); race/ethnicity assignments are FAKE (layout test only).


RFW  (extracted ``test.tar.gz``; archive members start with ``test/``)::

    <dst>/test/data/<Race>/<mid>/<mid>_<NNNN>.jpg        Race in African|Asian|Caucasian|Indian
    <dst>/test/txts/<Race>/<Race>_images.txt             "<mid>_<NNNN>.jpg\t<label>"
    <dst>/test/txts/<Race>/<Race>_people.txt             "<mid>\t<n_images>"  (label = 0-based row)
    <dst>/test/txts/<Race>/<Race>_lmk.txt
        "/test/data/<Race>/<mid>/<file>\t<label>\t<10 floats>"
    <dst>/test/txts/<Race>/<Race>_pairs.txt
        genuine "<mid>\t<n1>\t<n2>", impostor "<mid1>\t<n1>\t<mid2>\t<n2>"

  Real pair files: 6000 lines, 10 folds x 600 consecutive lines, each fold = 300
  genuine lines then 300 impostor lines, no header.  The fixture keeps the
  ordering rule but uses ``RFW_FIXTURE_GENUINE_PER_FOLD`` genuine +
  the same number of impostor lines per fold, ``RFW_FIXTURE_FOLDS`` folds.

BFW  (``layout="release"``: current Dropbox ``BFW-Release.zip`` extracted)::

    <dst>/bfw-datatable.csv                               17 columns, see BFW_COLUMNS
    <dst>/bfw-faces-cropped.zip                           inner image archive
    <dst>/bfw-faces-cropped.md5                           "<md5 hex>  bfw-faces-cropped.zip"
    <dst>/bfw-faces-cropped/Users/jrobby/bfw/bfw-cropped-aligned/
        <att>/<nNNNNNN>/<IIII>_<FF>.jpg    (the inner zip, extracted; extract=False skips)

    (``layout="v0.1.5"``: legacy form-download layout)
    <dst>/bfw-v0.1.5-datatable.csv
    <dst>/Users/jrobby/bfw/bfw-cropped-aligned/<att>/<nNNNNNN>/<IIII>_<FF>.jpg

  CSV ``p1``/``p2`` are relative to the folder holding the 8 subgroup folders,
  e.g. ``asian_females/n000009/0010_01.jpg``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "RFW_RACES",
    "BFW_SUBGROUPS",
    "BFW_COLUMNS",
    "build_rfw",
    "build_bfw",
    "build_all",
]

# ----------------------------------------------------------------------------
# constants (value spellings exactly as distributed)
# ----------------------------------------------------------------------------
RFW_RACES = ("African", "Asian", "Caucasian", "Indian")
RFW_IMAGE_SIZE = 400            # loose crops; landmark coordinates lie in [0, 400)
RFW_FIXTURE_FOLDS = 2           # real: 10
RFW_FIXTURE_GENUINE_PER_FOLD = 2  # real: 300 (and 300 impostor)

BFW_SUBGROUPS = (
    "asian_females", "asian_males", "black_females", "black_males",
    "indian_females", "indian_males", "white_females", "white_males",
)
BFW_COLUMNS = (
    "fold", "p1", "p2", "label", "id1", "id2", "att1", "att2",
    "vgg16", "resnet50", "senet50", "a1", "a2", "g1", "g2", "e1", "e2",
)
BFW_FOLDS = 5
BFW_IMAGE_SIZE = (112, 112)     # (h, w) stand-in; real crop size not verified
BFW_RELEASE_IMAGE_PREFIX = "Users/jrobby/bfw/bfw-cropped-aligned"

# london16 'eth' -> fake dataset group (stand-in only; not a claim about anyone)
_FAKE_RFW_RACE = {"black": "African", "east_asian": "Asian",
                  "white": "Caucasian", "west_asian": "Indian"}
_FAKE_BFW_ETH = {"black": "black", "east_asian": "asian",
                 "white": "white", "west_asian": "indian"}
_BFW_GENDER_WORD = {"female": "females", "male": "males"}

_JPEG_QUALITY = 80


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _read_labels(london16: Path) -> list[dict]:
    """One record per face_id: {face_id, sex, eth, files: [neutral, smiling]}."""
    with open(london16 / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    faces: dict[str, dict] = {}
    for r in rows:
        rec = faces.setdefault(r["face_id"], {"face_id": r["face_id"], "sex": r["sex"],
                                              "eth": r["eth"], "files": {}})
        rec["files"][r["variant"]] = r["file"]
    out = []
    for fid in sorted(faces):
        rec = faces[fid]
        rec["files"] = [rec["files"]["neutral"], rec["files"]["smiling"]]
        out.append(rec)
    return out


def _load(london16: Path, name: str) -> np.ndarray:
    img = cv2.imread(str(london16 / name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(london16 / name)
    return img


def _jpeg_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")


def _variants(img: np.ndarray, n: int) -> list[np.ndarray]:
    """n deterministic stand-in images of one identity from 2 source shots."""
    out = [img[0], img[1]]
    k = 0
    while len(out) < n:
        base = img[k % 2]
        out.append(cv2.flip(base, 1) if (k // 2) % 2 == 0 else
                   cv2.convertScaleAbs(base, alpha=0.9, beta=10))
        k += 1
    return out[:n]


# ----------------------------------------------------------------------------
# RFW
# ----------------------------------------------------------------------------
def _rfw_identities(faces: list[dict]) -> dict[str, list[dict]]:
    """Race -> list of identities {mid, face_id, indices}."""
    by_race: dict[str, list[dict]] = {r: [] for r in RFW_RACES}
    for f in faces:
        by_race[_FAKE_RFW_RACE[f["eth"]]].append(f)
    ids: dict[str, list[dict]] = {}
    for race in RFW_RACES:
        lst = []
        for j, f in enumerate(by_race[race]):
            # Freebase-MID-like ids; j == 1 contains '__' like the real 'm.0b__05j'
            mid = f"m.0fx{f['face_id']}" if j != 1 else f"m.0b__{f['face_id']}x"
            # image numbers are per-identity indices, zero-padded to 4 in file names;
            # j == 2 uses a non-contiguous set (1, 3) and j == 0 has three images.
            indices = {0: [1, 2, 3], 2: [1, 3]}.get(j, [1, 2])
            lst.append({"mid": mid, "face": f, "indices": indices})
        ids[race] = lst
    return ids


def _rfw_pairs(idents: list[dict]) -> list[str]:
    """Fold blocks of G genuine lines followed by G impostor lines."""
    gen, imp = [], []
    for it in idents:
        idx = it["indices"]
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                gen.append(f"{it['mid']}\t{idx[a]}\t{idx[b]}")
    n = len(idents)
    for a in range(n):
        for b in range(a + 1, n):
            ia, ib = idents[a], idents[b]
            imp.append(f"{ia['mid']}\t{ia['indices'][-1]}\t{ib['mid']}\t{ib['indices'][0]}")
    g = RFW_FIXTURE_GENUINE_PER_FOLD
    need = g * RFW_FIXTURE_FOLDS
    gen = (gen * ((need // max(len(gen), 1)) + 1))[:need]
    imp = (imp * ((need // max(len(imp), 1)) + 1))[:need]
    lines: list[str] = []
    for k in range(RFW_FIXTURE_FOLDS):
        lines += gen[k * g:(k + 1) * g]
        lines += imp[k * g:(k + 1) * g]
    return lines


def _rfw_landmarks(rng: np.random.Generator) -> list[float]:
    """Five points in image coordinates, order: eye(img-left), eye(img-right),
    nose, mouth corner(img-left), mouth corner(img-right) -> x1 y1 ... x5 y5."""
    base = np.array([160.5, 180.0, 239.5, 180.0, 200.0, 230.0, 165.0, 275.0, 235.0, 275.0])
    jitter = rng.normal(0.0, 2.0, size=10)
    jitter[[1, 3]] = 0.0       # eye rows are constant (180.0) in observed samples
    return [round(float(v), 1) for v in base + jitter]


def build_rfw(dst: Path, london16: Path, *, archive: bool = False,
              cross_race_duplicate: bool = True) -> None:
    """Write an RFW test-set fixture under ``dst`` (``dst/test/...``).

    archive=True additionally writes ``dst/test.tar.gz`` holding the same
    members (``test/data/...``, ``test/txts/...``), as the download is a tarball.
    cross_race_duplicate=True reuses one identity id in two race folders, a
    documented quirk of the real data (12-13 MIDs appear under two races).
    """
    dst, london16 = Path(dst), Path(london16)
    rng = np.random.default_rng(1234)
    faces = _read_labels(london16)
    ids = _rfw_identities(faces)
    if cross_race_duplicate:
        # the last Indian identity reuses the first Caucasian MID (different pixels)
        ids["Indian"][-1]["mid"] = ids["Caucasian"][0]["mid"]

    members: dict[str, bytes] = {}
    for race in RFW_RACES:
        images_lines, people_lines, lmk_lines = [], [], []
        for label, it in enumerate(ids[race]):
            f = it["face"]
            src = [_load(london16, f["files"][0]), _load(london16, f["files"][1])]
            src = [cv2.resize(s, (RFW_IMAGE_SIZE, RFW_IMAGE_SIZE),
                              interpolation=cv2.INTER_LINEAR) for s in src]
            pics = _variants(src, len(it["indices"]))
            people_lines.append(f"{it['mid']}\t{len(it['indices'])}")
            for n, pic in zip(it["indices"], pics):
                fname = f"{it['mid']}_{n:04d}.jpg"
                rel = f"test/data/{race}/{it['mid']}/{fname}"
                members[rel] = _jpeg_bytes(pic)
                images_lines.append(f"{fname}\t{label}")
                pts = "\t".join(f"{v:.1f}" for v in _rfw_landmarks(rng))
                lmk_lines.append(f"/{rel}\t{label}\t{pts}")
        txt = f"test/txts/{race}"
        for name, lines in ((f"{race}_images.txt", images_lines),
                            (f"{race}_people.txt", people_lines),
                            (f"{race}_lmk.txt", lmk_lines),
                            (f"{race}_pairs.txt", _rfw_pairs(ids[race]))):
            members[f"{txt}/{name}"] = ("".join(line + "\n" for line in lines)).encode("utf-8")

    for rel, data in sorted(members.items()):
        _write_bytes(dst / rel, data)
    if archive:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w") as tar:  # reproducible bytes
            for rel, data in sorted(members.items()):
                info = tarfile.TarInfo(rel)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
        _write_bytes(dst / "test.tar.gz", buf.getvalue())


# ----------------------------------------------------------------------------
# BFW
# ----------------------------------------------------------------------------
def _bfw_subjects(faces: list[dict]) -> list[dict]:
    subs = []
    for f in faces:
        att = f"{_FAKE_BFW_ETH[f['eth']]}_{_BFW_GENDER_WORD[f['sex']]}"
        # VGGFace2-style class id 'n' + 6 digits
        subs.append({"att": att, "subject": f"n{int(f['face_id']) * 37 + 9:06d}", "face": f})
    subs.sort(key=lambda s: (s["att"], s["subject"]))
    # id = LabelEncoder over sorted "att/subject" strings (0..M-1)
    for i, s in enumerate(subs):
        s["id"] = i
    # subject-disjoint folds 1..5, round robin
    for i, s in enumerate(subs):
        s["fold"] = (i % BFW_FOLDS) + 1
    return subs


def _tags(att: str) -> tuple[str, str, str]:
    eth, gen = att.split("_")
    e, g = eth[0].upper(), gen[0].upper()
    return e + g, g, e


def build_bfw(dst: Path, london16: Path, *, layout: str = "release",
              extract: bool = True) -> None:
    """Write a BFW fixture under ``dst``.

    layout="release": ``bfw-datatable.csv`` + ``bfw-faces-cropped.zip`` (+ .md5);
      extract=True also writes the inner zip's tree under ``bfw-faces-cropped/``.
    layout="v0.1.5": ``bfw-v0.1.5-datatable.csv`` + extracted
      ``Users/jrobby/bfw/bfw-cropped-aligned/`` tree.
    """
    if layout not in ("release", "v0.1.5"):
        raise ValueError(f"unknown layout {layout!r}")
    dst, london16 = Path(dst), Path(london16)
    rng = np.random.default_rng(5678)
    subs = _bfw_subjects(_read_labels(london16))

    images: dict[str, bytes] = {}      # rel path under the subgroup root -> bytes
    for k, s in enumerate(subs):
        f = s["face"]
        src = [_load(london16, f["files"][0]), _load(london16, f["files"][1])]
        h, w = BFW_IMAGE_SIZE
        src = [cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA) for x in src]
        n_img = 3 if k % 4 == 0 else 2
        pics = _variants(src, n_img)
        names = []
        for j, pic in enumerate(pics):
            # VGGFace2 naming '<imageID>_<faceID>.jpg'; a '_02' face index appears too
            name = f"{(int(f['face_id']) * 13 + 7 * j) % 10000:04d}_{1 + (j == 2):02d}.jpg"
            rel = f"{s['att']}/{s['subject']}/{name}"
            images[rel] = _jpeg_bytes(pic)
            names.append(rel)
        s["images"] = names

    rows: list[dict] = []

    def add(a: dict, pa: str, b: dict, pb: str, label: int) -> None:
        a1, g1, e1 = _tags(a["att"])
        a2, g2, e2 = _tags(b["att"])
        base = 0.65 if label else 0.25
        sc = [round(float(base + rng.normal(0, 0.08)), 6) for _ in range(3)]
        rows.append({"fold": a["fold"], "p1": pa, "p2": pb, "label": label,
                     "id1": a["id"], "id2": b["id"], "att1": a["att"], "att2": b["att"],
                     "vgg16": sc[0], "resnet50": sc[1], "senet50": sc[2],
                     "a1": a1, "a2": a2, "g1": g1, "g2": g2, "e1": e1, "e2": e2})

    for fold in range(1, BFW_FOLDS + 1):
        in_fold = [s for s in subs if s["fold"] == fold]
        for s in in_fold:                                   # genuine: all pairs per subject
            im = s["images"]
            for i in range(len(im)):
                for j in range(i + 1, len(im)):
                    add(s, im[i], s, im[j], 1)
        for i in range(len(in_fold)):                       # impostor: same fold only
            for j in range(i + 1, len(in_fold)):
                a, b = in_fold[i], in_fold[j]
                add(a, a["images"][0], b, b["images"][-1], 0)

    csv_buf = io.StringIO()
    wr = csv.DictWriter(csv_buf, fieldnames=list(BFW_COLUMNS), lineterminator="\n")
    wr.writeheader()
    wr.writerows(rows)
    csv_bytes = csv_buf.getvalue().encode("utf-8")

    if layout == "v0.1.5":
        _write_bytes(dst / "bfw-v0.1.5-datatable.csv", csv_bytes)
        for rel, data in sorted(images.items()):
            _write_bytes(dst / BFW_RELEASE_IMAGE_PREFIX / rel, data)
        return

    _write_bytes(dst / "bfw-datatable.csv", csv_bytes)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", compression=zipfile.ZIP_STORED) as zf:
        for rel, data in sorted(images.items()):
            zi = zipfile.ZipInfo(f"{BFW_RELEASE_IMAGE_PREFIX}/{rel}",
                                 date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(zi, data)
    zbytes = zbuf.getvalue()
    _write_bytes(dst / "bfw-faces-cropped.zip", zbytes)
    _write_lines(dst / "bfw-faces-cropped.md5",
                 [f"{hashlib.md5(zbytes).hexdigest()}  bfw-faces-cropped.zip"])
    if extract:
        for rel, data in sorted(images.items()):
            _write_bytes(dst / "bfw-faces-cropped" / BFW_RELEASE_IMAGE_PREFIX / rel, data)


def build_all(dst: Path, london16: Path) -> None:
    dst = Path(dst)
    build_rfw(dst / "rfw", london16)
    build_bfw(dst / "bfw", london16)


if __name__ == "__main__":  # pragma: no cover
    import sys
    build_all(Path(sys.argv[1]), Path(sys.argv[2]))

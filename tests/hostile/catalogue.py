"""The hostile-input catalogue: every case a user (or an attacker) can hand fairbench, what
must happen, and how it is checked. docs/robustness.md is generated from it
(``python -m tests.hostile.catalogue > docs/robustness.md``), and a test keeps the two equal.

A case prepares its files in a temporary folder and returns the command to run; the test
runs it in-process and checks the exit status, that no exception escaped (no traceback),
the message, and that no result was left half-written.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Case:
    id: str
    area: str
    what: str
    outcome: str  # what the user gets (for the table)
    setup: Callable[..., list[str]]
    code: int = 2
    says: tuple[str, ...] = ()
    needs: tuple[str, ...] = ("study",)  # fixtures the setup takes
    no_output: bool = True  # nothing appears under out/
    recorded: tuple[str, str] = ("", "")  # (failure_reason prefix, how many) in images.csv


CASES: list[Case] = []


def case(id: str, area: str, what: str, outcome: str, code: int = 2,
         says: tuple[str, ...] = (), needs: tuple[str, ...] = ("study",),
         no_output: bool = True, recorded: tuple[str, str] = ("", "")
         ) -> Callable[[Callable[..., list[str]]], Callable[..., list[str]]]:
    def register(fn: Callable[..., list[str]]) -> Callable[..., list[str]]:
        CASES.append(Case(id, area, what, outcome, fn, code, says, needs, no_output,
                          recorded))
        return fn
    return register


def run_args(d: Path, cfg: str = "c.yaml") -> list[str]:
    return ["run", str(d / cfg), "-o", str(d / "out"), "--no-progress"]


def edit(d: Path, old: str, new: str, name: str = "c.yaml") -> None:
    p = d / name
    text = p.read_text()
    assert old in text, (old, text)
    p.write_text(text.replace(old, new))


def append(d: Path, text: str) -> None:
    (d / "c.yaml").write_text((d / "c.yaml").read_text() + text)


# --- configs ------------------------------------------------------------------------------
@case("config-unknown-key", "config", "a key no section has", "exit 2 naming the key",
      says=("extra: unknown key",))
def _(study):
    append(study, "extra: 1\n")
    return run_args(study)


@case("config-wrong-type", "config", "a number where a list belongs", "exit 2 naming the key",
      says=("verification.target_fmr",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: lots")
    return run_args(study)


@case("config-duplicate-key", "config", "the same key twice in a mapping",
      "exit 2 naming the key and both lines", says=("'matcher' appears twice (lines 2 and 4)",))
def _(study):
    append(study, "matcher: {name: dlib}\n")
    return run_args(study)


@case("config-billion-laughs", "config", "a 1 KB file whose aliases expand to 10^9 values",
      "exit 2 at once, nothing expanded", says=("through its aliases",))
def _(study):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{k}: &a{k} [{','.join([f'*a{k - 1}'] * 10)}]" for k in range(1, 9)]
    (study / "c.yaml").write_text("\n".join(lines) + "\ndataset: {name: *a8}\n")
    return run_args(study)


@case("config-aliases-in-params", "config", "runaway aliases inside free-form matcher params",
      "exit 2", says=("through its aliases",))
def _(study):
    lines = ['x0: &x0 [1,1,1,1,1,1,1,1,1,1]']
    lines += [f"x{k}: &x{k} [{','.join([f'*x{k - 1}'] * 10)}]" for k in range(1, 7)]
    text = (study / "c.yaml").read_text().replace("params: {path: e.npz}",
                                                  "params: {path: e.npz, junk: *x6}")
    (study / "c.yaml").write_text("\n".join(lines) + "\n" + text)
    return run_args(study)


@case("config-not-utf8", "config", "a config saved as Latin-1", "exit 2: not UTF-8",
      says=("not UTF-8",))
def _(study):
    (study / "c.yaml").write_bytes((study / "c.yaml").read_bytes() + "# caf\xe9\n".encode(
        "latin-1"))
    return run_args(study)


@case("config-nan-threshold", "config", "a fixed threshold of .nan", "exit 2",
      says=("finite",))
def _(study):
    append(study, "")
    edit(study, "target_fmr: [0.1]", "target_fmr: [0.1], fixed_thresholds: [.nan]")
    return run_args(study)


@case("config-inf-threshold", "config", "a fixed threshold of .inf", "exit 2",
      says=("finite",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: [0.1], fixed_thresholds: [.inf]")
    return run_args(study)


@case("config-nan-target", "config", "a target FMR of .nan", "exit 2",
      says=("strictly between 0 and 1",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: [.nan]")
    return run_args(study)


@case("config-target-out-of-range", "config", "a target FMR of 1.5", "exit 2",
      says=("strictly between 0 and 1",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: [1.5]")
    return run_args(study)


@case("config-no-operating-point", "config", "an empty target_fmr and no fixed threshold",
      "exit 2", says=("at least one operating point",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: []")
    return run_args(study)


@case("config-duplicate-attribute", "config", "the same attribute listed twice", "exit 2",
      says=("more than once",))
def _(study):
    edit(study, "attributes: [grp, sex]", "attributes: [grp, grp]")
    return run_args(study)


@case("config-huge-block", "config", "a block_size of 10^9", "exit 2 (bounded)",
      says=("block_size",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: [0.1], block_size: 1000000000")
    return run_args(study)


@case("config-huge-histogram", "config", "more histogram bins than memory holds", "exit 2",
      says=("histogram_bins",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: [0.1], histogram_bins: 100000000")
    return run_args(study)


@case("config-huge-bootstrap", "config", "10^9 bootstrap replicates", "exit 2 (bounded)",
      says=("replicates",))
def _(study):
    edit(study, "replicates: 10", "replicates: 1000000000")
    return run_args(study)


@case("config-unknown-reference-group", "config", "a reference group the data lacks",
      "exit 2 before any work, with did-you-mean", says=("Did you mean 'a'", "groups of grp"))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: [0.1], reference_group: {grp: aa}")
    return run_args(study)


@case("config-unknown-reference-attribute", "config", "a reference group of no attribute",
      "exit 2 with did-you-mean", says=("Did you mean 'grp'",))
def _(study):
    edit(study, "target_fmr: [0.1]", "target_fmr: [0.1], reference_group: {gpr: a}")
    return run_args(study)


@case("config-stray-section", "config", "an identification: section under mode verification",
      "exit 2 naming the section", says=("identification", "not used by mode"))
def _(study):
    append(study, "mode: verification\nidentification: {rank: 1}\n")
    return run_args(study)


@case("config-capture-in-1n", "config", "a capture: section in a 1:N config", "exit 2",
      says=("capture", "not used by mode"))
def _(study):
    append(study, "identification: {rank: 1}\ncapture: {detector_model: x.onnx}\n")
    edit(study, "verification: {target_fmr: [0.1], bootstrap: {replicates: 10}}\n", "")
    return run_args(study)


@case("config-a-list", "config", "a YAML list instead of a mapping", "exit 2",
      says=("must be a mapping",))
def _(study):
    (study / "c.yaml").write_text("- a\n- b\n")
    return run_args(study)


@case("config-empty", "config", "an empty file", "exit 2 naming what is missing",
      says=("dataset",))
def _(study):
    (study / "c.yaml").write_text("")
    return run_args(study)


@case("config-is-a-folder", "config", "a folder where the config belongs", "exit 2",
      says=("is a folder",))
def _(study):
    (study / "dir.yaml").mkdir()
    return run_args(study, "dir.yaml")


@case("config-missing", "config", "a config that does not exist", "exit 2",
      says=("config not found",))
def _(study):
    return run_args(study, "nope.yaml")


@case("config-deep-nesting", "config", "10,000 nested lists", "exit 2", says=("nested",))
def _(study):
    (study / "c.yaml").write_text("a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    return run_args(study)


@case("override-malformed", "config", "--set without '='", "exit 2",
      says=("not of the form",))
def _(study):
    return [*run_args(study), "--set", "matcher.batch_size"]


@case("override-unknown-key", "config", "--set of a key no section has", "exit 2",
      says=("matcher.batchsize: unknown key",))
def _(study):
    return [*run_args(study), "--set", "matcher.batchsize=3"]


@case("override-bad-yaml", "config", "--set with a value that is not YAML", "exit 2",
      says=("not valid YAML",))
def _(study):
    return [*run_args(study), "--set", "matcher.batch_size=[1,"]


@case("config-unknown-matcher", "config", "a matcher name nobody provides",
      "exit 2 with did-you-mean", says=("Did you mean 'precomputed'",))
def _(study):
    edit(study, "name: precomputed", "name: precomputd")
    return run_args(study)


@case("config-bar-in-attribute", "config", "an attribute name holding '|'", "exit 2",
      says=("may not contain '|'",))
def _(study):
    edit(study, "attributes: [grp, sex]", "attributes: ['grp|sex']")
    return run_args(study)


# --- manifests ----------------------------------------------------------------------------
def write_manifest(d: Path, text: str) -> list[str]:
    (d / "m.csv").write_text(text)
    return ["datasets", "validate", str(d / "m.csv")]


@case("manifest-no-rows", "manifest", "a header and no rows", "exit 2",
      says=("has no rows",), no_output=False)
def _(study):
    return write_manifest(study, "image_id,subject_id\n")


@case("manifest-empty-file", "manifest", "a zero-byte file", "exit 2",
      says=("empty file",), no_output=False)
def _(study):
    return write_manifest(study, "")


@case("manifest-duplicate-columns", "manifest", "a column twice in the header", "exit 2",
      says=("column 'eth' appears 2 times",), no_output=False)
def _(study):
    return write_manifest(study, "image_id,subject_id,eth,eth\na,1,x,y\n")


@case("manifest-duplicate-columns-parquet", "manifest", "a Parquet file with a column twice",
      "exit 2", says=("appear more than once",), no_output=False)
def _(study):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.Table.from_arrays([pa.array(["a"]), pa.array(["1"]), pa.array(["x"]),
                              pa.array(["y"])], names=["image_id", "subject_id", "eth", "eth"])
    pq.write_table(t, study / "m.parquet")
    return ["datasets", "validate", str(study / "m.parquet")]


@case("manifest-ragged-row", "manifest", "a row with one field too many", "exit 2 naming the row",
      says=("row 3: 4 fields, the header has 3",), no_output=False)
def _(study):
    return write_manifest(study, "image_id,subject_id,eth\na,1,x\nb,2,x,extra\n")


@case("manifest-short-row", "manifest", "a row with a field missing", "exit 2 naming the row",
      says=("row 2: 2 fields, the header has 3",), no_output=False)
def _(study):
    return write_manifest(study, "image_id,subject_id,eth\na,1\n")


@case("manifest-not-utf8", "manifest", "a manifest saved as Latin-1", "exit 2",
      says=("not UTF-8",), no_output=False)
def _(study):
    (study / "m.csv").write_bytes("image_id,subject_id,eth\na,1,caf\xe9\n".encode("latin-1"))
    return ["datasets", "validate", str(study / "m.csv")]


@case("manifest-missing-column", "manifest", "no subject_id column", "exit 2",
      says=("lacks required column(s) subject_id",), no_output=False)
def _(study):
    return write_manifest(study, "image_id,person\na,1\n")


@case("manifest-twenty-problems", "manifest",
      "20 planted problems (ids, subjects, paths, links, files, disagreements)",
      "exit 2 listing each of the 20 once", says=("20 problems",), needs=("images",),
      no_output=False)
def _(images):
    outside = images.parent / "outside.jpg"
    outside.write_bytes((images / sorted(os.listdir(images))[0]).read_bytes())
    (images / "link.jpg").symlink_to(outside)
    faces = sorted(p for p in os.listdir(images) if p.endswith(".jpg") and p != "link.jpg")
    rows = [  # 20 problems, each reported once
        ("", faces[0], "s1", "x"),                                   # 1 empty image_id
        ("dup", faces[1], "s2", "x"), ("dup", faces[1], "s2", "x"),  # 2 duplicate image_id
        ("e1", faces[1], "", "x"), ("e2", faces[1], "None", "x"),    # 3, 4 empty subject
        ("m1", "gone.jpg", "s4", "x"), ("m2", "sub/gone.jpg", "s4", "x"),  # 5, 6 not found
        ("u1", "../outside.jpg", "s5", "x"), ("u2", str(outside), "s5", "x"),  # 7, 8 escape
        ("l1", "link.jpg", "s6", "x"),                               # 9 symlink out
        ("t1", "a" * 300 + ".jpg", "s7", "x"),                       # 10 name too long
        ("t2", "d/" * 2100 + "x.jpg", "s7", "x"),                    # 11 path too long
        ("f1", faces[2], "s8", "x"), ("f2", faces[2], "s9", "x"),    # 12 one file, 2 people
        ("d1", faces[3], "s10", "x"), ("d2", faces[3], "s10", "y"),  # 13 eth disagrees
        ("p1", "", "s11", "x"), ("p2", " ", "s12", "x"),             # 14, 15 empty path
        ("n1", "nope1.jpg", "s13", "x"), ("n2", "nope2.jpg", "s13", "x"),  # 16, 17
        ("g1", ".", "s14", "x"),                                     # 18 a folder
        ("g2", "..", "s15", "x"),                                    # 19 escapes
        ("g3", "link.jpg/..", "s16", "x")]                           # 20 through the link
    pd.DataFrame(rows, columns=["image_id", "path", "subject_id", "eth"]).to_csv(
        images / "bad.csv", index=False)
    return ["datasets", "validate", str(images / "bad.csv"), "-a", "eth"]


@case("manifest-is-a-folder", "manifest", "a folder where the manifest belongs", "exit 2",
      says=("is a folder",), no_output=False)
def _(study):
    (study / "dir.csv").mkdir()
    return ["datasets", "validate", str(study / "dir.csv")]


@case("manifest-garbage-parquet", "manifest", "random bytes named .parquet", "exit 2",
      says=("cannot read manifest",), no_output=False)
def _(study):
    (study / "m.parquet").write_bytes(os.urandom(512))
    return ["datasets", "validate", str(study / "m.parquet")]


@case("manifest-missing-attribute", "manifest", "a configured attribute the manifest lacks",
      "exit 2", says=("attribute column 'age' not in the manifest",))
def _(study):
    edit(study, "attributes: [grp, sex]", "attributes: [grp, age]")
    return run_args(study)


@case("manifest-subject-disagrees", "manifest", "one person recorded with two sexes",
      "exit 2 naming subject and rows", says=("has sex",))
def _(study):
    m = pd.read_csv(study / "m.csv", dtype=str)
    first = m.groupby("subject_id").size()
    sid = first[first > 1].index[0]
    rows = m.index[m.subject_id == sid]
    m.loc[rows[0], "sex"] = "f"
    m.loc[rows[1], "sex"] = "m"
    m.to_csv(study / "m.csv", index=False)
    return run_args(study)


@case("manifest-missing-spellings", "manifest", "None, N/A, null and NaN as attribute values",
      "runs; all are the group 'unknown'", code=0, no_output=False,
      recorded=("group unknown", "4"))
def _(study):
    m = pd.read_csv(study / "m.csv", dtype=str, keep_default_na=False)
    m.loc[:3, "grp"] = ["None", "N/A", "null", "NaN"]
    m.to_csv(study / "m.csv", index=False)
    return run_args(study)


@case("manifest-one-subject-100k-images", "manifest", "one person with 100,000 images "
      "(5 x 10^9 mated pairs)", "exit 2 at once, before any embedding; a sample is offered",
      says=("mated pairs", "max_images_per_subject"))
def _(study):
    n = 100_000
    pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "subject_id": "s0",
                  "grp": "a", "sex": "f"}).to_csv(study / "m.csv", index=False)
    np.savez(study / "e.npz", image_ids=np.array([f"i{k}" for k in range(n)]),
             embeddings=np.ones((n, 2), np.float32))
    return run_args(study)


@case("manifest-one-subject-sampled", "manifest", "the same person, with "
      "max_images_per_subject: 200", "runs on a seeded sample, noted in run.json", code=0,
      no_output=False)
def _(study):
    n = 100_000
    rows = pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "subject_id": "s0",
                         "grp": "a", "sex": "f"})
    extra = pd.read_csv(study / "m.csv", dtype=str)
    pd.concat([rows, extra]).to_csv(study / "m.csv", index=False)
    z = np.load(study / "e.npz")
    rng = np.random.default_rng(0)
    np.savez(study / "e.npz", image_ids=np.r_[rows["image_id"].to_numpy(dtype=str), z["image_ids"]],
             embeddings=np.r_[rng.standard_normal((n, z["embeddings"].shape[1])),
                              z["embeddings"]].astype(np.float32))
    edit(study, "attributes: [grp, sex]", "attributes: [grp, sex], max_images_per_subject: 200")
    return run_args(study)


# --- images -------------------------------------------------------------------------------
def png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def image_case(images: Path, models: Path, name: str, data: bytes) -> list[str]:
    from tests.hostile.conftest import onnx_config

    (images / name).write_bytes(data)
    m = pd.read_csv(images / "m.csv", dtype=str)
    m.loc[len(m)] = [name[:-4], name, "001", "x"]
    m.to_csv(images / "m.csv", index=False)
    (images / "c.yaml").write_text(onnx_config(models))
    return run_args(images)


for _name, _what, _data, _reason in [
    ("empty.jpg", "a zero-byte image", b"", "unreadable_image"),
    ("text.jpg", "a text file named .jpg", b"hello, world\n" * 10, "unreadable_image"),
    ("huge.png", "a PNG header claiming 100000 x 100000 pixels",
     png(100_000, 100_000, zlib.compress(b"\0" * 64)), "image_too_large"),
    ("big.png", "a PNG header claiming 30000 x 30000 pixels",
     png(30_000, 30_000, zlib.compress(b"\0" * 64)), "image_too_large"),
    ("grey.png", "a grey picture with no face", None, "no_face"),
    ("tiny.png", "a 1 x 1 pixel image", None, "no_face"),
]:
    def _setup(images, models_dir, _name=_name, _data=_data):
        import cv2

        data = _data
        if data is None:
            side = 320 if _name == "grey.png" else 1
            data = cv2.imencode(".png", np.full((side, side, 3), 128, np.uint8))[1].tobytes()
        return image_case(images, models_dir, _name, data)

    CASES.append(Case(f"image-{_name.split('.')[0]}", "images", _what,
                      f"a recorded failure ({_reason}); the run completes", _setup, 0, (),
                      ("images", "models_dir"), False, (_reason, "1")))


@case("image-truncated-jpeg", "images", "a JPEG cut after 300 bytes",
      "a recorded outcome; the run completes", code=0, needs=("images", "models_dir"),
      no_output=False)
def _(images, models_dir):
    face = sorted(p for p in os.listdir(images) if p.endswith(".jpg"))[0]
    return image_case(images, models_dir, "cut.jpg", (images / face).read_bytes()[:300])


# --- embeddings ---------------------------------------------------------------------------
def embeddings(d: Path, emb: np.ndarray, **extra: np.ndarray) -> None:
    m = pd.read_csv(d / "m.csv", dtype=str)
    np.savez(d / "e.npz", image_ids=m["image_id"].to_numpy(dtype=str), embeddings=emb, **extra)


@case("embedding-zero-rows", "embeddings", "all-zero rows with cosine similarity",
      "recorded failures (invalid_embedding), never scored", code=0, no_output=False,
      recorded=("invalid_embedding", "3"))
def _(study):
    e = np.load(study / "e.npz")["embeddings"].copy()
    e[:3] = 0
    embeddings(study, e)
    return run_args(study)


@case("embedding-complex", "embeddings", "complex numbers", "exit 2",
      says=("not real numbers",))
def _(study):
    e = np.load(study / "e.npz")["embeddings"]
    embeddings(study, e.astype(np.complex64) * 1j)
    return run_args(study)


@case("embedding-zero-dimensions", "embeddings", "embeddings of width 0", "exit 2",
      says=("d >= 1",))
def _(study):
    n = len(pd.read_csv(study / "m.csv"))
    embeddings(study, np.zeros((n, 0), np.float32))
    return run_args(study)


@case("embedding-scalar", "embeddings", "a 0-dimensional array", "exit 2",
      says=("expected (images, d)",))
def _(study):
    embeddings(study, np.float32(1.0))
    return run_args(study)


@case("embedding-overflow", "embeddings", "values beyond float32 (1e39)",
      "recorded failures; the run completes", code=0, no_output=False,
      recorded=("failure_to_enrol", "4"))  # the 2 planted, and 2 NaN rows of the study
def _(study):
    e = np.load(study / "e.npz")["embeddings"].astype(np.float64)
    e[:2] = 1e39
    embeddings(study, e)
    return run_args(study)


@case("embedding-pickle", "embeddings", "an object (pickled) array", "exit 2, never unpickled",
      says=("cannot read embeddings",))
def _(study):
    m = pd.read_csv(study / "m.csv", dtype=str)
    np.savez(study / "e.npz", image_ids=m["image_id"].to_numpy(dtype=str),
             embeddings=np.array([{"a": 1}] * len(m), dtype=object))
    return run_args(study)


@case("embedding-parquet-strings", "embeddings", "a Parquet embedding column of strings",
      "exit 2 naming the row", says=("is not a list of numbers",))
def _(study):
    m = pd.read_csv(study / "m.csv", dtype=str)
    pd.DataFrame({"image_id": m["image_id"], "embedding": "1,2,3"}).to_parquet(
        study / "e.parquet")
    edit(study, "path: e.npz", "path: e.parquet")
    return run_args(study)


@case("embedding-parquet-ragged", "embeddings", "Parquet embeddings of different lengths",
      "exit 2", says=("different lengths",))
def _(study):
    m = pd.read_csv(study / "m.csv", dtype=str)
    vals = [[1.0, 2.0]] * (len(m) - 1) + [[1.0]]
    pd.DataFrame({"image_id": m["image_id"], "embedding": vals}).to_parquet(study / "e.parquet")
    edit(study, "path: e.npz", "path: e.parquet")
    return run_args(study)


@case("embedding-duplicate-ids", "embeddings", "an image id twice in the embeddings file",
      "exit 2", says=("duplicate image ids",))
def _(study):
    z = np.load(study / "e.npz")
    ids = z["image_ids"].copy()
    ids[1] = ids[0]
    np.savez(study / "e.npz", image_ids=ids, embeddings=z["embeddings"])
    return run_args(study)


@case("embedding-missing-array", "embeddings", "an .npz without 'embeddings'", "exit 2",
      says=("lacks array(s) embeddings",))
def _(study):
    np.savez(study / "e.npz", image_ids=np.array(["a"]))
    return run_args(study)


@case("embedding-file-missing", "embeddings", "an embeddings file that does not exist",
      "exit 2", says=("embeddings file not found",))
def _(study):
    (study / "e.npz").unlink()
    return run_args(study)


@case("embedding-wrong-sha256", "embeddings", "an embeddings file that differs from its pin",
      "exit 2", says=("refusing to run on a different file",))
def _(study):
    edit(study, "params: {path: e.npz}", "params: {path: e.npz, sha256: " + "ab" * 32 + "}")
    return run_args(study)


@case("embedding-ids-absent", "embeddings", "manifest images the file has no embedding for",
      "recorded failures (missing_embedding)", code=0, no_output=False,
      recorded=("missing_embedding", "5"))
def _(study):
    z = np.load(study / "e.npz")
    np.savez(study / "e.npz", image_ids=z["image_ids"][5:], embeddings=z["embeddings"][5:])
    return run_args(study)


# --- models -------------------------------------------------------------------------------
def model_case(images: Path, models: Path, extra: str = "", **swap: Path) -> list[str]:
    from tests.hostile.conftest import onnx_config

    text = onnx_config(models, extra=extra)
    for name, path in swap.items():
        text = text.replace(str(models / name), str(path))
    (images / "c.yaml").write_text(text)
    return run_args(images)


@case("model-onnx-garbage", "models", "an ONNX model file of random bytes",
      "exit 2 at start naming the key", says=("matcher.params.model: cannot load",),
      needs=("images", "models_dir"))
def _(images, models_dir):
    (images / "bad.onnx").write_bytes(os.urandom(4096))
    return model_case(images, models_dir, **{"mobileface.onnx": images / "bad.onnx"})


@case("model-onnx-wrong-sha256", "models", "an ONNX model that differs from its pin",
      "exit 2 at start", says=("refusing to run on a different file",),
      needs=("images", "models_dir"))
def _(images, models_dir):
    args = model_case(images, models_dir)
    edit(images, "    output:", "    sha256: " + "ab" * 32 + "\n    output:")
    return args


@case("model-yunet-garbage", "models", "a detector file of random bytes",
      "exit 2 at start, not 100 % failure to acquire",
      says=("matcher.params.detector.model", "cannot load"), needs=("images", "models_dir"))
def _(images, models_dir):
    (images / "det.onnx").write_bytes(os.urandom(4096))
    return model_case(images, models_dir, **{"yunet_s_640_640.onnx": images / "det.onnx"})


@case("model-yunet-wrong-sha256", "models", "a detector that differs from its pin",
      "exit 2 at start", says=("matcher.params.detector.model", "refusing"),
      needs=("images", "models_dir"))
def _(images, models_dir):
    args = model_case(images, models_dir)
    edit(images, "yunet_s_640_640.onnx}", "yunet_s_640_640.onnx, sha256: " + "ab" * 32 + "}")
    return args


@case("model-dlib-garbage", "models", "dlib weights replaced by random bytes",
      "exit 2 at start", says=("cannot load its models",), needs=("images",))
def _(images):
    (images / "lm.dat").write_bytes(os.urandom(4096))
    (images / "c.yaml").write_text(
        "dataset: {manifest: m.csv, attributes: [eth]}\n"
        f"matcher: {{name: dlib, params: {{landmarks_model: {images / 'lm.dat'}}}}}\n"
        "verification: {target_fmr: [0.4]}\ncache: {enabled: false}\n")
    return run_args(images)


@case("model-dlib-wrong-sha256", "models", "dlib weights that differ from their pin",
      "exit 2 at start", says=("matcher.params.sha256",), needs=("images",))
def _(images):
    (images / "c.yaml").write_text(
        "dataset: {manifest: m.csv, attributes: [eth]}\n"
        "matcher: {name: dlib, params: {sha256: {dlib_face_recognition_resnet_model_v1.dat: "
        + "ab" * 32 + "}}}\nverification: {target_fmr: [0.4]}\ncache: {enabled: false}\n")
    return run_args(images)


# --- cache and results folder -------------------------------------------------------------
@case("output-is-a-file", "faults", "the results folder is a file", "exit 2 before any work",
      says=("cannot write results",), no_output=False)
def _(study):
    (study / "out").write_text("a file")
    return run_args(study)


@case("cache-is-a-file", "faults", "the template cache folder is a file",
      "exit 2 naming the cache, nothing half-written", says=("template cache",),
      needs=("images", "models_dir"))
def _(images, models_dir):
    (images / "cachefile").write_text("x")
    text = __import__("tests.hostile.conftest", fromlist=["onnx_config"]).onnx_config(
        models_dir).replace("cache: {enabled: false}\n",
                            f"cache: {{dir: '{images / 'cachefile'}'}}\n")
    (images / "c.yaml").write_text(text)
    return run_args(images)


# --- stored runs --------------------------------------------------------------------------
def stored(study: Path) -> Path:
    from fairbench import api

    cwd = os.getcwd()
    os.chdir(study)
    try:
        return api.run(study / "c.yaml", study / "done", progress=False).run_dir  # type: ignore
    finally:
        os.chdir(cwd)


@case("report-not-a-run", "stored runs", "report on a folder without run.json", "exit 2",
      says=("not found; is",), no_output=False)
def _(study):
    return ["report", str(study)]


@case("report-run-json-garbage", "stored runs", "run.json that is not JSON", "exit 2",
      says=("cannot read run.json",), no_output=False)
def _(study):
    d = stored(study)
    (d / "run.json").write_text("{not json")
    return ["report", str(d)]


@case("report-run-json-latin1", "stored runs", "run.json that is not UTF-8", "exit 2",
      says=("not UTF-8",), no_output=False)
def _(study):
    d = stored(study)
    (d / "run.json").write_bytes(b'{"a": "caf\xe9"}')
    return ["report", str(d)]


@case("report-unknown-schema", "stored runs", "run.json of schema 9.9", "exit 2",
      says=("schema_version '9.9'",), no_output=False)
def _(study):
    d = stored(study)
    rec = json.loads((d / "run.json").read_text())
    rec["schema_version"] = "9.9"
    (d / "run.json").write_text(json.dumps(rec))
    return ["report", str(d)]


@case("report-wrong-field-type", "stored runs", "run.json with a field of the wrong type",
      "exit 2 naming the field", says=("dataset.n_images",), no_output=False)
def _(study):
    d = stored(study)
    rec = json.loads((d / "run.json").read_text())
    rec["dataset"]["n_images"] = "many"
    (d / "run.json").write_text(json.dumps(rec))
    return ["report", str(d)]


@case("report-truncated-counts", "stored runs", "counts.npz cut in half", "exit 2",
      says=("counts.npz",), no_output=False)
def _(study):
    d = stored(study)
    b = (d / "counts.npz").read_bytes()
    (d / "counts.npz").write_bytes(b[: len(b) // 2])
    return ["report", str(d)]


@case("report-counts-missing-key", "stored runs", "counts.npz without its histogram",
      "exit 2 naming the array", says=("lacks array", "hist"), no_output=False)
def _(study):
    d = stored(study)
    z = dict(np.load(d / "counts.npz"))
    z.pop("hist")
    np.savez(d / "counts.npz", **z)
    return ["report", str(d)]


@case("report-negative-histogram", "stored runs", "a histogram with a negative count",
      "exit 2", says=("negative counts",), no_output=False)
def _(study):
    d = stored(study)
    z = dict(np.load(d / "counts.npz"))
    z["hist"][0, 0] = -5
    np.savez(d / "counts.npz", **z)
    return ["report", str(d)]


@case("report-weights-short", "stored runs", "counts.npz whose kept_w (verification.tail: "
      "people) is shorter than its kept records", "exit 2", says=("kept_w and kept_s differ",),
      no_output=False)
def _(study):
    d = stored(study)
    z = dict(np.load(d / "counts.npz"))
    z["kept_w"] = np.ones(max(0, len(z["kept_s"]) - 1), np.uint32)
    np.savez(d / "counts.npz", **z)
    return ["report", str(d)]


@case("report-weights-tampered", "stored runs", "counts.npz whose kept_w (verification.tail: "
      "people) stands for more pairs than its histogram holds", "exit 2",
      says=("another number of impostor pairs",), no_output=False)
def _(study):
    d = stored(study)
    z = dict(np.load(d / "counts.npz"))
    z["kept_w"] = np.ones(len(z["kept_s"]), np.uint32)
    z["kept_w"][:1] = 2
    np.savez(d / "counts.npz", **z)
    return ["report", str(d)]


@case("report-weights-negative", "stored runs", "counts.npz whose kept_w holds a negative "
      "count", "exit 2", says=("counts of at least 1",), no_output=False)
def _(study):
    d = stored(study)
    z = dict(np.load(d / "counts.npz"))
    z["kept_w"] = -np.ones(len(z["kept_s"]), np.int64)
    np.savez(d / "counts.npz", **z)
    return ["report", str(d)]


@case("report-unknown-attribute", "stored runs", "run.json naming an attribute the arrays lack",
      "exit 2", says=("do not belong together",), no_output=False)
def _(study):
    d = stored(study)
    rec = json.loads((d / "run.json").read_text())
    rec["dataset"]["attributes"] = ["grp", "eyecolour"]
    (d / "run.json").write_text(json.dumps(rec))
    return ["report", str(d)]


@case("claims-not-utf8", "stored runs", "a claims file that is not UTF-8", "exit 2",
      says=("not UTF-8",), no_output=False)
def _(study):
    d = stored(study)
    (study / "cl.yaml").write_bytes("claims: []  # caf\xe9\n".encode("latin-1"))
    return ["check-claims", str(d), str(study / "cl.yaml")]


@case("claims-duplicate-key", "stored runs", "a claims file with a key twice", "exit 2",
      says=("appears twice",), no_output=False)
def _(study):
    d = stored(study)
    (study / "cl.yaml").write_text("claims: []\nclaims: []\n")
    return ["check-claims", str(d), str(study / "cl.yaml")]


@case("claims-unknown-kind", "stored runs", "a check of a kind that does not exist", "exit 2",
      says=("invalid claims file",), no_output=False)
def _(study):
    d = stored(study)
    (study / "cl.yaml").write_text(
        "claims:\n  - {id: a, text: t, checks: [{kind: vibes, attribute: grp}]}\n")
    return ["check-claims", str(d), str(study / "cl.yaml")]


@case("claims-unknown-group-strict", "stored runs", "a claim about a group the run lacks, "
      "--strict", "exit 2 with did-you-mean", says=("Did you mean 'a'",), no_output=False)
def _(study):
    d = stored(study)
    (study / "cl.yaml").write_text(
        "claims:\n  - {id: a, text: t, checks: [{kind: rate, rate: fmr, attribute: grp, "
        "groups: [aa], at_most: 0.5, at: {target_fmr: 0.1}}]}\n")
    return ["check-claims", str(d), str(study / "cl.yaml"), "--strict"]


@case("explain-1n-run", "stored runs", "explain-accuracy on a 1:N run", "exit 2",
      says=("reads a 1:1 run",), no_output=False)
def _(study):
    edit(study, "verification: {target_fmr: [0.1], bootstrap: {replicates: 10}}",
         "identification: {target_fpir: [0.3], bootstrap: {replicates: 10}}")
    d = stored(study)
    return ["explain-accuracy", str(d)]


@case("compare-1n-run", "stored runs", "compare with a 1:N run", "exit 2",
      says=("compare reads 1:1 runs",), no_output=False)
def _(study):
    a = stored(study)
    edit(study, "verification: {target_fmr: [0.1], bootstrap: {replicates: 10}}",
         "identification: {target_fpir: [0.3], bootstrap: {replicates: 10}}")
    b = stored(study)
    return ["compare", str(a), str(b)]


# --- score files and candidate lists --------------------------------------------------
def score_study(d: Path, text: str, fmt: str = "bob4", extra: str = "") -> list[str]:
    """A subjects table, a score file holding ``text`` and a config reading it."""
    (d / "subjects.csv").write_text("subject_id,grp\n" + "".join(
        f"s{k},{'ab'[k % 2]}\n" for k in range(6)))
    (d / "scores.txt").write_text(text)
    (d / "s.yaml").write_text(
        f"dataset: {{manifest: {d / 'subjects.csv'}, attributes: [grp]}}\n"
        f"matcher: {{name: scores, params: {{format: {fmt}, path: {d / 'scores.txt'}"
        f"{extra}}}}}\nverification: {{target_fmr: [0.1], bootstrap: {{replicates: 5}}}}\n")
    return run_args(d, "s.yaml")


GOOD = "".join(f"s{a} s{b} s{b}/x.png {0.9 if a == b else 0.1}\n" for a in range(6)
               for b in range(6))


@case("scores-unknown-subject", "score files", "a bob4 row naming a person the manifest "
      "lacks", "exit 2 listing every unknown id", says=("'ghost' is not in the manifest",))
def _(study):
    return score_study(study, GOOD + "ghost s1 s1/x.png 0.3\n")


@case("scores-short-line", "score files", "a bob4 line with a field missing",
      "exit 2 naming the line", says=("line 37:", "malformed"))
def _(study):
    return score_study(study, GOOD + "s1 s2 0.3\n")


@case("scores-not-a-number", "score files", "a score that is text", "exit 2",
      says=("not a number",))
def _(study):
    return score_study(study, GOOD + "s1 s2 s2/x.png high\n")


@case("scores-runs-of-spaces", "score files", "fields separated by several spaces",
      "exit 2 saying how fields must be separated", says=("runs of spaces",))
def _(study):
    return score_study(study, GOOD.replace(" ", "   ", 1))


@case("scores-empty-file", "score files", "an empty score file", "exit 2",
      says=("no rows",))
def _(study):
    return score_study(study, "")


@case("scores-not-utf8", "score files", "a score file in Latin-1 with accented ids",
      "exit 2: not UTF-8", says=("not UTF-8",))
def _(study):
    out = score_study(study, "")
    (study / "scores.txt").write_bytes("s1 s1 caf\xe9.png 0.5\n".encode("latin-1"))
    return out


@case("scores-wrong-sha256", "score files", "a score file that differs from its pin",
      "exit 2 naming both hashes", says=("pinned sha256",))
def _(study):
    return score_study(study, GOOD, extra=", sha256: {path: '" + "0" * 64 + "'}")


@case("scores-missing-format-file", "score files", "format pyeer without its impostor "
      "file", "exit 2 naming the key", says=("needs genuine, impostor",))
def _(study):
    return score_study(study, GOOD, fmt="pyeer")


@case("scores-pyeer-histogram", "score files", "pyeer's bare-score or histogram impostor "
      "file (no ids)", "exit 2 saying ids are needed", says=("names no one",))
def _(study):
    (study / "gen.txt").write_text("s1 s1 0.9\n")
    (study / "imp.txt").write_text("12\n7\n3\n")
    return score_study(study, "", "pyeer", extra=f", genuine: {study / 'gen.txt'}, "
                                               f"impostor: {study / 'imp.txt'}")


@case("scores-self-comparison", "score files", "a CSV row comparing an image with itself",
      "exit 2 naming the line", says=("with itself",))
def _(study):
    (study / "images.csv").write_text("image_id,subject_id,grp\n" + "".join(
        f"i{k},s{k // 2},{'ab'[k // 2 % 2]}\n" for k in range(8)))
    rows = "".join(f"i{a},i{b},0.{a}{b}\n" for a in range(8) for b in range(8) if a != b)
    (study / "s.csv").write_text("probe_id,reference_id,score\n" + rows + "i3,i3,0.9\n")
    (study / "s.yaml").write_text(
        f"dataset: {{manifest: {study / 'images.csv'}, attributes: [grp]}}\n"
        f"matcher: {{name: scores, params: {{format: csv, path: {study / 's.csv'}}}}}\n"
        "verification: {target_fmr: [0.1], bootstrap: {replicates: 5}}\n")
    return run_args(study, "s.yaml")


@case("candidates-outside-gallery", "score files", "a 1:N candidate who is not in the "
      "gallery", "exit 2 naming the candidate", says=("is not in the gallery",))
def _(study):
    (study / "images.csv").write_text("image_id,subject_id,grp\n" + "".join(
        f"i{k},s{k // 2},{'ab'[k // 2 % 2]}\n" for k in range(8)))
    (study / "gallery.txt").write_text("i0\ni2\n")
    (study / "c.csv").write_text("search_id,probe_id,rank,candidate_id,score\n"
                                 "q1,i1,1,i0,0.9\nq1,i1,2,i4,0.5\n")
    (study / "s.yaml").write_text(
        "mode: identification\n"
        f"dataset: {{manifest: {study / 'images.csv'}, attributes: [grp]}}\n"
        f"matcher: {{name: scores, params: {{format: candidates, path: {study / 'c.csv'}, "
        f"gallery: {study / 'gallery.txt'}}}}}\n"
        "identification: {target_fpir: [0.3], bootstrap: {replicates: 5}}\n")
    return run_args(study, "s.yaml")


@case("scores-1n-format-in-1-1", "score files", "a candidate list under mode verification",
      "exit 2 saying which mode it belongs to", says=("is a 1:N format",))
def _(study):
    return score_study(study, GOOD, fmt="candidates", extra=f", gallery: {study / 's.yaml'}")


def markdown() -> str:
    """docs/robustness.md: the table of every case and its outcome."""
    lines = ["# Hostile input: what fairbench does with it", "",
             "Generated from `tests/hostile/catalogue.py` (`python -m tests.hostile.catalogue "
             "> docs/robustness.md`); `tests/hostile/test_hostile.py` runs every case and",
             "checks its outcome: the exit status, the message, that no exception escaped "
             "(no traceback) and that no result was left half-written. Exit status 2 always",
             "comes with one message naming the file, row or key. Further cases are tested "
             "elsewhere: CLI usage errors (`tests/cli`), decompression bombs and decoder fuzzing",
             "(`tests/matchers/test_images.py`), damaged cache entries, a full disk and killed "
             "runs (`tests/hostile/test_faults.py`), property-based inputs",
             "(`tests/hostile/test_properties.py`) and privacy (`tests/test_privacy.py`).", "",
             "| case | area | input | outcome |", "|---|---|---|---|"]
    for c in CASES:
        lines.append(f"| `{c.id}` | {c.area} | {c.what} | {c.outcome} |")
    lines += ["", f"{len(CASES)} cases; all handled: 0 tracebacks, 0 silent wrong results, "
              "0 data lost (the tests fail otherwise).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")

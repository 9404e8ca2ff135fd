"""Property-based tests: whatever a user hands fairbench (manifests, configs, claims files,
YAML text, image headers), the answer is a result or one of fairbench's own errors, never
another exception."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairbench.config import load_config_dict
from fairbench.data.checks import find_problems
from fairbench.data.manifest import read_manifest
from fairbench.errors import FairbenchError
from fairbench.matchers.images import TOO_LARGE, decode
from fairbench.report.claim_schema import parse_claims
from fairbench.safeyaml import load_yaml

EXAMPLES = int(os.environ.get("FAIRBENCH_FUZZ_EXAMPLES", "150"))  # more for a thorough run
FAST = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
names = st.sampled_from(["image_id", "subject_id", "path", "eth", "sex", "age", "x", ""])


@FAST
@given(header=st.lists(names, min_size=1, max_size=6),
       rows=st.lists(st.lists(cells, max_size=7), max_size=8))
def test_any_manifest_is_read_or_refused_clearly(tmp_path_factory, header, rows):
    d = tmp_path_factory.mktemp("m")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    p = d / "m.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    try:
        m = read_manifest(p)
        problems = find_problems(m, ["eth"], {"eth": ["a", "b"]}, subject_level=["sex"])
    except FairbenchError:
        return
    assert all(isinstance(x, str) and str(p) in x for x in problems)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_as_a_manifest(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("b") / "m.csv"
    p.write_bytes(blob)
    with contextlib.suppress(FairbenchError):
        read_manifest(p)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
sections = st.fixed_dictionaries({}, optional={
    "dataset": st.dictionaries(st.sampled_from(["name", "manifest", "attributes", "root",
                                                "age_bands", "simulate", "x"]), yaml_values,
                               max_size=4),
    "matcher": st.dictionaries(st.sampled_from(["name", "batch_size", "params"]), yaml_values,
                               max_size=3),
    "verification": st.dictionaries(st.sampled_from(["target_fmr", "fixed_thresholds",
                                                     "bootstrap", "block_size", "y"]),
                                    yaml_values, max_size=3),
    "identification": yaml_values, "capture": yaml_values, "mode": yaml_values})


@FAST
@given(sections)
def test_any_config_mapping_is_a_config_or_a_config_error(data):
    try:
        load_config_dict(data, source="<hypothesis>")
    except FairbenchError as exc:
        assert exc.render()


@FAST
@given(st.text(max_size=200))
def test_any_yaml_text_parses_or_is_refused(text):
    with contextlib.suppress(FairbenchError):
        load_yaml(text, "<hypothesis>")


checks = st.dictionaries(st.sampled_from(["kind", "rate", "attribute", "groups", "at_most",
                                          "at_least", "at", "between", "means", "measure"]),
                         yaml_values | st.sampled_from(["rate", "ratio", "fmr", "summary",
                                                        "accuracy", "99%"]), max_size=6)


@FAST
@given(st.fixed_dictionaries({"claims": st.lists(st.fixed_dictionaries(
    {"id": st.text(max_size=5), "text": st.text(max_size=5),
     "checks": st.lists(checks, max_size=3)}), max_size=3)}) | yaml_values)
def test_any_claims_mapping_is_claims_or_a_claims_error(data):
    with contextlib.suppress(FairbenchError):
        parse_claims(data, "<hypothesis>")


def png_header(w: int, h: int, depth: int, colour: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 32)) + chunk(b"IEND", b""))


@settings(max_examples=2 * EXAMPLES, deadline=None)
@given(w=st.integers(0, 2**31 - 1), h=st.integers(0, 2**31 - 1),
       depth=st.sampled_from([1, 2, 4, 8, 16, 3]), colour=st.sampled_from([0, 2, 3, 4, 6, 5]))
def test_any_png_header_is_decoded_or_refused_within_budget(w, h, depth, colour):
    budget = 1_000_000
    d = decode(png_header(w, h, depth, colour), max_pixels=budget)
    assert (d.image is None) != (d.failure is None)
    if d.image is not None:
        assert d.image.shape[0] * d.image.shape[1] <= budget
    elif w * h > budget and w and h and d.failure.startswith(TOO_LARGE):
        assert f"{w:,} x {h:,}" in d.failure


def test_the_properties_cover_real_inputs(london16):
    """The decoder property holds for the real fixture images too (a sanity anchor)."""
    for p in sorted(Path(london16).glob("*.jpg"))[:4]:
        assert decode(p.read_bytes()).image is not None


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "{a: 1, a: 2}", "- &x [1]\n- *x\n"])
def test_yaml_edge_cases(text):
    if text.startswith("- &x"):
        assert load_yaml(text, "t") == [[1], [1]]
    else:
        with pytest.raises(FairbenchError, match="appears twice"):
            load_yaml(text, "t")

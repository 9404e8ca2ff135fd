"""Decompression bombs and hostile image bytes: recorded failures, fast, in bounded memory;
the decoder never raises on mutated JPEG/PNG bytes (a fuzz smoke test)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairbench.matchers.images import TOO_LARGE, UNREADABLE, decode, header_size

REPO = Path(__file__).resolve().parents[2]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, idat: bytes = b"", colour: int = 0) -> bytes:
    """A PNG with the given header; ``idat`` is the (compressed) pixel stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory) -> Path:
    """A valid 2.6 MB PNG holding 30000 x 30000 RGB zeros (2.7 GB once decoded)."""
    p = tmp_path_factory.mktemp("bomb") / "bomb.png"
    w = h = 30_000
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * w)
    parts = [comp.compress(row * 500) for _ in range(h // 500)] + [comp.flush()]
    p.write_bytes(png(w, h, b"".join(parts), colour=2))
    return p


def measured(path: Path) -> dict:
    """decode() of one file in a fresh process: its outcome, seconds and extra memory."""
    code = (
        "import json, resource, sys, time\n"
        "from fairbench.matchers.images import decode\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter(); d = decode(data); s = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'failure': d.failure, 's': s, 'mb': (peak - base) / 1024}))\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("w,h", [(100_000, 100_000), (30_000, 30_000)])
def test_huge_headers_are_refused_fast_and_small(w, h, tmp_path):
    p = tmp_path / "huge.png"
    p.write_bytes(png(w, h, zlib.compress(b"\x00" * 100)))
    m = measured(p)
    assert m["failure"].startswith(TOO_LARGE) and f"{w:,} x {h:,}" in m["failure"]
    assert m["s"] < 1.0 and m["mb"] < 200


def test_a_zip_bomb_png_is_refused_fast_and_small(zip_bomb):
    assert 2_000_000 < zip_bomb.stat().st_size < 3_000_000
    m = measured(zip_bomb)
    assert m["failure"].startswith(TOO_LARGE)
    assert m["s"] < 1.0 and m["mb"] < 200


def test_the_budget_is_configurable_and_real_images_pass(london16):
    data = (london16 / "001_neutral.jpg").read_bytes()
    w, h = header_size(data)
    assert decode(data).image.shape == (h, w, 3)
    assert decode(data, max_pixels=w * h - 1).failure.startswith(TOO_LARGE)
    for bad in (b"", b"not an image", data[:20], png(0, 0)):
        assert decode(bad).failure == UNREADABLE


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(blob):
    d = decode(blob, max_pixels=10_000)
    assert (d.image is None) != (d.failure is None)


@pytest.fixture(scope="module")
def seeds(london16) -> list[bytes]:
    import cv2

    img = cv2.imread(str(london16 / "001_neutral.jpg"))
    ok, pngb = cv2.imencode(".png", img[:64, :64])
    return [(london16 / "001_neutral.jpg").read_bytes(), pngb.tobytes()]


def test_mutated_jpeg_and_png_bytes_never_raise(seeds):
    """A fuzz smoke test: flipped bytes, truncations, repeats and insertions at random
    places of a real JPEG and PNG; every outcome is an image or a recorded failure."""
    rng = np.random.default_rng(0)
    outcomes = set()
    for seed in seeds:
        for _ in range(150):
            b = bytearray(seed)
            for _ in range(int(rng.integers(1, 8))):
                op, at = int(rng.integers(4)), int(rng.integers(len(b)))
                if op == 0:
                    b[at] = int(rng.integers(256))
                elif op == 1:
                    b = b[:at]
                elif op == 2:
                    b[at:at] = b[at:at + int(rng.integers(1, 64))]
                else:
                    b[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 16))).tolist())
                if not b:
                    break
            d = decode(bytes(b), max_pixels=2_000_000)
            assert (d.image is None) != (d.failure is None)
            if d.image is not None:
                assert d.image.dtype == np.uint8 and d.image.ndim == 3
            outcomes.add("image" if d.image is not None else d.failure.split(":")[0])
    assert "image" in outcomes and UNREADABLE in outcomes  # both kinds were exercised

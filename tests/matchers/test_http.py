"""The ``http`` matcher against a real HTTP server on 127.0.0.1 (see ``http_server.py``).

The server embeds with fairbench's own ``onnx`` matcher (mobileface + YuNet) where results
are compared with a local run, and with a cheap deterministic fake where only the transport
matters (retries, timeouts, pacing, privacy, resume).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.errors import MatcherError
from fairbench.matchers.base import build_matcher
from fairbench.matchers.http import COMPARE_PLANNED, HttpMatcher
from fairbench.matchers.http_client import TokenBucket, backoff_s, retry_after_s
from fairbench.matchers.http_guard import is_loopback, scrub
from fairbench.matchers.onnx_matcher import OnnxMatcher
from tests.matchers.http_server import FaceServer, fake_embedder, onnx_embedder

KEY = "fbk-LEAKCHECK-7f3a9c2e51d0"  # distinctive: grepped for in every output
REPO = Path(__file__).resolve().parents[2]


def onnx_params(models: Path) -> dict[str, Any]:
    return {"model": str(models / "mobileface.onnx"), "input": {"name": "data:0", "size": 112},
            "output": "batchnorm0/add_1:0",
            "detector": {"model": str(models / "yunet_s_640_640.onnx")}}


def hp(url: str, **over: Any) -> dict[str, Any]:
    """http params with quick retries."""
    return {"url": url, "model": "test-server v1", "embedding_size": 8, "backoff_s": 0.01,
            "retries": 2, **over}


def config(manifest: Path, root: Path, name: str, params: dict[str, Any], cache: Path | None,
           batch_size: int = 16) -> dict[str, Any]:
    return {"dataset": {"manifest": str(manifest), "root": str(root), "attributes": ["eth", "sex"]},
            "matcher": {"name": name, "params": params, "batch_size": batch_size},
            "verification": {"target_fmr": [0.1], "fixed_thresholds": [0.3],
                             "bootstrap": {"replicates": 20}},
            "cache": {"dir": str(cache)} if cache else {"enabled": False}}


@pytest.fixture(scope="module")
def embed_onnx(models_dir: Path):
    return onnx_embedder(OnnxMatcher(**onnx_params(models_dir)))


@pytest.fixture()
def blobs(london16: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(london16.glob("*.jpg"))[:6]]


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# --- (1) the same model behind a server gives the same run -----------------------------
def test_http_run_equals_local_onnx_run(embed_onnx, models_dir, london16, london16_manifest,
                                        tmp_path):
    local = fairbench.run(config(london16_manifest, london16, "onnx", onnx_params(models_dir),
                                 None), tmp_path / "local", progress=False)
    with FaceServer(embed_onnx) as srv:
        cfg = config(london16_manifest, london16, "http",
                     hp(srv.url, concurrency=3, embedding_size=256), tmp_path / "cache",
                     batch_size=8)
        remote = fairbench.run(cfg, tmp_path / "http", progress=False)
        assert len(srv.calls) == 32
        again = fairbench.run(cfg, tmp_path / "http2", progress=False)  # all from the cache
        assert len(srv.calls) == 32 and again.record["capture"]["cache_hits"] == 32
    tables = sorted(p.name for p in (local.run_dir / "tables").glob("*.csv"))
    assert "verification_by_group.csv" in tables
    for name in tables:
        a = pd.read_csv(local.run_dir / "tables" / name)
        b = pd.read_csv(remote.run_dir / "tables" / name)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    cols = ["image_id", "acquired", "failure_reason"]
    pd.testing.assert_frame_equal(pd.read_csv(local.run_dir / "images.csv")[cols],
                                  pd.read_csv(remote.run_dir / "images.csv")[cols])
    m = remote.record["matcher"]
    assert m["name"] == "http" and m["embedding_size"] == 256
    assert m["details"]["images_sent_to"] == srv.url.split("/")[2]
    assert m["details"]["remote"] is False and m["details"]["model"] == "test-server v1"


# --- (2) servers that misbehave: every failure recorded, never a crash ----------------
def test_429_with_retry_after_then_success(blobs):
    seen: set[str] = set()

    def first_429(k, call):
        if call.sha not in seen:
            seen.add(call.sha)
            return 429, {"detail": "slow down"}, {"Retry-After": "5"}
        return None

    with FaceServer(script=first_429) as srv:
        m = build_matcher("http", hp(srv.url, retry_after_max_s=0.2, backoff_s=30))
        out = m.embed_bytes(blobs[:3])
    assert all(r.acquired for r in out)
    assert list(srv.counts().values()) == [2, 2, 2]
    gaps = [b.t0 - a.t1 for a, b in zip(srv.calls[::2], srv.calls[1::2])]
    assert all(0.18 <= g < 2 for g in gaps), gaps  # Retry-After honoured, capped at 0.2 s


def test_500s_are_recorded_and_noted_and_all_500s_is_an_error(london16, london16_manifest,
                                                               tmp_path):
    """Some 500s: recorded per image, the run completes and says so in its notes; a server
    that fails every call measured nothing: exit 2, nothing written."""
    with FaceServer(script=lambda k, c: (500, {"detail": "boom"}, {})
                    if k % 9 == 0 else None) as srv:
        res = fairbench.run(config(london16_manifest, london16, "http",
                                   hp(srv.url, concurrency=1, retries=0), tmp_path / "c1"),
                            tmp_path / "out", progress=False)
    failed = res.record["capture"]["failure_reasons"].get("error: http 500 after 0 retries")
    assert failed and res.record["capture"]["n_acquired"] == 32 - failed
    assert any("failed in the matcher itself" in n for n in res.record["notes"])
    with FaceServer(script=lambda k, c: (500, {"detail": "boom"}, {})) as srv:
        with pytest.raises(MatcherError, match="failed on every image"):
            fairbench.run(config(london16_manifest, london16, "http",
                                 hp(srv.url, concurrency=4), tmp_path / "cache"),
                          tmp_path / "out2", progress=False)
        assert len(srv.calls) == 32 * 3
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


def test_timeout_connection_refused_and_per_image_errors(blobs):
    t0 = time.monotonic()
    with FaceServer(script=lambda k, c: (200, "hang", {})) as srv:
        out = build_matcher("http", hp(srv.url, timeout_s=0.2, retries=1,
                                       concurrency=3)).embed_bytes(blobs[:3])
    assert [r.failure_reason for r in out] == ["error: timeout (0.2 s) after 1 retry"] * 3
    assert time.monotonic() - t0 < 5
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = build_matcher("http", hp(f"http://127.0.0.1:{port}/x")).embed_bytes(blobs[:1])
    assert out[0].failure_reason.startswith("error: connection failed (ConnectError")
    assert out[0].failure_reason.endswith("after 2 retries")

    answers = {0: (400, {"detail": "bad image"}, {}), 1: (422, {"reason": "too small"}, {}),
               2: (200, {"embedding": None, "detail": "no face"}, {}), 3: (200, b"<html>", {}),
               4: (200, {"vector": [1, 2]}, {}), 5: (200, {"embedding": ["a"]}, {}),
               6: (422, {"detail": [{"loc": ["body", "image"], "msg": "Field required"}]}, {}),
               7: (307, {}, {"Location": "http://10.9.9.9/elsewhere"})}
    with FaceServer(script=lambda k, c: answers[int(c.fields["n"])]) as srv:
        out = []
        for n, b in enumerate(blobs + blobs[:2]):
            m = build_matcher("http", hp(srv.url, extra_fields={"n": n}))
            out.append(m.embed_bytes([b])[0].failure_reason)
        assert len(srv.calls) == 8  # none of these is retried, no redirect is followed
    assert out == ["error: http 400: bad image", "no_face: too small", "no_face: no face",
                   "error: the server's answer (status 200) is not a JSON object",
                   "error: the server's answer (status 200) has no field 'embedding'",
                   "invalid_embedding: not a list of numbers",
                   "error: http 422: Field required",  # a malformed request, not "no face"
                   "error: http 307 (redirects are not followed: images go only to "
                   "matcher.params.url)"]


def test_unreadable_image_is_never_sent_and_sizes_are_checked(blobs):
    with FaceServer() as srv:
        m = build_matcher("http", hp(srv.url, embedding_size=4))
        out = m.embed_bytes([b"not an image", blobs[0][:200], None, blobs[0]])
        assert len(srv.calls) == 1
    assert [r.failure_reason for r in out[:3]] == ["unreadable_image"] * 3
    assert out[3].failure_reason == ("invalid_embedding: 8 values, "
                                     "matcher.params.embedding_size is 4")


def test_401_fails_fast_naming_the_status(blobs, monkeypatch):
    monkeypatch.setenv("FB_TEST_VENDOR_KEY", KEY)
    with FaceServer(require_key="Bearer something-else") as srv:
        m = build_matcher("http", hp(srv.url, api_key_env="FB_TEST_VENDOR_KEY"))
        with pytest.raises(MatcherError) as exc:
            m.embed_bytes(blobs[:4])
        assert len(srv.calls) == 1
    text = str(exc.value)
    assert "401" in text and "FB_TEST_VENDOR_KEY" in text and KEY not in text
    assert KEY not in repr(exc.value) and KEY not in repr(m.__dict__)


# --- (3) an interrupted run resumes without repeating successful calls ------------------
def test_resume_repeats_only_the_calls_that_failed(london16, london16_manifest, tmp_path):
    """A server that answers 500 after 10 calls: the run completes with 22 recorded
    failures (not cached); a rerun, the server healthy again, asks only for those 22."""
    with FaceServer(script=lambda k, c: (500, {}, {}) if k >= 10 else None) as srv:
        cfg = config(london16_manifest, london16, "http", hp(srv.url, retries=0),
                     tmp_path / "cache", batch_size=4)
        first = fairbench.run(cfg, tmp_path / "a", progress=False)
        ok = {c.sha for c in srv.calls if c.status == 200}
        assert len(srv.calls) == 32
        srv.script = None
        second = fairbench.run(cfg, tmp_path / "b", progress=False)
        again = srv.calls[32:]
    assert first.record["capture"]["n_acquired"] == 10 == len(ok)
    assert len(again) == 22 and not ok & {c.sha for c in again}
    assert len({c.sha for c in again}) == 22
    assert second.record["capture"]["cache_hits"] == 10
    assert second.record["capture"]["n_acquired"] == 32


def test_interrupted_run_keeps_finished_batches(london16, london16_manifest, tmp_path,
                                                monkeypatch):
    """A 401 after 10 calls stops the run (exit 2 from the CLI); finished batches of 4 are
    cached, so a rerun against a healthy server never asks for those 8 images again."""
    monkeypatch.setenv("FB_TEST_VENDOR_KEY", KEY)
    cache = tmp_path / "cache"
    calls: list[str] = []

    def cfg(url):
        p = hp(url, api_key_env="FB_TEST_VENDOR_KEY", retries=0)
        return config(london16_manifest, london16, "http", p, cache, batch_size=4)

    with FaceServer(script=lambda k, c: (401, {}, {}) if k >= 10 else None) as srv:
        with pytest.raises(MatcherError, match="401"):
            fairbench.run(cfg(srv.url), tmp_path / "a", progress=False)
        calls += [c.sha for c in srv.calls[:8]]
        srv.script = None  # healthy again, same URL
        res = fairbench.run(cfg(srv.url), tmp_path / "b", progress=False)
        second = srv.calls[11:]
    assert not set(calls) & {c.sha for c in second} and len(second) == 24
    assert res.record["capture"]["cache_hits"] == 8


# --- (4) the API key never leaks ---------------------------------------------------------
def _cli(cfg: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairbench.cli", "run", str(cfg), "-o",
                           str(out), "--no-progress"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)


def _write(cfg: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def test_api_key_never_leaks(london16, london16_manifest, tmp_path, caplog):
    """A server that echoes the key and the image in every error; a CLI run, a 401 run and
    an in-process run at DEBUG logging: the key is nowhere, nor any image's base64."""
    b64 = base64.b64encode((london16 / "001_neutral.jpg").read_bytes()).decode()

    def echo(k, call):
        auth = call.headers.get("Authorization", "")
        leak = f"{auth} {call.fields.get('image', '')[:200]}"
        return [None, (422, {"reason": "no face " + leak}, {}), (400, {"detail": leak}, {}),
                (500, {"detail": leak}, {}), (200, {"embedding": None, "detail": leak}, {}),
                (200, {"embedding": "x" + leak}, {})][k % 6]

    env = {**os.environ, "FB_TEST_VENDOR_KEY": KEY, "FAIRBENCH_CACHE": str(tmp_path / "c")}
    with FaceServer(script=echo, require_key=f"Bearer {KEY}") as srv:
        p = hp(srv.url, api_key_env="FB_TEST_VENDOR_KEY", retries=0)
        cfg = _write(config(london16_manifest, london16, "http", p, None), tmp_path / "c.yaml")
        ok = _cli(cfg, tmp_path / "out", env)
        assert ok.returncode == 0, ok.stderr[-2000:]
        import logging

        caplog.set_level(logging.DEBUG)
        os.environ["FB_TEST_VENDOR_KEY"] = KEY
        try:
            res = fairbench.run(cfg, tmp_path / "out2", progress=False)
        finally:
            del os.environ["FB_TEST_VENDOR_KEY"]
        srv.require_key = "Bearer wrong"
        denied = _cli(cfg, tmp_path / "out3", env)
    missing = _cli(cfg, tmp_path / "out4", {k: v for k, v in env.items()
                                            if k != "FB_TEST_VENDOR_KEY"})
    reasons = res.record["capture"]["failure_reasons"]
    assert any(r.startswith("no_face: no face Bearer ***") for r in reasons), reasons
    assert denied.returncode == 2 and "401" in denied.stderr and "Traceback" not in denied.stderr
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "FB_TEST_VENDOR_KEY is not set" in missing.stderr
    files = [f for d in ("out", "out2", "out3", "out4") for f in (tmp_path / d).rglob("*")
             if f.is_file()]
    assert any(f.name == "run.json" for f in files)
    texts = [f.read_bytes().decode("utf-8", "replace") for f in files]
    texts += [ok.stdout, ok.stderr, denied.stdout, denied.stderr, missing.stdout,
              missing.stderr, caplog.text, json.dumps(res.record)]
    for t in texts:
        assert KEY not in t and b64[:40] not in t and b64[100:140] not in t


# --- (5) images stay on this machine unless the user says otherwise ----------------------
@pytest.mark.parametrize("url", ["http://10.1.2.3:9/embed", "https://api.vendor.example/v1",
                                 "http://localhost.example.com/x", "http://0.0.0.0:80/x"])
def test_non_loopback_url_needs_allow_remote(url, monkeypatch):
    def no_network(*a: Any, **k: Any):
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(MatcherError, match=r"matcher.params.url: .*allow_remote: true"):
        build_matcher("http", hp(url))
    m = build_matcher("http", hp(url, allow_remote=True))
    d = m.info().details
    assert d["remote"] is True and d["images_sent_to"] == url.split("/")[2]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/e", "http://127.9.9.9/e",
                                 "http://[::1]:8000/e", "http://localhost/e",
                                 "http://[::ffff:127.0.0.1]/e"])
def test_loopback_urls_are_accepted(url):
    assert build_matcher("http", hp(url)).info().details["remote"] is False


@pytest.mark.parametrize("over, key", [
    ({"url": "http://user:pw@127.0.0.1/x"}, "matcher.params.url"),
    ({"url": "http://127.0.0.1/x?api_key=abc"}, "matcher.params.url"),
    ({"url": "ftp://127.0.0.1/x"}, "matcher.params.url"),
    ({"url": "http://[::1/x"}, "matcher.params.url"),
    ({"headers": {"X-Api-Key": "abc"}}, "matcher.params.headers.X-Api-Key"),
    ({"extra_fields": {"access_token": "abc"}}, "matcher.params.extra_fields.access_token"),
    ({"api_key_env": "sk-abc-123"}, "matcher.params.api_key_env"),
    ({"api_key_env": "FB_SURELY_UNSET_VAR"}, "matcher.params.api_key_env"),
    ({"colour": "red"}, "matcher.params.colour"),
    ({"model": ""}, "matcher.params.model"),
    ({"embedding_size": None}, "matcher.params.embedding_size"),
])
def test_bad_params_are_clear_errors_without_values(over, key):
    with pytest.raises(MatcherError) as exc:
        build_matcher("http", {**hp("http://127.0.0.1:1/x"), **over})
    text = str(exc.value)
    assert key in text and "abc" not in text and "sk-abc" not in text


def test_api_key_that_cannot_be_a_header_is_refused_without_echo(monkeypatch):
    monkeypatch.setenv("FB_TEST_VENDOR_KEY", "abc\u00e9\n")
    with pytest.raises(MatcherError, match="printable ASCII") as exc:
        build_matcher("http", hp("http://127.0.0.1:1/x", api_key_env="FB_TEST_VENDOR_KEY"))
    assert "abc" not in str(exc.value)


def test_no_network_at_import_or_construction(monkeypatch):
    code = ("import socket\n"
            "def bad(*a, **k): raise SystemExit('network at import')\n"
            "socket.socket.connect = bad\n"
            "import fairbench.matchers.http as h\n"
            "m = h.HttpMatcher(url='http://10.0.0.1/x', model='m', allow_remote=True,\n"
            "                  embedding_size=4)\n"
            "m.info(); m.fingerprint()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=60)
    assert r.returncode == 0, r.stderr


# --- (6) multipart and custom field names ------------------------------------------------
def test_multipart_with_custom_fields_headers_and_nested_answer(blobs):
    with FaceServer(image_fields=("photo",), embedding_path="result.vector",
                    reason_field="why") as srv:
        m = build_matcher("http", hp(
            srv.url, upload="multipart", headers={"X-Tenant": "audit"},
            extra_fields={"model_version": "v2", "detect": True},
            fields={"image": "photo", "image_id": "uid", "embedding": "result.vector",
                    "reason": ["why"]}))
        out = m.embed_bytes(blobs[:2] + [b"\xff\xd8\xff junk"])
        out += m.embed_batch([np.zeros((64, 64, 3), np.uint8)])  # arrays go as PNG
        calls = srv.calls
    assert [r.acquired for r in out[:2]] == [True, True] and out[2].failure_reason == \
        "unreadable_image"
    np.testing.assert_allclose(out[0].embedding, fake_embedder(blobs[0]), rtol=1e-6)
    c = calls[0]
    assert c.content_type.startswith("multipart/form-data") and c.images[0] == blobs[0]
    assert c.fields["uid"] == sha(blobs[0]) and c.fields["photo.content_type"] == "image/jpeg"
    assert c.fields["model_version"] == "v2" and c.fields["detect"] == "true"
    assert c.headers["X-Tenant"] == "audit"
    assert calls[2].fields["photo.content_type"] == "image/png" and out[3].acquired


def test_json_field_names_and_no_id(blobs):
    def nested(k, c):
        return 200, {"data": [{"embedding": fake_embedder(c.images[0])}]}, {}

    with FaceServer(image_fields=("img",), script=nested) as srv:
        p = hp(srv.url, fields={"image": "img", "image_id": None,
                                "embedding": "data.0.embedding"})
        out = build_matcher("http", p).embed_bytes(blobs[:1])
        assert set(srv.calls[0].fields) == {"img"}
        assert srv.calls[0].content_type == "application/json"
    np.testing.assert_allclose(out[0].embedding, fake_embedder(blobs[0]), rtol=1e-6)


# --- (7) concurrency and rate limit honoured --------------------------------------------
def test_concurrency_is_bounded_and_results_stay_in_order(blobs):
    with FaceServer(delay_s=0.15) as srv:
        m = build_matcher("http", hp(srv.url, concurrency=3))
        out = m.embed_bytes(blobs)
        assert 2 <= srv.max_active <= 3
    for b, r in zip(blobs, out):
        np.testing.assert_allclose(r.embedding, fake_embedder(b), rtol=1e-6)


def test_rate_limit_is_honoured(blobs):
    with FaceServer() as srv:
        m = build_matcher("http", hp(srv.url, concurrency=4, rate_limit_per_s=25))
        assert all(r.acquired for r in m.embed_bytes(blobs + blobs))
        starts = sorted(c.t0 for c in srv.calls)
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    assert rate <= 25 * 1.25, rate


def test_client_pieces():
    bucket = TokenBucket(50.0)
    t0 = time.monotonic()
    for _ in range(6):
        bucket.acquire()
    assert time.monotonic() - t0 >= 5 / 50 * 0.9
    assert retry_after_s("3", 60) == 3 and retry_after_s("120", 10) == 10
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_s(when, 60) <= 31
    assert retry_after_s("soon", 60) is None and retry_after_s(None, 60) is None
    assert retry_after_s("nan", 60) is None and retry_after_s("-5", 60) == 0
    assert all(0.5 <= backoff_s(0, 1.0, 30) <= 1.0 for _ in range(20))
    assert all(backoff_s(10, 1.0, 5) <= 5 for _ in range(20))
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("10.0.0.1")
    s = scrub("key " + KEY + " img " + "QUJD" * 30, type("S", (), {"value": KEY})())
    assert KEY not in s and "QUJD" * 5 not in s


# --- fingerprint, provenance and the compare seam ----------------------------------------
def test_fingerprint_follows_what_changes_answers():
    base = hp("http://127.0.0.1:9/e")
    fp = build_matcher("http", base).fingerprint()
    for over in ({"url": "http://127.0.0.1:9/f"}, {"model": "v2"},
                 {"fields": {"embedding": "vec"}}, {"upload": "multipart"},
                 {"similarity": "euclidean"}):
        assert build_matcher("http", {**base, **over}).fingerprint() != fp, over
    for over in ({"concurrency": 8}, {"retries": 5}, {"timeout_s": 3},
                 {"rate_limit_per_s": 2}):
        assert build_matcher("http", {**base, **over}).fingerprint() == fp, over


def test_compare_bytes_answers_and_failures(blobs):
    with FaceServer() as srv:
        m = build_matcher("http", hp(srv.compare_url, mode="compare"))
        assert isinstance(m, HttpMatcher)
        same = m.compare_bytes(blobs[0], blobs[0])
        other = m.compare_bytes(blobs[0], blobs[2])
        first = srv.calls[0]
        srv.script = lambda k, c: (200, {"score": None, "reason": "no face in image_b"}, {})
        no_face = m.compare_bytes(blobs[0], blobs[1])
        srv.script = lambda k, c: (503, {}, {})
        down = m.compare_bytes(blobs[0], blobs[1])
        with pytest.raises(MatcherError, match="needs mode: compare"):
            build_matcher("http", hp(srv.url)).compare_bytes(blobs[0], blobs[1])
    assert same[1] is None and same[0] == pytest.approx(1.0)
    assert other[1] is None and other[0] < 0.99
    assert no_face == (None, "no_face: no face in image_b")
    assert down == (None, "error: http 503 after 2 retries")
    assert first.images == [blobs[0], blobs[0]] and "image_id" not in first.fields
    assert m.gives_scores and not build_matcher("http", hp(srv.url)).gives_scores
    assert "mode: embed" in COMPARE_PLANNED

"""fairbench.testing.check_matcher: every built-in passes, and each broken toy plugin fails
exactly the check for the promise it breaks, with a reason that says what was seen."""

from __future__ import annotations

import socket
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from fairbench import registry
from fairbench.core.codes import ImageRecord
from fairbench.errors import FairbenchError, MatcherError
from fairbench.registry import UnknownPluginError, matchers
from fairbench.testing import CHECKS, check_matcher
from fairbench.testing.network import NetWatch, NetworkRefused, is_local
from tests import testing_toys as toys

N_FACES = 3  # real images per built-in: each check embeds them a few times


@pytest.fixture(scope="module")
def faces() -> list[Path]:
    from tests.conftest import need, shared_root

    folder = need(shared_root() / "fixtures" / "london16", "london16 fixture")
    return sorted(folder.glob("*.jpg"))[:N_FACES]


@pytest.fixture()
def noise(tmp_path: Path) -> Path:
    toys.synthetic_images(tmp_path)
    return tmp_path


# --- built-ins: the registry's own entry points, each with the params to check it with ----
def _onnx(models: Path, tmp: Path) -> dict:
    return {"model": str(models / "mobileface.onnx"),
            "input": {"name": "data:0", "size": 112}, "output": "batchnorm0/add_1:0",
            "detector": {"model": str(models / "yunet_s_640_640.onnx")}}


def _insightface(models: Path, tmp: Path) -> dict:
    from tests.matchers.test_insightface_matcher import DET_SIZE, make_pack

    return {"pack": str(make_pack(tmp / "buffalo_fake")), "det_size": DET_SIZE}


def _precomputed(models: Path, tmp: Path) -> dict:
    from tests.conftest import shared_root

    ids = sorted(p.stem for p in (shared_root() / "fixtures" / "london16").glob("*.jpg"))
    emb = np.random.default_rng(0).normal(size=(len(ids), 32)).astype(np.float32)
    np.savez(tmp / "emb.npz", image_ids=np.array(ids), embeddings=emb)
    return {"path": str(tmp / "emb.npz")}


def _scores(models: Path, tmp: Path) -> dict:
    (tmp / "scores.csv").write_text("probe_id,reference_id,score\na,b,0.5\n")
    return {"format": "csv", "path": str(tmp / "scores.csv")}


PARAMS = {"dlib": lambda models, tmp: {}, "onnx": _onnx, "insightface": _insightface,
          "precomputed": _precomputed, "scores": _scores}
BUILTINS = sorted(ep.name for ep in entry_points(group="fairbench.matchers")
                  if registry._is_own(ep))


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_passes(name: str, faces, models_dir: Path, tmp_path: Path) -> None:
    if name == "http":
        return _check_http(faces)
    assert name in PARAMS, f"no check configuration for built-in {name!r}: add it to PARAMS"
    report = check_matcher(name, images=faces, params=PARAMS[name](models_dir, tmp_path))
    assert report.passed, report.to_text()
    assert report.names() == [c.name for c in CHECKS if c.applies is None]
    scorer = getattr(matchers.get(name), "gives_scores", False)
    # a score matcher embeds nothing: its embedding checks are skipped, never passed
    assert {r.name for r in report.skipped} == (
        {c.name for c in CHECKS if c.embeds} if scorer else set()), report.to_text()


def _check_http(faces: list[Path]) -> None:
    """The http matcher against a real loopback server (its own tests' server)."""
    server = pytest.importorskip("tests.matchers.http_server")
    with server.FaceServer() as srv:
        report = check_matcher("http", images=faces,
                               params={"url": srv.url, "model": "fake", "embedding_size": 8})
    assert report.passed, report.to_text()
    assert report["no_network"].reason.startswith("local connections only")


# --- broken plugins: each fails its check, and only it -----------------------------------
def test_the_toy_keeps_every_promise(noise: Path) -> None:
    report = check_matcher(toys.Toy, images=noise)
    assert report.passed and not report.skipped, report.to_text()


@pytest.mark.parametrize("cls", list(toys.BROKEN), ids=lambda c: c.__name__)
def test_a_broken_plugin_fails_its_check(cls: type, noise: Path) -> None:
    name = f"broken-{cls.__name__.lower()}"
    matchers.register(name, cls)  # the plugin path a notebook uses
    try:
        report = check_matcher(name, images=noise)
    finally:
        matchers.unregister(name)
    want = toys.BROKEN[cls]
    assert not report.passed
    assert [r.name for r in report.failures] == [want], report.to_text()
    reason = report[want].reason
    assert reason and "\n" not in reason
    assert EXPECTED_WORDS[want] in reason, reason


EXPECTED_WORDS = {
    "result_order": "position 0 (img1.png) got img3.png's first-run result",
    "embedding_size": "embedding sizes differ: 16 (3 inputs",
    "finite_values": "img1.png: non-finite values",
    "deterministic": "relative (tolerance 1e-05)",
    "thread_safe": "thread, img",
    "no_network": "getaddrinfo example.invalid:80 at ",
    "batch_size_invariant": "batches of 1 differ from one batch of 4",
    "failures_reported": "embed_bytes raised ValueError: cannot decode image on bytes that "
                         "are not an image",
    "one_result_per_image": "embed_batch returned 3 results for 4 inputs",
    "fingerprint_tracks_params": "changing scale 1.0 -> 1.1 changes the embeddings",
    "info_complete": "native_direction 'lower_is_more_alike' with similarity 'cosine'",
}


def test_checks_that_need_a_failed_one_are_skipped_with_the_reason(noise: Path) -> None:
    report = check_matcher(toys.Noisy, images=noise)
    for name in ("result_order", "batch_size_invariant", "thread_safe"):
        assert report[name].status == "skipped"
        assert report[name].reason == "needs deterministic to pass"


def test_the_report_renders_as_text_and_html(noise: Path) -> None:
    report = check_matcher(toys.Reversed, images=noise)
    text = report.to_text()
    assert text.splitlines()[0] == "matcher 'toy': FAILED (10 passed, 1 failed, 2 skipped)"
    assert "  FAIL  result_order " in text and "  SKIP  thread_safe " in text
    assert "<table>" in report._repr_html_() and "result_order" in report._repr_html_()
    with pytest.raises(KeyError, match="no check named 'nope'"):
        report["nope"]


# --- the network watch ---------------------------------------------------------------------
def test_loopback_is_local_only_and_passes(noise: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    try:
        toys.LocalServer.port = server.getsockname()[1]
        report = check_matcher(toys.LocalServer, images=noise)
    finally:
        server.close()
    assert report.passed, report.to_text()
    assert report["no_network"].reason.startswith("local connections only")
    assert "127.0.0.1" in report["no_network"].reason


def test_remote_access_is_refused_only_while_watching() -> None:
    with NetWatch(phase="a test") as w, pytest.raises(NetworkRefused):
        socket.getaddrinfo("example.invalid", 80)
    assert [e.target for e in w.remote] == ["example.invalid:80"]
    assert w.remote[0].caller.startswith(__file__)
    with pytest.raises(OSError) as e:  # no longer watched: the lookup itself fails offline
        socket.gethostbyname("example.invalid")
    assert not isinstance(e.value, NetworkRefused)


@pytest.mark.parametrize("host,local", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("api.localhost", True), ("0.0.0.0", True), (None, True),
    ("10.0.0.1", False), ("example.invalid", False), ("8.8.8.8", False), ("localhost.evil", False),
])
def test_what_counts_as_local(host, local) -> None:
    assert is_local(host) is local


# --- matchers that read no images, and bad input --------------------------------------------
def test_precomputed_takes_given_records(tmp_path: Path) -> None:
    params = _precomputed(Path(), tmp_path)
    recs = [ImageRecord(i, None, i) for i in ("001_neutral", "002_smiling")]
    report = check_matcher("precomputed", params=params, records=recs)
    assert report.passed, report.to_text()
    assert report.inputs.startswith("2 given image records")
    assert "'missing_embedding'" in report["failures_reported"].reason


def test_bad_input_raises_a_fairbench_error(tmp_path: Path, noise: Path) -> None:
    with pytest.raises(UnknownPluginError, match="Did you mean 'dlib'"):
        check_matcher("dlb", images=noise)
    with pytest.raises(MatcherError, match="invalid parameters"):
        check_matcher(toys.Toy, images=noise, params={"scale": "big"})
    with pytest.raises(FairbenchError, match="reads images: give images="):
        check_matcher(toys.Toy)
    with pytest.raises(FairbenchError, match="no folder at"):
        check_matcher(toys.Toy, images=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FairbenchError, match="no .jpg, .jpeg or .png files"):
        check_matcher(toys.Toy, images=tmp_path / "empty")
    with pytest.raises(MatcherError, match="embeddings file not found"):
        check_matcher("precomputed", params={"path": str(tmp_path / "none.npz")})


def test_an_instance_is_checked_as_it_is(noise: Path) -> None:
    report = check_matcher(toys.Toy(scale=2.0), images=noise)
    assert report.passed and report.params == {"scale": 2.0}


def test_a_compare_only_server_is_checked_by_comparing(london16):
    """http mode: compare has no templates to check, but it must answer pairs: a server
    that is not there fails compares_pairs (it was silently passed before)."""
    from tests.matchers.http_server import FaceServer

    params = {"mode": "compare", "model": "m", "backoff_s": 0.01, "retries": 0}
    with FaceServer() as srv:
        ok = check_matcher("http", images=london16, params={**params,
                                                             "url": srv.compare_url})
    assert ok["compares_pairs"].status == "passed", ok["compares_pairs"].reason
    gone = check_matcher("http", images=london16, params={**params,
                                                           "url": "http://127.0.0.1:9/x"})
    assert gone["compares_pairs"].status == "failed" and not gone.passed

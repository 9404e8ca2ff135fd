"""Template extraction on every core gives the sequential path's templates, bit for bit:
worker processes (dlib), library threads with a reader thread (ONNX), matcher objects in
this process, an executor's workers; and it stops cleanly on a crash, an error, Ctrl-C
and a killed parent."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from fairbench.config import load_config_dict
from fairbench.errors import FairbenchError, MatcherError
from fairbench.extraction import ExtractWorker, TemplateCache, run_chunk, thread_budget
from fairbench.matchers.base import NO_FACE, UNREADABLE, FaceResult, ImageRecord, build_matcher
from fairbench.procpool import ProcessPool, WorkerDied
from fairbench.templates import Templates, extract_templates
from tests.test_registry import FakeMatcher

REPO = Path(__file__).resolve().parents[1]


def same(a: Templates, b: Templates) -> None:
    np.testing.assert_array_equal(a.embeddings, b.embeddings)  # NaN rows equal too
    assert a.embeddings.tobytes() == b.embeddings.tobytes()
    assert a.failure_reason == b.failure_reason
    np.testing.assert_array_equal(a.acquired, b.acquired)
    np.testing.assert_array_equal(a.detector_score, b.detector_score)
    np.testing.assert_array_equal(a.n_faces, b.n_faces)


@pytest.fixture()
def faces(london16, tmp_path) -> list[ImageRecord]:
    """london16's 32 faces, plus a missing file and one that is not an image."""
    recs = [ImageRecord(p.stem, p, p.stem[:3]) for p in sorted(london16.glob("*.jpg"))]
    bad = tmp_path / "not-an-image.jpg"
    bad.write_bytes(b"\xff\xd8\xff no")
    return [*recs[:10], ImageRecord("gone", tmp_path / "gone.jpg", "x"),
            ImageRecord("bad", bad, "y"), *recs[10:]]


@pytest.fixture()
def restored_threads():
    """An ExtractWorker sizes this process's thread pools for good (a worker owns its
    process); a test that runs one here puts them back."""
    import cv2
    from threadpoolctl import threadpool_limits

    from fairbench import onnxrt

    ort, cvn = onnxrt.intra_op_threads(), cv2.getNumThreads()
    with threadpool_limits(limits=None):
        yield
    onnxrt.set_intra_op_threads(ort)
    cv2.setNumThreads(cvn)


def entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.npz"))


def test_dlib_worker_processes_give_the_sequential_templates(faces, tmp_path):
    m = build_matcher("dlib", {})
    seq = extract_templates(m, faces, None, 4, progress=False, workers=1)
    assert seq.execution["mode"] == "sequential"
    assert seq.failure_reason[10:12] == [UNREADABLE, UNREADABLE] and seq.acquired.sum() >= 30
    cache = TemplateCache(tmp_path / "cache", m.fingerprint(), 128)
    par = extract_templates(m, faces, cache, 4, progress=False, workers=2,
                            build=("dlib", {}))
    # one worker process, and this process as the second worker
    assert par.execution == {"mode": "processes", "workers": 2, "worker_processes": 1,
                             "threads_per_worker": 1, "reader_thread": False}
    same(seq, par)
    assert (par.cache_hits, par.computed) == (0, len(faces) - 1)  # the missing file: unread
    # the workers wrote the cache, whole: the next run reads every template back
    assert len(entries(tmp_path / "cache")) == len(faces) - 1
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    again = extract_templates(m, faces, cache, 4, progress=False, workers=2,
                              build=("dlib", {}))
    same(seq, again)
    assert (again.cache_hits, again.computed) == (len(faces) - 1, 0)


def test_onnx_threads_and_a_reader_give_the_sequential_templates(faces, models_dir):
    params = {"model": str(models_dir / "mobileface.onnx"),
              "input": {"name": "data:0", "size": 112}, "output": "batchnorm0/add_1:0",
              "detector": {"model": str(models_dir / "yunet_s_640_640.onnx")}}
    with thread_budget(1):
        one = build_matcher("onnx", params)
        seq = extract_templates(one, faces, None, 4, progress=False, workers=1)
    with thread_budget(2):
        two = build_matcher("onnx", params)
        par = extract_templates(two, faces, None, 4, progress=False, workers=2,
                                build=("onnx", params))
    assert par.execution == {"mode": "threads", "workers": 1, "threads_per_worker": 2,
                             "reader_thread": True}
    same(seq, par)
    assert par.acquired.sum() >= 30


class Recording(FakeMatcher):
    """Embeds on whatever thread calls it, and says which ones did."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.threads: set[int] = set()
        self.calls = 0

    def embed_batch(self, images):
        self.threads.add(threading.get_ident())
        self.calls += len(images)
        return [FaceResult.failed(NO_FACE, n_faces=0) if img.mean() < 1 else
                FaceResult(embedding=np.full(4, img.mean(), np.float32), detector_score=0.5)
                for img in images]


@pytest.fixture()
def small(tmp_path) -> list[ImageRecord]:
    """Eleven tiny images: three repeat the bytes of earlier ones (two of them in the next
    batch, one far later), a black one (no face), an unreadable one, a missing one."""
    import cv2

    recs = []
    for k, v in enumerate([0, 50, 120, 50, 200, 120, 7, 90]):
        p = tmp_path / f"{k}.png"
        cv2.imwrite(str(p), np.full((8, 8, 3), v, np.uint8))
        recs.append(ImageRecord(f"i{k}", p, f"s{k}"))
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8 junk")
    recs += [ImageRecord("junk", tmp_path / "x.jpg", "j"),
             ImageRecord("gone", tmp_path / "gone.png", "g"), recs[3]]
    return recs


def test_a_matcher_object_runs_here_with_the_sequential_outcomes(small, tmp_path):
    a, b = Recording(), Recording()
    seq = extract_templates(a, small, TemplateCache(tmp_path / "c1", a.fingerprint()), 2,
                            progress=False, workers=1)
    par = extract_templates(b, small, TemplateCache(tmp_path / "c2", b.fingerprint()), 2,
                            progress=False, workers=4)
    assert par.execution["mode"] == "in-process" and par.execution["reader_thread"]
    same(seq, par)
    # images whose bytes an earlier batch embedded are read back, as the sequential path does
    assert (par.cache_hits, par.computed) == (seq.cache_hits, seq.computed) == (3, 7)
    assert a.calls == b.calls == 6  # the junk bytes never reach embed_batch
    assert b.threads == {threading.get_ident()}  # the matcher itself stays on this thread


def test_the_reader_thread_stops_when_the_embedding_thread_is_interrupted(small, tmp_path):
    class Dies(Recording):
        def embed_batch(self, images):
            if self.calls >= 2:
                raise KeyboardInterrupt
            return super().embed_batch(images)

    before = threading.active_count()
    m = Dies()
    with pytest.raises(KeyboardInterrupt):
        extract_templates(m, small, TemplateCache(tmp_path / "c", m.fingerprint()), 2,
                          progress=False, workers=2)
    assert threading.active_count() == before  # no reader left running
    assert not list((tmp_path / "c").rglob("*.tmp"))


class InProcessRemote:
    """An executor that says it is remote but runs here: every state and call crosses a
    pickle, as it would to a Ray actor."""

    name, remote = "fake-remote", True

    def parallelism(self) -> int:
        return 3

    def map_with_state(self, make_state, call, items):
        make_state, call = pickle.loads(pickle.dumps((make_state, call)))
        state = make_state()
        return [pickle.loads(pickle.dumps(call(state, pickle.loads(pickle.dumps(it)))))
                for it in items]


def test_an_executor_runs_extract_workers_with_the_sequential_outcomes(faces, tmp_path,
                                                                      restored_threads):
    m = build_matcher("dlib", {})
    seq = extract_templates(m, faces[:14], None, 4, progress=False, workers=1)
    cache = TemplateCache(tmp_path / "cache", m.fingerprint(), 128)
    ex = extract_templates(m, faces[:14], cache, 4, progress=False,
                           executor=InProcessRemote(), build=("dlib", {}))
    assert ex.execution["mode"] == "executor" and ex.execution["executor"] == "fake-remote"
    same(seq, ex)
    assert len(entries(tmp_path / "cache")) == 13


def test_an_extract_worker_is_picklable_and_checks_its_matcher(faces, tmp_path,
                                                              restored_threads):
    m = build_matcher("dlib", {})
    w = ExtractWorker("dlib", {}, tmp_path / "cache", m.fingerprint(), 128)
    chunk = [(7, faces[0]), (8, faces[10]), (9, faces[11])]  # a face, missing, not an image
    out = pickle.loads(pickle.dumps(w))(chunk)
    assert [(k, hit) for k, _, hit in sorted(out, key=lambda o: o[0])] == \
        [(7, False), (8, None), (9, False)]
    assert pickle.loads(pickle.dumps(w))._matcher is None  # the model never travels
    assert run_chunk(w, chunk[:1])[0][2] is True  # now from the cache it wrote
    wrong = ExtractWorker("dlib", {"padding": 0.3}, None, m.fingerprint(), 128)
    with pytest.raises(MatcherError, match="not the run's"):
        wrong(chunk)


# --- the process pool: failures never hang, and leave nothing behind ----------------------
def _die_on(state, item):
    if item == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return item * 10


def _refuse(state, item):
    if item == 3:
        raise FairbenchError("no good", ["item three"])
    return item


def _state():
    return None


def _square(state, item):
    time.sleep(0.02 * (item % 3))
    return (state or 0) + item * item


def test_this_process_works_beside_its_worker_processes_in_item_order():
    import multiprocessing as mp

    pool = ProcessPool(2)
    assert list(pool.map_with_state(_state, _square, range(40), here=0)) == \
        [k * k for k in range(40)]
    assert pool.processes == 1 and 0 < pool.done_here < 40  # both did some
    assert mp.active_children() == []


def test_a_worker_that_dies_is_a_clear_error_not_a_hang():
    import multiprocessing as mp

    pool = ProcessPool(2, what="test")
    t = time.monotonic()
    with pytest.raises(WorkerDied, match="killed by signal SIGKILL"):
        list(pool.map_with_state(_state, _die_on, range(6)))
    assert time.monotonic() - t < 60
    assert mp.active_children() == []


def test_an_error_in_a_worker_is_raised_here_with_its_problems():
    import multiprocessing as mp

    with pytest.raises(FairbenchError) as err:
        list(ProcessPool(2).map_with_state(_state, _refuse, range(6)))
    assert err.value.headline == "no good" and err.value.problems == ["item three"]
    assert mp.active_children() == []
    assert list(ProcessPool(2).map_with_state(_state, _refuse, [0, 1, 2])) == [0, 1, 2]


# --- a whole run: Ctrl-C, and a killed parent ---------------------------------------------
def _ours(tag: str) -> list[int]:
    """Live processes carrying ``tag`` in their environment (the run and its workers)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                env = (d / "environ").read_bytes()
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if tag.encode() in env and ") Z " not in stat:
                found.append(int(d.name))
    return found


def _gone(tag: str, within: float = 20.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not _ours(tag):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture()
def dlib_run(london_root, tmp_path):
    """The London set with dlib on two workers (about 10 s of extraction here)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {name: london, attributes: [eth]}\n"
                   "matcher: {name: dlib, batch_size: 2, workers: 2}\n"
                   "verification: {target_fmr: [0.4], bootstrap: {replicates: 5}}\n")
    tag = f"FAIRBENCH_TEST_TAG={uuid.uuid4().hex}"
    env = {**os.environ, "FAIRBENCH_CACHE": str(tmp_path / "cache"),
           "FAIRBENCH_DATA_ROOT": str(london_root.parent), tag.split("=")[0]: tag.split("=")[1]}
    return cfg, env, tag, tmp_path


def _start(cfg: Path, env: dict, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fairbench.cli", "run", str(cfg), "-o",
                             str(out), "--no-progress"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_work(p: subprocess.Popen, tag: str, cache: Path) -> None:
    """Until the workers have written some templates (the run is mid-extraction)."""
    end = time.monotonic() + 120
    while time.monotonic() < end and p.poll() is None:
        if len(_ours(tag)) >= 3 and len(entries(cache)) >= 2:
            return
        time.sleep(0.1)
    raise AssertionError(f"the run never got to its workers: {p.poll()}")


def test_ctrl_c_exits_130_leaving_no_worker_and_no_partial_cache_file(dlib_run):
    cfg, env, tag, tmp = dlib_run
    p = _start(cfg, env, tmp / "out")
    try:
        _wait_for_work(p, tag, tmp / "cache")
        os.killpg(p.pid, signal.SIGINT)  # as a terminal does: the whole foreground group
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert _gone(tag), f"orphans: {_ours(tag)}"
    assert not list((tmp / "cache").rglob("*.tmp"))
    assert 2 <= len(entries(tmp / "cache")) < 204  # it was stopped in the middle
    m = build_matcher("dlib", {})
    cache = TemplateCache(next((tmp / "cache").glob("templates")), m.fingerprint(), 128)
    for e in entries(tmp / "cache"):  # every entry whole
        assert cache.get(e.stem) is not None
    assert not (tmp / "out").exists() or not [x for x in (tmp / "out").iterdir()
                                               if not x.name.startswith(".")]


def test_a_killed_run_takes_its_workers_with_it(dlib_run):
    cfg, env, tag, tmp = dlib_run
    p = _start(cfg, env, tmp / "out")
    try:
        _wait_for_work(p, tag, tmp / "cache")
        os.kill(p.pid, signal.SIGKILL)  # the parent only
        p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert _gone(tag), f"orphans: {_ours(tag)}"
    assert len(entries(tmp / "cache")) < 204


def test_workers_is_not_part_of_the_study():
    base = {"dataset": {"name": "london"}, "matcher": {"name": "dlib"}}
    hashes = {load_config_dict({**base, "matcher": {"name": "dlib", "workers": w}}).hash()
              for w in (1, 2, None)}
    assert len(hashes) == 1 and load_config_dict(base).hash() in hashes
    with pytest.raises(FairbenchError, match="workers"):
        load_config_dict({**base, "matcher": {"name": "dlib", "workers": 0}})


def test_a_run_on_every_core_writes_the_sequential_runs_tables(london16, london16_manifest,
                                                              tmp_path):
    import fairbench

    cfg = {"dataset": {"manifest": str(london16_manifest), "root": str(london16),
                       "attributes": ["eth"]},
           "matcher": {"name": "dlib", "batch_size": 4},
           "verification": {"target_fmr": [0.4], "bootstrap": {"replicates": 20}},
           "cache": {"enabled": False}}
    runs = {w: fairbench.run(cfg, tmp_path / str(w), overrides=[f"matcher.workers={w}"],
                             progress=False) for w in (1, 2)}
    one, two = runs[1], runs[2]
    assert one.record["config_hash"] == two.record["config_hash"]
    assert one.record["capture"]["extraction"]["mode"] == "sequential"
    assert two.record["capture"]["extraction"]["workers"] == 2
    tables = [{p.name: p.read_bytes() for p in sorted((r.run_dir / "tables").glob("*.csv"))}
              for r in (one, two)]
    assert tables[0] == tables[1] and len(tables[0]) >= 5
    assert (one.run_dir / "counts.npz").read_bytes() == (two.run_dir / "counts.npz").read_bytes()

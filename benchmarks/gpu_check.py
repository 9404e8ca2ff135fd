"""The GPU check: exactness against the CPU kernels, then the figures, as one JSON object.

    python benchmarks/gpu_check.py --device cuda          # a GPU machine, under 5 minutes
    python benchmarks/gpu_check.py --device cpu --small   # the same code paths on NumPy

Sections (each reports its own error instead of stopping the rest):
- ``environment``: device name, CuPy / CUDA / numpy / onnxruntime versions, ORT providers;
- ``exactness``: :mod:`fairbench.kernels.device.check` on a subsample, for float32, TF32
  and float16 inputs and both similarity kinds, plus the 1:N lists; ``passed`` is the
  float32 verdict (reduced precisions are reported, not required to match float32);
- ``allpairs``: N = 10^6 templates at d = 512 (goal < 3 s, at least < 10 s), preceded by
  N = 10^5 to project the time; the full size runs only if the projection fits the budget;
- ``search``: 10^7 gallery x 1,000 probes, k = 21 (the gallery made on the device);
- ``extraction``: faceres (1024-d) ONNX inference on aligned 224 x 224 crops with the
  CUDA provider when it is there: faces/s, and the providers that really ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from fairbench.kernels.device import array_module, describe  # noqa: E402
from fairbench.kernels.device.allpairs import _upload, device_stream  # noqa: E402
from fairbench.kernels.device.check import allpairs_exactness, search_exactness  # noqa: E402
from fairbench.kernels.device.gemm import product, round_inputs  # noqa: E402
from fairbench.kernels.device.search import device_search_topk  # noqa: E402
from fairbench.kernels.stream import prepare_stream, tile_list  # noqa: E402

SIZES = {  # (full, small)
    "exact_n": (4096, 500), "exact_dim": (512, 64),
    "search_exact": ((20_000, 200), (3000, 40)),
    "allpairs_n": (1_000_000, 6000), "allpairs_probe_n": (100_000, 2000),
    "dim": (512, 64), "gallery": (10_000_000, 20_000), "probes": (1000, 100),
    "faces": (512, 8),
}


def size(name: str, small: bool) -> Any:
    return SIZES[name][1 if small else 0]


def section(out: dict[str, Any], name: str, fn, *args) -> None:
    t = time.perf_counter()
    try:
        out[name] = fn(*args)
    except Exception as exc:  # one broken section must not hide the others' figures
        out[name] = {"error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc(limit=4)}
    out.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t, 3)


def environment(device: str) -> dict[str, Any]:
    out = describe(device)
    out["python"] = platform.python_version()
    out["machine"] = platform.machine()
    try:
        import onnxruntime as ort

        out["onnxruntime"] = ort.__version__
        out["onnxruntime_providers_available"] = ort.get_available_providers()
    except Exception as exc:
        out["onnxruntime"] = f"unavailable: {exc}"
    return out


def _guarded(fn, *args, **info) -> dict[str, Any]:
    """``fn(*args)``, or its error with ``passed: False`` (one failing precision must not hide
    the others' results)."""
    try:
        return fn(*args)
    except Exception as exc:
        return {**info, "passed": False, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=4)}


def exactness(device: str, small: bool) -> dict[str, Any]:
    n, dim = size("exact_n", small), size("exact_dim", small)
    runs = [_guarded(allpairs_exactness, device, n, dim, kind, precision, kind=kind,
                     precision=precision)
            for kind in ("cosine", "euclidean") for precision in ("float32", "tf32", "float16")]
    g, p = size("search_exact", small)
    search = _guarded(search_exactness, device, g, p, dim)
    f32 = [r for r in runs if r["precision"] == "float32"]
    return {"allpairs": runs, "search": search,
            "passed": bool(all(r["passed"] for r in f32) and search["passed"]),
            "reduced_precision_passed": bool(all(r["passed"] for r in runs))}


def _sync(xp) -> None:
    if xp is not np:
        xp.cuda.runtime.deviceSynchronize()


def _allpairs_runs(device: str, n: int, dim: int, precisions: tuple[str, ...] = ("float32",),
                   groups: int = 12) -> dict[str, Any]:
    """One simulated set of n templates, the device kernel in each precision on it."""
    rng = np.random.default_rng(0)
    x = rng.random((n, dim), dtype=np.float32) - np.float32(0.5)
    subj = np.arange(n) // 2
    strata = (subj * 7919 % groups).astype(np.int64)
    t0 = time.perf_counter()
    inp = prepare_stream(x, "cosine", subj, strata)
    del x
    iu = np.triu_indices(groups)
    pidx = np.zeros((groups, groups), np.int64)
    pidx[iu] = np.arange(len(iu[0]))
    pidx = np.maximum(pidx, pidx.T)
    nbins = 4096
    prep = time.perf_counter() - t0
    # floor bin for an FMR about 1e-4 on these scores (cosines of random centred vectors)
    floor = min(nbins - 1, int((1.0 + 4.0 / np.sqrt(dim)) / (2.0 + 1e-6) * nbins))
    pairs = n * (n - 1) // 2
    out: dict[str, Any] = {"n": n, "dim": dim, "groups": groups, "pairs": pairs,
                           "prepare_s": round(prep, 3)}
    for precision in precisions:
        out[precision] = _guarded(_timed_run, device, inp, pidx, len(iu[0]), nbins, floor,
                                  precision, pairs)
    return out


def _timed_run(device: str, inp: Any, pidx: np.ndarray, n_slots: int, nbins: int, floor: int,
               precision: str, pairs: int) -> dict[str, Any]:
    stats: dict[str, float] = {}
    t1 = time.perf_counter()
    res = device_stream(inp, pidx, n_slots, -1.0, 1.0 + 1e-6, nbins, floor, device=device,
                        precision=precision, stats=stats)
    el = time.perf_counter() - t1
    return {
        "kernel_s": round(el, 3), "upload_s": round(stats["upload_s"], 3),
        "tiles_s": round(stats["tiles_s"], 3),
        "products_only_s": round(_products_only(device, inp, precision), 3),
        "pairs_per_s": pairs / el, "kept_pairs": int(len(res.kept_s)),
        "counted": int(res.hist.sum()) + len(res.genuine) == pairs}


def _products_only(device: str, inp: Any, precision: str, block: int = 8192) -> float:
    """The same tiles' products alone (the matrix-product rate the fold is measured by)."""
    xp = array_module(device)
    X, _ = _upload(xp, inp)
    X = round_inputs(xp, X, precision)
    n = len(X)
    block = min(block, n)
    buf = xp.empty(block * block, dtype=xp.float32)
    _sync(xp)
    t = time.perf_counter()
    for r0, r1, c0, c1 in tile_list(n, block):
        A = X[r0:r1]
        S = buf[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
        product(xp, A, A if c0 == r0 else X[c0:c1], S, precision)
    _sync(xp)
    return time.perf_counter() - t


def allpairs(device: str, small: bool, budget_s: float = 90.0) -> dict[str, Any]:
    dim = size("dim", small)
    n0, n = size("allpairs_probe_n", small), size("allpairs_n", small)
    probe = _allpairs_runs(device, n0, dim)
    f = probe["float32"]
    projected = f["tiles_s"] * (n / n0) ** 2 + f["upload_s"] * n / n0
    out = {"probe": probe, "projected_s": round(projected, 2), "goal_s": 3.0,
           "at_least_s": 10.0}
    if projected <= budget_s:
        out["full"] = _allpairs_runs(device, n, dim, ("float32", "float16") if device == "cuda"
                                     and 2 * projected <= budget_s else ("float32",))
    else:
        out["full"] = f"skipped: projected {projected:.0f} s is over the {budget_s:.0f} s budget"
    return out


def search(device: str, small: bool, budget_s: float = 60.0) -> dict[str, Any]:
    xp = array_module(device)
    dim, n_p, k = size("dim", small), size("probes", small), 21
    out: dict[str, Any] = {"k": k, "dim": dim, "probes": n_p}
    for name, n_g in (("probe", size("gallery", small) // 10), ("full", size("gallery", small))):
        rs = np.random.default_rng(0) if xp is np else xp.random.RandomState(0)
        g = xp.empty((n_g, dim), dtype=xp.float32)
        for a in range(0, n_g, 1 << 20):  # made where it is searched: 20 GB at full size
            g[a : a + (1 << 20)] = rs.standard_normal((min(1 << 20, n_g - a), dim),
                                                      dtype=np.float32)
        p = np.random.default_rng(1).standard_normal((n_p, dim), dtype=np.float32)
        _sync(xp)
        t = time.perf_counter()
        s, i = device_search_topk(p, g, k, "cosine", device=device)
        _sync(xp)
        el = time.perf_counter() - t
        out[name] = {"gallery": n_g, "seconds": round(el, 3),
                     "comparisons_per_s": n_g * n_p / el, "filled": bool((i >= 0).all())}
        del g
        if name == "probe" and el * 10 > budget_s:
            out["full"] = f"skipped: projected {el * 10:.0f} s is over the {budget_s:.0f} s budget"
            break
    return out


def models_dir(given: str | None) -> Path:
    data = os.environ.get("FAIRBENCH_DATA_ROOT")
    for p in ([Path(given)] if given else []) + ([Path(data).resolve().parent / "models"]
                                                 if data else []) + [
            ROOT / "shared" / "models", ROOT.parent / "shared" / "models"]:
        if (p / "faceres.onnx").is_file():
            return p
    raise FileNotFoundError("faceres.onnx not found (give --models DIR)")


def extraction(device: str, small: bool, models: str | None) -> dict[str, Any]:
    from fairbench.onnxrt import open_session, provider_note

    want = (["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda"
            else ["CPUExecutionProvider"])
    session, sha = open_session(models_dir(models) / "faceres.onnx", None, want, "faceres")
    used = list(session.get_providers())
    n, batch = size("faces", small), 8 if small else 64
    crops = np.random.default_rng(0).integers(0, 256, (batch, 224, 224, 3)).astype(np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: crops[:1]})  # warm-up: CUDA graphs, cuDNN autotuning
    t = time.perf_counter()
    done = 0
    while done < n:
        session.run(["global_pooling/Mean"], {name: crops})
        done += batch
    el = time.perf_counter() - t
    return {"model": "faceres.onnx", "sha256": sha, "providers_requested": want,
            "providers_used": used, "note": provider_note(want, used), "batch": batch,
            "faces": done, "faces_per_s": done / el,
            "what": "model inference on aligned 224x224 crops (no decode or detection)"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], required=True)
    ap.add_argument("--small", action="store_true", help="small sizes (CI, under a minute)")
    ap.add_argument("--models", help="folder holding faceres.onnx (default: shared/models)")
    ap.add_argument("--skip", nargs="*", default=[], help="sections to leave out")
    a = ap.parse_args(argv)
    dev = "numpy" if a.device == "cpu" else "cuda"
    out: dict[str, Any] = {"device": a.device, "kernel_device": dev, "small": a.small}
    section(out, "environment", environment, dev)
    for name, fn, args in (("exactness", exactness, (dev, a.small)),
                           ("allpairs", allpairs, (dev, a.small)),
                           ("search", search, (dev, a.small)),
                           ("extraction", extraction, (a.device, a.small, a.models))):
        if name not in a.skip:
            section(out, name, fn, *args)
    out["passed"] = bool(isinstance(out.get("exactness"), dict)
                         and out["exactness"].get("passed"))
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1, default=float))

"""Simulated embeddings with planted, known group differences (no images needed).

Each group g has its own shared direction u_g. A subject's identity vector is a random
unit vector pulled towards u_g with strength ``shift[g]``, so impostors of the same group
are more alike the larger the shift (a higher same-group FMR at any global threshold).
Each image adds noise of scale ``noise[g]`` to its subject's vector, so a larger noise
means lower genuine similarity (a higher FNMR). Results computed on these embeddings are
marked simulated everywhere.

>>> frame, emb = simulate(SimSpec(n_subjects=6, groups=2, dim=8, seed=1))
>>> emb.shape, sorted(frame["group"].unique())
((12, 8), ['g00', 'g01'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairbench.config import SimSpec


def _per_group(values: list[float] | None, lo: float, hi: float, groups: int) -> np.ndarray:
    return np.asarray(values if values is not None else np.linspace(lo, hi, groups),
                      dtype=np.float64)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def simulate(spec: SimSpec, chunk: int = 8192) -> tuple[pd.DataFrame, np.ndarray]:
    """A manifest frame (image_id, path, subject_id, group) and (N, dim) embeddings."""
    rng = np.random.default_rng(spec.seed)
    G, d, k = spec.groups, spec.dim, spec.images_per_subject
    dirs = _unit(rng.normal(size=(G, d)))
    group = np.arange(spec.n_subjects) % G
    shift = _per_group(spec.shift, 0.0, 0.6, G)
    noise = _per_group(spec.noise, 0.5, 0.8, G)
    n = spec.n_subjects * k
    emb = np.empty((n, d), dtype=spec.dtype)
    for a in range(0, spec.n_subjects, chunk):
        b = min(spec.n_subjects, a + chunk)
        g = group[a:b]
        ident = _unit(_unit(rng.normal(size=(b - a, d))) + shift[g, None] * dirs[g])
        jitter = rng.normal(size=(b - a, k, d)) / np.sqrt(d)
        imgs = ident[:, None, :] + noise[g, None, None] * jitter
        emb[a * k : b * k] = imgs.reshape(-1, d)
    subj = np.repeat(np.arange(spec.n_subjects), k)
    names = [f"g{x:02d}" for x in range(G)]
    frame = pd.DataFrame({
        "image_id": [f"s{s:06d}_{i}" for s in range(spec.n_subjects) for i in range(k)],
        "path": "",
        "subject_id": [f"s{s:06d}" for s in subj],
        "group": [names[x] for x in group[subj]],
    })
    return frame, emb

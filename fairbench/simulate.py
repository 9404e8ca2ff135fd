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
from pydantic import BaseModel, ConfigDict, Field, model_validator


class SimSpec(BaseModel):
    """What to simulate; defaults plant an increasing shift and noise across groups."""

    model_config = ConfigDict(extra="forbid")

    n_subjects: int = Field(1000, ge=2)
    groups: int = Field(4, ge=1)
    dim: int = Field(128, ge=2)
    images_per_subject: int = Field(2, ge=1)
    shift: list[float] | None = None  # per group; default linspace(0.0, 0.6)
    noise: list[float] | None = None  # per group; default linspace(0.5, 0.8)
    seed: int = 0
    dtype: str = Field("float32", pattern="^(float32|float16)$")

    @model_validator(mode="after")
    def _lengths(self) -> SimSpec:
        for name in ("shift", "noise"):
            v = getattr(self, name)
            if v is not None and len(v) != self.groups:
                raise ValueError(f"{name} needs one value per group ({self.groups})")
        return self

    def shifts(self) -> np.ndarray:
        return np.asarray(self.shift if self.shift is not None
                          else np.linspace(0.0, 0.6, self.groups), dtype=np.float64)

    def noises(self) -> np.ndarray:
        return np.asarray(self.noise if self.noise is not None
                          else np.linspace(0.5, 0.8, self.groups), dtype=np.float64)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def simulate(spec: SimSpec, chunk: int = 8192) -> tuple[pd.DataFrame, np.ndarray]:
    """A manifest frame (image_id, path, subject_id, group) and (N, dim) embeddings."""
    rng = np.random.default_rng(spec.seed)
    G, d, k = spec.groups, spec.dim, spec.images_per_subject
    dirs = _unit(rng.normal(size=(G, d)))
    group = np.arange(spec.n_subjects) % G
    shift, noise = spec.shifts(), spec.noises()
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

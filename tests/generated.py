"""Generated embeddings whose float32 scores are exact, so brute force is bit-identical.

Cosine: unit vectors with four entries of +-0.5 (norm exactly 1, dot products multiples of
0.25: many ties). Euclidean: small integer vectors (squared distances are exact integers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def generated(kind: str, n_subjects: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A manifest frame (1-4 images per subject, two attributes, some unknown) and embeddings."""
    rng = np.random.default_rng(seed)
    rows, embs = [], []
    for s in range(n_subjects):
        grp = ["a", "b", "c", "unknown"][s % 4] if s % 11 else "unknown"
        sex = ["f", "m"][(s // 2) % 2]
        for k in range(int(rng.integers(1, 5))):
            rows.append({"image_id": f"s{s}_{k}", "path": f"s{s}_{k}.jpg",
                         "subject_id": f"s{s:03d}", "grp": grp, "sex": sex})
            if kind == "cosine":
                v = np.zeros(16, np.float32)
                v[rng.choice(16, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
            else:
                v = rng.integers(-2, 3, 8).astype(np.float32)
            embs.append(v)
    e = np.array(embs, dtype=np.float32)
    e[[3, 17]] = np.nan  # failed templates
    return pd.DataFrame(rows), e

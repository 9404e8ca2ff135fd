"""Skin tone as ITA (individual typology angle) from landmark-located skin patches.

ITA (degrees) = atan((L* - 50) / b*) * 180 / pi, with L* and b* in CIELAB (D65), taken as
the medians over three patches: both cheeks (below the eyes, outside the nose) and the
forehead (above the brows, below the usual hair line). Eyes, brows, lips and hair are
avoided by placing the patches relative to the 5 detector landmarks and keeping them small.
"""

from __future__ import annotations

import numpy as np

#: Bumped whenever patch placement or the colour pipeline changes (recorded with results).
METHOD_VERSION = "ita-v1: cheeks+forehead patches from 5 landmarks, median L*/b*, D65"

#: Standard ITA bands (Chardon et al. 1991; Del Bino et al.), lower bounds in degrees,
#: checked from the top.
ITA_BANDS: list[tuple[str, float]] = [
    ("very_light", 55.0),
    ("light", 41.0),
    ("intermediate", 28.0),
    ("tan", 10.0),
    ("brown", -30.0),
    ("dark", float("-inf")),
]

#: Default mapping of ITA bands to three coarser tone groups (configurable).
DEFAULT_GROUPS = {
    "very_light": "lighter", "light": "lighter", "intermediate": "medium", "tan": "medium",
    "brown": "darker", "dark": "darker",
}


def ita_degrees(lab_l: np.ndarray | float, lab_b: np.ndarray | float) -> np.ndarray:
    """ITA in degrees from L* (0..100) and b*; b* = 0 gives +-90."""
    lab_l = np.asarray(lab_l, dtype=np.float64)
    lab_b = np.asarray(lab_b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.degrees(np.arctan((lab_l - 50.0) / lab_b))


def ita_band(ita: float) -> str:
    """The standard ITA band name of an angle; '' for NaN."""
    if not np.isfinite(ita):
        return ""
    for name, low in ITA_BANDS:
        if ita > low:
            return name
    return "dark"


def tone_group(ita: float, mapping: dict[str, str] | None = None) -> str:
    """The coarse tone group of an angle, through ``mapping`` (band -> group)."""
    band = ita_band(ita)
    if not band:
        return "unknown"
    return (mapping or DEFAULT_GROUPS).get(band, band)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (..., 3) -> CIELAB float32 with L* in 0..100 (OpenCV, sRGB, D65)."""
    import cv2

    x = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(x, cv2.COLOR_RGB2LAB).reshape(*rgb.shape[:-1], 3)


def skin_patches(landmarks: np.ndarray) -> list[tuple[float, float, float]]:
    """Patch circles (cx, cy, r) for the right cheek, left cheek and forehead.

    Landmarks are (5, 2): right eye, left eye, nose tip, right and left mouth corner.
    With d the inter-eye distance and ``down`` the unit vector from the eye midpoint
    towards the mouth midpoint: cheeks sit 55 % of the way from each eye to its mouth
    corner, pushed 0.12 d outwards; the forehead sits 0.7 d above the eye midpoint;
    radius 0.14 d.
    """
    p = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    re, le, _, rm, lm = p
    d = float(np.linalg.norm(le - re))
    mid_e, mid_m = (re + le) / 2, (rm + lm) / 2
    down = (mid_m - mid_e) / max(float(np.linalg.norm(mid_m - mid_e)), 1e-6)
    across = (le - re) / max(d, 1e-6)
    r = 0.14 * d
    rc = re + 0.55 * (rm - re) - 0.12 * d * across
    lc = le + 0.55 * (lm - le) + 0.12 * d * across
    fh = mid_e - 0.7 * d * down
    return [(float(c[0]), float(c[1]), r) for c in (rc, lc, fh)]


def skin_mask(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """Boolean (H, W) mask of the skin patches, clipped to the image."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), dtype=bool)
    for cx, cy, r in skin_patches(landmarks):
        mask |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    return mask


def measure_ita(image: np.ndarray, landmarks: np.ndarray, min_pixels: int = 20) -> float:
    """ITA (degrees) of the skin patches of an RGB uint8 image; NaN when too few pixels.

    Near-black (L* < 5) and specular (L* > 97) pixels are dropped before the medians.
    """
    p = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    pad = 0.5 * float(np.linalg.norm(p[1] - p[0])) + 2
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(v - 2 * pad)) for v in p.min(axis=0))
    x1, y1 = min(w, int(p[:, 0].max() + 2 * pad)), min(h, int(p[:, 1].max() + 2 * pad))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return float("nan")
    crop = image[y0:y1, x0:x1]
    mask = skin_mask(crop.shape, p - np.array([x0, y0]))
    lab = rgb_to_lab(crop)[mask]
    lab = lab[(lab[:, 0] >= 5) & (lab[:, 0] <= 97)]
    if len(lab) < min_pixels:
        return float("nan")
    return float(ita_degrees(np.median(lab[:, 0]), np.median(lab[:, 2])))

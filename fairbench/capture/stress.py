"""Deterministic, seeded capture-stress transforms on RGB uint8 images.

Each transform is a named condition. The same (image, condition, seed) always gives the
same output; noise is drawn from a generator seeded by ``seed`` and the image's shape.
``face_box`` (x, y, w, h) lets back-light darken the face and brighten the rest; without
it, a centred ellipse stands in for the face.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Box = tuple[float, float, float, float]


def _gamma_gain(img: np.ndarray, gamma: float, gain: float) -> np.ndarray:
    x = (img.astype(np.float32) / 255.0) ** gamma * gain
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def exposure_down(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Under-exposure: gamma 2.2 then gain 0.6 (darker everywhere, shadows crushed)."""
    return _gamma_gain(img, 2.2, 0.6)


def exposure_up(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Over-exposure: gamma 0.45 then gain 1.3 (brighter, highlights clipped)."""
    return _gamma_gain(img, 0.45, 1.3)


def face_mask(shape: tuple[int, ...], face_box: Box | None = None) -> np.ndarray:
    """Soft mask (H, W) in 0..1: 1 on the face (box-inscribed ellipse, or a centred one)."""
    h, w = shape[:2]
    if face_box is None:
        cx, cy, rx, ry = w / 2, h / 2, w * 0.25, h * 0.33
    else:
        x, y, bw, bh = face_box
        cx, cy, rx, ry = x + bw / 2, y + bh / 2, bw * 0.6, bh * 0.7
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = ((xx - cx) / max(rx, 1.0)) ** 2 + ((yy - cy) / max(ry, 1.0)) ** 2
    return np.clip((1.3 - d) / 0.6, 0.0, 1.0)  # 1 inside d<0.7, 0 beyond d>1.3


def backlight(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Back-light: background pushed towards white, face darkened (gamma 1.8, gain 0.55)."""
    m = face_mask(img.shape, face_box)[..., None]
    x = img.astype(np.float32) / 255.0
    face = x**1.8 * 0.55
    bg = 1.0 - (1.0 - x) * 0.25  # bright, washed-out surroundings
    out = m * face + (1.0 - m) * bg
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _rng(seed: int, img: np.ndarray) -> np.random.Generator:
    return np.random.default_rng([seed, *img.shape])


def low_light(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Low light: gain 0.25 then Poisson shot noise plus Gaussian read noise (sigma 3)."""
    rng = _rng(seed, img)
    dim = img.astype(np.float32) * 0.25
    noisy = rng.poisson(dim).astype(np.float32) + rng.normal(0.0, 3.0, img.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def blur(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Defocus/motion-like blur: Gaussian, sigma 1.5 % of the shorter side (>= 2 px)."""
    import cv2

    sigma = max(2.0, 0.015 * min(img.shape[:2]))
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma)


def small_face(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Low resolution: shrink so the shorter side is 128 px (area averaging); a small face."""
    import cv2

    h, w = img.shape[:2]
    f = 128.0 / min(h, w)
    if f >= 1.0:
        return img.copy()
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_AREA)


def jpeg(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Heavy JPEG: encode at quality 8 and decode again."""
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 8])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def clean(img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """The image as captured (the reference condition)."""
    return img


Transform = Callable[..., np.ndarray]

#: Condition name -> transform. ``clean`` is always the reference.
CONDITIONS: dict[str, Transform] = {
    "clean": clean,
    "exposure_down": exposure_down,
    "exposure_up": exposure_up,
    "backlight": backlight,
    "low_light": low_light,
    "blur": blur,
    "small_face": small_face,
    "jpeg": jpeg,
}


def apply(name: str, img: np.ndarray, seed: int = 0, face_box: Box | None = None) -> np.ndarray:
    """Apply the named condition; a KeyError lists the known names."""
    if name not in CONDITIONS:
        raise KeyError(f"unknown capture condition {name!r}; known: {', '.join(CONDITIONS)}")
    return CONDITIONS[name](img, seed=seed, face_box=face_box)


def describe(name: str) -> str:
    """One line on what a condition does (its docstring's first line)."""
    return (CONDITIONS[name].__doc__ or name).strip().splitlines()[0]

"""Capture-stress transforms: deterministic, and each does what its name says."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fairbench.capture import stress


def _image(h: int = 240, w: int = 200) -> np.ndarray:
    """A textured mid-grey RGB image (seeded), so brightness and sharpness can move."""
    rng = np.random.default_rng(1)
    base = rng.integers(60, 190, size=(h // 8, w // 8, 3)).astype(np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_NEAREST)
    return img


def _luma(img: np.ndarray) -> float:
    return float(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).mean())


def _sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


@pytest.mark.parametrize("name", list(stress.CONDITIONS))
def test_deterministic_and_uint8(name: str) -> None:
    img = _image()
    a, b = stress.apply(name, img, seed=3), stress.apply(name, img, seed=3)
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, b)


def test_noise_depends_on_seed() -> None:
    img = _image()
    assert not np.array_equal(stress.low_light(img, seed=0), stress.low_light(img, seed=1))


def test_exposure_moves_brightness() -> None:
    img = _image()
    assert _luma(stress.exposure_down(img)) < 0.6 * _luma(img)
    assert _luma(stress.exposure_up(img)) > 1.3 * _luma(img)


def test_backlight_darkens_face_and_brightens_background() -> None:
    img = _image()
    box = (60.0, 60.0, 80.0, 100.0)
    out = stress.backlight(img, face_box=box)
    face = (slice(90, 130), slice(85, 115))
    corner = (slice(0, 30), slice(0, 30))
    assert _luma(out[face]) < 0.7 * _luma(img[face])
    assert _luma(out[corner]) > 1.2 * _luma(img[corner])
    # without a box, a centred ellipse is the face
    mask = stress.face_mask(img.shape)
    assert mask[120, 100] == 1.0 and mask[0, 0] == 0.0


def test_low_light_is_dark_and_noisy() -> None:
    flat = np.full((100, 100, 3), 160, np.uint8)
    out = stress.low_light(flat)
    assert abs(out.mean() - 40) < 2  # gain 0.25
    assert out.std() > 5  # shot + read noise


def test_blur_lowers_laplacian_variance() -> None:
    img = _image()
    assert _sharpness(stress.blur(img)) < 0.2 * _sharpness(img)


def test_small_face_downscales() -> None:
    img = _image(480, 400)
    out = stress.small_face(img)
    assert min(out.shape[:2]) == 128 and out.shape[0] == round(480 * 128 / 400)
    assert stress.small_face(_image(96, 80)).shape == (96, 80, 3)  # never upscales


def test_jpeg_keeps_size_and_loses_detail() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = stress.jpeg(img)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - img.astype(int)).mean() > 10


def test_unknown_condition_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="exposure_down"):
        stress.apply("fog", _image())


def test_face_sharpness_drops_under_blur() -> None:
    from fairbench.capture.pipeline import sharpness

    img = _image()
    box = (40.0, 40.0, 120.0, 150.0)
    assert sharpness(stress.blur(img), box) < 0.5 * sharpness(img, box)

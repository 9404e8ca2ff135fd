"""ITA on synthetic colour patches with known L* and b*; bands and group mapping."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fairbench.capture import skin

LANDMARKS = np.array([[80, 100], [120, 100], [100, 125], [85, 150], [115, 150]], float)


def _lab_image(lab_l: float, a: float, b: float, size: int = 200) -> np.ndarray:
    lab = np.array([[[lab_l, a, b]]], np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)[0, 0]
    px = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    return np.tile(px, (size, size, 1))


def test_ita_formula() -> None:
    assert skin.ita_degrees(50, 10) == pytest.approx(0.0)
    assert skin.ita_degrees(60, 10) == pytest.approx(45.0)
    assert skin.ita_degrees(40, 10) == pytest.approx(-45.0)


@pytest.mark.parametrize(("lab_l", "b"), [(75, 15), (62, 18), (50, 20), (35, 18), (25, 12)])
def test_measured_ita_matches_known_patch(lab_l: float, b: float) -> None:
    img = _lab_image(lab_l, 10.0, b)
    expected = float(skin.ita_degrees(lab_l, b))
    assert skin.measure_ita(img, LANDMARKS) == pytest.approx(expected, abs=1.5)


def test_patches_avoid_eyes_and_mouth() -> None:
    mask = skin.skin_mask((200, 200), LANDMARKS)
    assert mask.sum() > 100
    for x, y in LANDMARKS[[0, 1, 3, 4]].astype(int):
        assert not mask[y, x]
    # a dark iris and lips painted on the face do not move the measurement
    img = _lab_image(70, 10, 15)
    ita = skin.measure_ita(img, LANDMARKS)
    for x, y in LANDMARKS[[0, 1]].astype(int):
        cv2.circle(img, (int(x), int(y)), 6, (10, 10, 10), -1)
    cv2.ellipse(img, (100, 150), (16, 6), 0, 0, 360, (150, 30, 40), -1)
    assert skin.measure_ita(img, LANDMARKS) == pytest.approx(ita, abs=1e-9)


def test_bands_and_groups() -> None:
    cases = {60: "very_light", 50: "light", 30: "intermediate", 20: "tan", 0: "brown",
             -40: "dark"}
    for ita, band in cases.items():
        assert skin.ita_band(ita) == band
    assert skin.ita_band(55.0) == "light"  # > 55 is very light
    assert skin.tone_group(-40) == "darker"
    assert skin.tone_group(-40, {"dark": "VI"}) == "VI"
    assert skin.tone_group(float("nan")) == "unknown"


def test_too_few_pixels_is_nan() -> None:
    tiny = LANDMARKS * 0.02
    assert np.isnan(skin.measure_ita(_lab_image(60, 10, 15, size=8), tiny))

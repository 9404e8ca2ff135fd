"""Five-point alignment: the fitted warp is exact for similarity-related points."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.matchers.align import (
    ARCFACE_112,
    align_face,
    arcface_template,
    similarity_transform,
)


def _apply(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ matrix[:, :2].T + matrix[:, 2]


def _similarity(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([scale * rot, np.array(shift).reshape(2, 1)])


def test_template_margin_definition() -> None:
    assert np.allclose(arcface_template(112), ARCFACE_112)
    assert np.allclose(arcface_template(224), ARCFACE_112 * 2)
    # margin 0.25 at 224: the 112 template maps onto the central 168 px of the crop
    t = arcface_template(224, 0.25)
    assert np.allclose(t, (ARCFACE_112 - 56) * 1.5 + 112)
    with pytest.raises(ValueError):
        arcface_template(224, 1.0)


@pytest.mark.parametrize("scale,angle", [(0.3, 0.0), (2.5, 17.0), (1.0, -40.0), (0.05, 170.0)])
def test_recovers_known_similarity(scale: float, angle: float) -> None:
    truth = _similarity(scale, angle, (12.5, -7.0))
    src = ARCFACE_112 * 3 + 100
    fitted = similarity_transform(src, _apply(truth, src))
    assert np.allclose(fitted, truth, atol=1e-9)


def test_maps_face_landmarks_onto_template() -> None:
    dst = arcface_template(224, 0.25)
    # a face in the photo: the template rotated, scaled and moved
    face = _apply(_similarity(0.8, 25.0, (300.0, 80.0)), ARCFACE_112)
    m = similarity_transform(face, dst)
    # exact up to the scale between the two templates (0.25 margin is still a similarity)
    assert np.allclose(_apply(m, face), dst, atol=1e-9)


def test_noisy_points_give_least_squares_fit_without_reflection() -> None:
    rng = np.random.default_rng(0)
    dst = arcface_template(112)
    src = dst + rng.normal(0, 1.5, dst.shape)
    m = similarity_transform(src, dst)
    assert np.linalg.det(m[:, :2]) > 0
    assert np.abs(_apply(m, src) - dst).max() < 5.0
    # a mirrored face is not mirrored back: no reflection is allowed
    mirrored = dst * np.array([-1.0, 1.0])
    assert np.linalg.det(similarity_transform(mirrored, dst)[:, :2]) > 0


def _dots(shape: tuple[int, int], points: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    img = np.zeros((*shape, 3), dtype=np.uint8)
    for x, y in points:
        cv2.circle(img, (round(x), round(y)), radius, (255, 255, 255), -1)
    return img


def _centroids(crop: np.ndarray, expected: np.ndarray, window: int) -> np.ndarray:
    gray = crop[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: gray.shape[0], : gray.shape[1]]
    out = []
    for x, y in expected:
        near = (np.abs(xs - x) <= window) & (np.abs(ys - y) <= window)
        w = gray * near
        out.append([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    return np.array(out)


@pytest.mark.parametrize("photo_scale", [1.5, 6.0])  # 6x exercises the area pre-shrink
def test_align_face_puts_landmark_dots_on_template(photo_scale: float) -> None:
    size, margin = 224, 0.25
    truth = _similarity(photo_scale, 12.0, (150.0, 90.0))
    face = _apply(truth, ARCFACE_112)
    side = int(face.max() + 200)
    img = _dots((side, side), face, radius=round(2 * photo_scale))
    crop = align_face(img, face, size, margin)
    assert crop.shape == (size, size, 3)
    dst = arcface_template(size, margin)
    assert np.abs(_centroids(crop, dst, window=6) - dst).max() < 1.0

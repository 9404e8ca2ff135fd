"""Five-point similarity alignment onto the ArcFace template.

Embedding models are trained on faces warped so that the eyes, nose tip and mouth corners
land on fixed template points; feeding them faces aligned the same way is what makes their
scores meaningful. The warp is a similarity (rotation, uniform scale, translation: no shear,
no reflection), fitted by least squares in closed form (Umeyama 1991), so it is
deterministic and never distorts the face.

Margin: the 112 px ArcFace template is scaled to a ``size`` px crop and then shrunk about
the crop centre by ``1 - margin``::

    point_out = (point_112 - 56) * (size / 112) * (1 - margin) + size / 2

so ``margin=0`` is the usual ArcFace crop, and ``margin=0.25`` at 224 px maps the 112 px
template region onto the central 168 px (75 %) of the crop, leaving 28 px of extra context
on each side (the faceres convention).
"""

from __future__ import annotations

import numpy as np

#: ArcFace 5-point template for a 112 x 112 crop: right eye, left eye, nose tip, right and
#: left mouth corner (subject's right/left, i.e. image left/right), as (x, y).
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def arcface_template(size: int, margin: float = 0.0) -> np.ndarray:
    """The ArcFace points for a ``size`` x ``size`` crop with ``margin`` (see module doc)."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    scale = size / 112.0 * (1.0 - margin)
    return (ARCFACE_112 - 56.0) * scale + size / 2.0


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2 x 3 matrix) mapping ``src`` points onto ``dst`` (Umeyama)."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"need two equal sets of >= 2 points, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= 0:
        raise ValueError("source points are all identical")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # forbid reflections
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_face(
    image: np.ndarray, landmarks: np.ndarray, size: int, margin: float = 0.0
) -> np.ndarray:
    """Warp ``image`` so its 5 ``landmarks`` (5 x 2, x/y) land on the template; size x size.

    When the warp shrinks the face by more than 2x (a large photo), the face region is first
    cut out and reduced with area averaging, so the crop is not aliased by bilinear sampling.
    """
    import cv2

    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    dst = arcface_template(size, margin)
    matrix = similarity_transform(landmarks, dst)
    shrink = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if shrink < 0.5:
        image, landmarks = _crop_region(image, landmarks, matrix, size, pad=4.0 / shrink)
        h, w = image.shape[:2]
        small = (max(1, round(w * shrink)), max(1, round(h * shrink)))
        image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        landmarks = landmarks * np.array([small[0] / w, small[1] / h])
        matrix = similarity_transform(landmarks, dst)
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def _crop_region(
    image: np.ndarray, landmarks: np.ndarray, matrix: np.ndarray, size: int, pad: float
) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` the output crop samples, plus ``pad`` pixels, and the landmarks
    shifted to it; keeps the pre-shrink cost proportional to the face, not the photo."""
    import cv2

    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
    src = corners @ inv[:, :2].T + inv[:, 2]
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(np.floor(v - pad))) for v in src.min(axis=0))
    x1, y1 = (int(np.ceil(v + pad)) for v in src.max(axis=0))
    x1, y1 = min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:  # face outside the photo: leave it to the warp
        return image, landmarks
    return image[y0:y1, x0:x1], landmarks - np.array([x0, y0])

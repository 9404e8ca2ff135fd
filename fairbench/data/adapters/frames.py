"""Still frames from videos: a seeded sample per video, decoded once and cached as JPEG.

Video datasets (Casual Conversations) are measured on frames. For each video a
:class:`FrameCache` picks ``count`` frame indices and writes those frames, once, to

::

    <cache_root()>/frames/<dataset>/<video path in the dataset>.<key>/
        info.json         decoded frame count, header frame count and fps, or the error
        f00000004.jpg     frame 4 (0-based, in decoding order)

The ``key`` is a hash of the video's path in the dataset, its size and its modification
time (nanoseconds), not of its bytes: hashing every byte of a multi-terabyte video set on
every load would cost as much as decoding it, while a replaced, re-downloaded or damaged
file changes size or modification time and so gets a new folder. The path is part of the
key because many one-minute videos unpacked from the same archive share a size and an
mtime. Every file is written to a temporary name and renamed, so an interrupted load never
leaves half a JPEG that a later load would trust.

Sampling never trusts the container's frame count or rate (some Casual Conversations
headers report twice the real number): the frames are counted by decoding. Indices are
spread evenly (one seeded pick inside each of ``count`` equal stretches of the video) or,
with ``spacing_s``, ``count`` frames that many seconds apart from a seeded start. Each
video's generator is seeded by the run's seed and the video's path, so adding or removing
other videos never changes a video's frames. The counting pass already writes the frames
the header's count predicts, so a second pass runs only where the header was wrong.

A video that cannot be opened or decodes no frame is reported, never raised; its failure is
cached under the same key (and retried when OpenCV's version changes).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fairbench.results.folder import atomic_text, atomic_write

#: Bump when the frames written for the same video and indices would differ.
CACHE_VERSION = "frames-1;jpeg-95"
JPEG_QUALITY = 95


@dataclass
class VideoFrames:
    """What was got from one video: frame index -> cached JPEG, or why nothing was."""

    frames: dict[int, Path] = field(default_factory=dict)
    decoded: int = 0  # frames the decoder returned (0: undecodable or unread)
    problem: str | None = None  # why no (or fewer) frames came out
    wanted: int = 0  # how many frames were asked for


def _safe(rel: str) -> list[str]:
    """The video's dataset path as folder names that are safe on any file system."""
    parts = [re.sub(r"[^A-Za-z0-9._-]", "_", p)[:120] or "_" for p in Path(rel).parts]
    return [p if p not in (".", "..") else "_" for p in parts]


def video_key(rel: str, st: os.stat_result) -> str:
    """The cache key of one video: its dataset path, size and mtime (see the module doc)."""
    text = f"{CACHE_VERSION}\n{rel}\n{st.st_size}\n{st.st_mtime_ns}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _rng(seed: int, rel: str) -> np.random.Generator:
    digest = hashlib.sha256(rel.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def pick_indices(n_decoded: int, count: int, seed: int, rel: str,
                 spacing_s: float | None = None, fps: float | None = None) -> list[int]:
    """The frame indices sampled from a video of ``n_decoded`` frames (sorted, distinct).

    Evenly spread: one seeded index in each of ``count`` equal stretches. With
    ``spacing_s``: ``count`` indices ``round(spacing_s * fps)`` frames apart from a seeded
    start; a video too short for them gives as many as fit.
    """
    if n_decoded <= 0 or count <= 0:
        return []
    rng = _rng(seed, rel)
    if spacing_s is None:
        count = min(count, n_decoded)
        bounds = [k * n_decoded // count for k in range(count + 1)]
        return [int(rng.integers(a, b)) for a, b in zip(bounds, bounds[1:])]
    step = max(1, round(spacing_s * (fps or 30.0)))
    fit = min(count, (n_decoded - 1) // step + 1)
    start = int(rng.integers(0, n_decoded - step * (fit - 1)))
    return [start + step * k for k in range(fit)]


def _decoder() -> str:
    import cv2

    return f"opencv {cv2.__version__}"


def _open_video(path: Path) -> Any:
    """A cv2.VideoCapture on ``path`` (every decode goes through here)."""
    import cv2

    return cv2.VideoCapture(str(path))


def _fps(n: int, header_frames: float, header_fps: float) -> float | None:
    """The rate of ``n`` decoded frames: a header that doubles both its frame count and
    its rate (as some Casual Conversations videos do) still gives the right duration."""
    if header_frames > 0 and header_fps > 0 and math.isfinite(header_frames / header_fps):
        return n / (header_frames / header_fps)
    return header_fps if header_fps > 0 else None


def _write(frame: Any, target: Path) -> bool:
    import cv2

    if frame is None:
        return False
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if ok:
        atomic_write(target, lambda f: f.write(buf.tobytes()))
    return bool(ok)


def _decode(path: Path, folder: Path, guess: Any, upto: int | None = None
            ) -> tuple[dict[str, Any], dict[int, Path]]:
    """Decode the video (to its end, or past index ``upto``), writing the frames whose
    indices ``guess(header_frames, header_fps)`` names: (what was decoded, frames written).

    The first pass counts every frame and guesses the sample from the header's count, so a
    truthful header needs no second pass; a lying one gets a second pass (``upto``) for the
    indices the true count gives.
    """
    import cv2

    cap = _open_video(path)
    written: dict[int, Path] = {}
    try:
        if not cap.isOpened():
            return {"decoded": 0, "error": "the video decoder cannot open it"}, written
        header_frames = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        header_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0)
        want = set(guess(header_frames, header_fps))
        n = 0
        while (upto is None or n <= upto) and cap.grab():
            if n in want:
                ok, frame = cap.retrieve()
                target = folder / f"f{n:08d}.jpg"
                if ok and _write(frame, target):
                    written[n] = target
            n += 1
    finally:
        cap.release()
    info: dict[str, Any] = {"decoded": n, "header_frames": header_frames,
                            "header_fps": header_fps, "fps": _fps(n, header_frames,
                                                                  header_fps)}
    if n == 0:
        info["error"] = "no frame could be decoded"
    return info, written


class FrameCache:
    """The cached frames of one dataset's videos (``<cache>/frames/<dataset>/``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def folder_of(self, rel: str, st: os.stat_result) -> Path:
        *dirs, name = _safe(rel)
        return self.folder.joinpath(*dirs, f"{name}.{video_key(rel, st)}")

    def sample(self, video: Path, rel: str, count: int, seed: int,
               spacing_s: float | None = None, seed_key: str | None = None) -> VideoFrames:
        """``count`` sampled frames of ``video`` (``rel``: its path in the dataset folder),
        decoded only where the cache lacks them; problems are returned, never raised.

        ``seed_key`` (default ``rel``) names the video in the seeding: the dataset's own
        name for it, so moving the files does not change which frames are sampled."""
        try:
            st = video.stat()
            with open(video, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            return VideoFrames(problem=f"cannot read it ({exc.strerror or exc})", wanted=count)
        folder = self.folder_of(rel, st)
        info_path = folder / "info.json"
        info: dict[str, Any] | None = None
        if info_path.is_file():
            try:
                info = json.loads(info_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                info = None
        key = seed_key or rel
        folder.mkdir(parents=True, exist_ok=True)
        if info is None or "decoded" not in info or info.get("error") and \
                info.get("decoder") != _decoder():  # a failure is retried by another OpenCV
            info, _ = _decode(video, folder, lambda frames, fps: pick_indices(
                int(frames), count, seed, key, spacing_s, fps))
            atomic_text(info_path, json.dumps({"video": rel, "size": st.st_size,
                                               "mtime_ns": st.st_mtime_ns,
                                               "decoder": _decoder(), **info},
                                              indent=1) + "\n")
        n = int(info.get("decoded") or 0)
        if info.get("error") or n == 0:
            return VideoFrames(decoded=n, problem=str(info.get("error") or "no frame"),
                               wanted=count)
        wanted = pick_indices(n, count, seed, key, spacing_s, info.get("fps"))
        have = {i: folder / f"f{i:08d}.jpg" for i in wanted}
        missing = [i for i, p in have.items() if not p.is_file()]
        if missing:
            _, got = _decode(video, folder, lambda *_: missing, upto=max(missing))
            for i in missing:
                if i not in got:
                    del have[i]
        problem = None
        if len(have) < count:
            if len(wanted) == count:
                why = "frames the decoder did not return"
            elif spacing_s is None:
                why = f"the video has only {n} frames"
            else:
                why = f"a video of {n} frames is too short for {count} frames {spacing_s} s apart"
            problem = f"{len(have)} of {count} frames ({why})"
        return VideoFrames(dict(sorted(have.items())), n, problem, count)

"""Meta's Casual Conversations v1 (2021) and v2 (2023): videos of paid, consenting adults.

v1, as unpacked from its download::

    ROOT/
      CC_annotations/CasualConversations.json     (or directly in ROOT)
      CasualConversationsA/1140/1140_00.MP4       partitions A, H, M, NO, R
      CasualConversationsH/1140/1140_02.MP4       folder numbers repeat across partitions

``CasualConversations.json`` maps a subject key ("1".."3011") to ``files`` (paths relative
to ROOT), ``dark_files`` (those recorded in low ambient light) and ``label`` (``age``,
``gender``, ``skin-type``, all strings; "N/A" when not given). The subject is the JSON key,
never the folder number.

v2::

    ROOT/
      CCv2_annotations/CasualConversationsV2.json (or directly in ROOT)
      CCv2_part_1/.../0000_portuguese_scripted_0.mp4    found by name at any depth
      CCv2_frames_part_1/0000/0000_portuguese_scripted_0_raw_frame00000381.jpg

``CasualConversationsV2.json`` is a list with one record per video: ``subject_id``,
``video_name``, ``age``, ``gender``, ``native_language``, ``geo_location.country``,
``monk_skin_tone.{scale,confidence}``, ``fitzpatrick_skin_tone.{type,confidence}``,
``video_setup.type``.

Each video gives ``frames`` sampled still frames (:mod:`fairbench.data.adapters.frames`),
decoded once into fairbench's cache; a manifest row is one frame: image_id
``<video>/f<frame index>`` (v1: the video's path without its extension, since file names
repeat across partitions; v2: the video's name without ``.mp4``), path the cached JPEG.
v2 can instead use the pre-extracted frames of its ``CCv2_frames_part_*`` archives.
A video the metadata lists but the folder lacks (a partial download), one that cannot be
decoded, and a person left with no frame are notes of the run, never a crash; a missing or
malformed metadata file is one error listing every problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.cpus import cores
from fairbench.data.adapters import Loaded, option, unknown_options
from fairbench.data.adapters.frames import FrameCache, VideoFrames, pick_indices
from fairbench.data.manifest import Manifest
from fairbench.data.paths import cache_root
from fairbench.errors import DataError

V1_META = ("CasualConversations.json", "CC_annotations")
V2_META = ("CasualConversationsV2.json", "CCv2_annotations")
COMMON = ("metadata", "frames", "spacing_s", "seed", "videos", "max_videos_per_subject",
          "workers")
V1_OPTIONS = (*COMMON, "skip_dark")
V2_OPTIONS = (*COMMON, "setups", "source")
SETUPS = ("scripted", "nonscripted")
#: Notes list this many examples of one kind of problem, then count the rest.
SHOWN = 10
_FRAME = re.compile(r"^(?P<stem>.+?)_raw_frame(?P<idx>\d+)\.jpe?g$", re.IGNORECASE)


@dataclass
class _Video:
    subject: str
    rel: str  # the video's path as the metadata gives it (v2: its name)
    image_prefix: str  # image ids are <prefix>/f<frame index>
    attrs: dict[str, str]
    path: Path | None = None  # on disk; None when the folder lacks it
    dark: bool = False


@dataclass
class _Settings:
    frames: int
    spacing_s: float | None
    seed: int
    videos: list[str] | None
    max_videos: int | None
    workers: int
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ options and metadata


def _settings(options: Mapping[str, Any]) -> _Settings:
    frames = option(options, "frames", 3, (int,))
    if frames < 1:
        raise DataError(f"dataset.options.frames: at least 1 frame per video, got {frames}")
    spacing = option(options, "spacing_s", None, (int, float, type(None)))
    if spacing is not None and not (spacing > 0 and np.isfinite(spacing)):
        raise DataError(f"dataset.options.spacing_s: seconds between frames (> 0), got "
                        f"{spacing!r}")
    seed = option(options, "seed", 0, (int,))
    if seed < 0:
        raise DataError(f"dataset.options.seed: a non-negative integer, got {seed}")
    videos = option(options, "videos", None, (list, type(None)))
    if videos is not None and (not videos or not all(isinstance(v, str) and v
                                                     for v in videos)):
        raise DataError("dataset.options.videos: a non-empty list of file-name patterns "
                        f"(e.g. ['*_00.MP4']), got {videos!r}")
    most = option(options, "max_videos_per_subject", None, (int, type(None)))
    if most is not None and most < 1:
        raise DataError(f"dataset.options.max_videos_per_subject: at least 1, got {most}")
    workers = option(options, "workers", None, (int, type(None)))
    if workers is not None and workers < 1:
        raise DataError(f"dataset.options.workers: at least 1, got {workers}")
    workers = workers or min(8, cores())
    return _Settings(frames, None if spacing is None else float(spacing), seed, videos, most,
                     workers)


def _metadata(root: Path, options: Mapping[str, Any], where: tuple[str, str]) -> Path:
    """The metadata file: dataset.options.metadata, else ROOT/<file> or ROOT/<folder>/<file>."""
    name, folder = where
    given = option(options, "metadata", None, (str, type(None)))
    if given is not None:
        p = Path(given).expanduser()
        p = p if p.is_absolute() else root / p
        if not p.is_file():
            raise DataError(f"{p}: metadata file not found (dataset.options.metadata)")
        return p
    tried = [root / name, root / folder / name]
    for p in tried:
        if p.is_file():
            return p
    raise DataError(f"{root}: no {name} (looked for {', '.join(str(p) for p in tried)}); "
                    f"unpack the annotations archive into the data folder, or name the file "
                    "in dataset.options.metadata")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None


def _text(value: Any) -> str:
    """A label as text ('' when absent); whole numbers stored as numbers print as such."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" ... and {len(items) - SHOWN:,} more" if len(items) > SHOWN else "")


def _lost_people(rows: list[dict[str, Any]], subjects: Iterable[str],
                 why: Mapping[str, list[str]]) -> list[str]:
    """The note naming the people the metadata lists who got no usable frame, and why."""
    have = {r["subject_id"] for r in rows}
    lost = [f"{sid!r} ({'; '.join(_counted(why[sid]))})" for sid in subjects
            if sid not in have]
    if not lost:
        return []
    who = "1 person has" if len(lost) == 1 else f"{len(lost):,} people have"
    return [f"{who} no usable frame and {'is' if len(lost) == 1 else 'are'} not in the "
            f"manifest: {_listing(lost)}"]


# ------------------------------------------------------------------ choosing the videos


def _choose(videos: list[_Video], s: _Settings, skip: Mapping[str, str]) -> tuple[
        list[_Video], dict[str, list[str]]]:
    """The videos to sample, after patterns, the adapter's own filters (``skip``: rel ->
    reason) and the per-person cap; and why each person's other videos were left out."""
    left_out: dict[str, list[str]] = defaultdict(list)
    by_subject: dict[str, list[_Video]] = defaultdict(list)
    for v in videos:
        name = PurePosixPath(v.rel).name
        if s.videos is not None and not any(fnmatchcase(v.rel, p) or fnmatchcase(name, p)
                                            for p in s.videos):
            left_out[v.subject].append("not matched by dataset.options.videos")
        elif v.rel in skip:
            left_out[v.subject].append(skip[v.rel])
        else:
            by_subject[v.subject].append(v)
    chosen: list[_Video] = []
    cut = 0
    for sid, vids in by_subject.items():
        if s.max_videos is not None and len(vids) > s.max_videos:
            rng = np.random.default_rng([s.seed, _subject_number(sid)])
            keep = sorted(rng.choice(len(vids), size=s.max_videos, replace=False))
            cut += len(vids) - s.max_videos
            vids = [vids[k] for k in keep]
        chosen += vids
    if cut:
        s.notes.append(f"{cut:,} videos left out by dataset.options.max_videos_per_subject="
                       f"{s.max_videos} (a seeded choice per person, seed {s.seed})")
    return chosen, left_out


def _subject_number(sid: str) -> int:
    return int.from_bytes(hashlib.sha256(sid.encode("utf-8")).digest()[:8], "little")


# ------------------------------------------------------------------ frames into a manifest


def _sample_videos(chosen: list[_Video], s: _Settings, card: Any, source: Path,
                   columns: list[str], left_out: Mapping[str, list[str]],
                   all_subjects: Iterable[str], root: Path) -> Loaded:
    cache = FrameCache(cache_root() / "frames" / card.name)
    rows: list[dict[str, str]] = []
    absent: list[str] = []
    broken: list[str] = []
    short: list[str] = []
    why: dict[str, list[str]] = defaultdict(list, {k: list(v) for k, v in left_out.items()})

    def sample(v: _Video) -> VideoFrames:
        assert v.path is not None
        try:
            where = v.path.relative_to(root).as_posix()
        except ValueError:
            where = v.rel
        return cache.sample(v.path, where, s.frames, s.seed, s.spacing_s, seed_key=v.rel)

    present = [v for v in chosen if v.path is not None]
    with ThreadPoolExecutor(max_workers=s.workers) as pool:  # OpenCV releases the GIL
        results = dict(zip(map(id, present), pool.map(sample, present)))
    for v in chosen:
        if v.path is None:
            absent.append(v.rel)
            why[v.subject].append("not in the data folder")
            continue
        got = results[id(v)]
        if not got.frames:
            broken.append(f"{v.rel} ({got.problem})")
            why[v.subject].append("unreadable or undecodable")
            continue
        if got.problem:
            short.append(f"{v.rel}: {got.problem}")
        for i, p in got.frames.items():
            rows.append({"image_id": f"{v.image_prefix}/f{i}", "path": str(p),
                         "subject_id": v.subject, **v.attrs})
    notes = [_sampling_note(s, len(rows), len(chosen) - len(absent) - len(broken))]
    if absent:
        notes.append(f"{len(absent):,} of the videos {source.name} lists are not in {root} "
                     f"(a partial download?); they are left out: {_listing(absent)}")
    if broken:
        notes.append(f"{len(broken):,} videos could not be read or decoded and give no "
                     f"frames: {_listing(broken)}")
    if short:
        notes.append(f"{len(short):,} videos gave fewer frames than asked: {_listing(short)}")
    notes += _lost_people(rows, all_subjects, why)
    notes += s.notes
    if not rows:
        raise DataError(f"{root}: no usable frame in any video {source.name} lists",
                        notes[1:] or [f"{source} lists no video"])
    return Loaded(_manifest(rows, columns, cache.folder, source), notes=notes)


def _counted(reasons: list[str]) -> list[str]:
    return [f"{n} video{'s' if n > 1 else ''} {r}" for r, n in Counter(reasons).items()] or \
        ["no video listed"]


def _sampling_note(s: _Settings, n_rows: int, n_videos: int) -> str:
    how = f"{s.spacing_s:g} s apart from a seeded start" if s.spacing_s is not None \
        else "spread evenly (one seeded pick per stretch)"
    return (f"still frames sampled from videos: {s.frames} per video, {how}, seed {s.seed}; "
            f"{n_rows:,} frames from {n_videos:,} videos")


def _manifest(rows: list[dict[str, str]], columns: list[str], root: Path | None,
              source: Path) -> Manifest:
    frame = pd.DataFrame(rows, columns=["image_id", "path", "subject_id", *columns])
    return Manifest(frame.astype(str), root, str(source))


# ------------------------------------------------------------------ v1


def _on_disk(root: Path, rel: str) -> Path | None:
    """The file ``rel`` names under ``root``, its extension matched in either case."""
    p = root / rel
    if p.is_file():
        return p
    for alt in (p.with_suffix(p.suffix.lower()), p.with_suffix(p.suffix.upper())):
        if alt.is_file():
            return alt
    return None


def _relative(rel: Any) -> str | None:
    """A metadata path that stays inside the data folder, else None."""
    if not isinstance(rel, str) or not rel.strip():
        return None
    p = PurePosixPath(rel.strip().replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        return None
    return str(p)


def load_v1(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, V1_OPTIONS, "casual_conversations_v1")
    s = _settings(options)
    skip_dark = option(options, "skip_dark", False, (bool,))
    meta = _metadata(root, options, V1_META)
    data = _read_json(meta)
    if not isinstance(data, dict):
        raise DataError(f"{meta}: expected one object mapping each subject key to its "
                        f"record, found a JSON {type(data).__name__}")
    problems: list[str] = []
    videos: list[_Video] = []
    for key, rec in data.items():
        where = f"{meta.name}: subject {key!r}"
        if not isinstance(rec, dict):
            problems.append(f"{where}: a {type(rec).__name__}, not a record")
            continue
        files, dark = rec.get("files"), rec.get("dark_files", [])
        label = rec.get("label")
        if not isinstance(files, list) or not files:
            problems.append(f"{where}: 'files' is not a non-empty list of video paths")
            continue
        if not isinstance(dark, list):
            problems.append(f"{where}: 'dark_files' is not a list")
            dark = []
        if not isinstance(label, dict):
            problems.append(f"{where}: no 'label' object (age, gender, skin-type)")
            continue
        lacking = [k for k in ("age", "gender", "skin-type") if k not in label]
        if lacking:
            problems.append(f"{where}: 'label' lacks {', '.join(lacking)}")
        bad = [f for f in files if _relative(f) is None]
        if bad:
            problems.append(f"{where}: 'files' entries that are not paths inside the data "
                            f"folder: {bad[:5]}")
        stray = [f for f in dark if f not in files]
        if stray:
            problems.append(f"{where}: 'dark_files' not in its 'files': {stray[:5]}")
        attrs = {"age": _text(label.get("age")), "gender": _text(label.get("gender")),
                 "skin_type": _text(label.get("skin-type"))}
        for f in files:
            rel = _relative(f)
            if rel is None:
                continue
            videos.append(_Video(str(key), rel, str(PurePosixPath(rel).with_suffix("")),
                                 {**attrs, "lighting": "dark" if f in dark else "bright"},
                                 _on_disk(root, rel), f in dark))
    seen: dict[str, str] = {}
    for v in videos:
        if v.rel in seen:
            problems.append(f"{meta.name}: {v.rel} is listed twice" if seen[v.rel] ==
                            v.subject else f"{meta.name}: {v.rel} is listed under subjects "
                            f"{seen[v.rel]!r} and {v.subject!r}")
        seen.setdefault(v.rel, v.subject)
    if problems:
        raise DataError(f"{meta}: not a Casual Conversations v1 metadata file fairbench can "
                        "read", problems[:50] + ([f"... and {len(problems) - 50:,} more"]
                                                 if len(problems) > 50 else []))
    if not videos:
        raise DataError(f"{meta}: lists no video")
    skip = {v.rel: "dark (dataset.options.skip_dark)" for v in videos if v.dark} \
        if skip_dark else {}
    if skip:
        s.notes.append(f"{len(skip):,} videos recorded in low ambient light (dark_files) "
                       "left out (dataset.options.skip_dark)")
    chosen, left_out = _choose(videos, s, skip)
    return _sample_videos(chosen, s, card, meta, ["age", "gender", "skin_type", "lighting"],
                          left_out, [str(k) for k in data], root)


# ------------------------------------------------------------------ v2

V2_COLUMNS = ["age", "gender", "native_language", "country", "monk_skin_tone",
              "monk_confidence", "fitzpatrick", "fitzpatrick_confidence", "video_setup"]


def _sub(rec: Mapping[str, Any], key: str, inner: str) -> str:
    obj = rec.get(key)
    return _text(obj.get(inner)) if isinstance(obj, Mapping) else ""


def _subject_id(value: Any) -> str:
    """v2 subject ids are zero-padded strings ("0000"); a number is padded the same way."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:04d}"
    return _text(value)


def _walk(root: Path) -> Iterable[tuple[str, str]]:
    """(folder relative to root, file name) of every file under root, sorted, hidden
    folders skipped."""
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(here, root)
        for f in sorted(files):
            yield ("" if rel == "." else rel), f


def load_v2(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, V2_OPTIONS, "casual_conversations_v2")
    s = _settings(options)
    setups = option(options, "setups", list(SETUPS), (list,))
    if not setups or any(x not in SETUPS for x in setups):
        raise DataError(f"dataset.options.setups: a non-empty list of {', '.join(SETUPS)}, "
                        f"got {setups!r}")
    source = option(options, "source", "auto", (str,), ("auto", "videos", "frames"))
    meta = _metadata(root, options, V2_META)
    data = _read_json(meta)
    if not isinstance(data, list):
        raise DataError(f"{meta}: expected a list with one record per video, found a JSON "
                        f"{type(data).__name__}")
    problems: list[str] = []
    videos: list[_Video] = []
    names: dict[str, int] = {}
    for k, rec in enumerate(data):
        where = f"{meta.name} record {k}"
        if not isinstance(rec, dict):
            problems.append(f"{where}: a {type(rec).__name__}, not a record")
            continue
        sid, name = _subject_id(rec.get("subject_id")), _text(rec.get("video_name"))
        if not sid or not name:
            problems.append(f"{where}: needs 'subject_id' and 'video_name'")
            continue
        if "/" in name or "\\" in name:
            problems.append(f"{where}: video_name {name!r} is not a file name")
            continue
        if name in names:
            problems.append(f"{where}: video_name {name!r} again (first in record "
                            f"{names[name]})")
            continue
        names[name] = k
        geo = rec.get("geo_location")
        attrs = {"age": _text(rec.get("age")), "gender": _text(rec.get("gender")),
                 "native_language": _text(rec.get("native_language")),
                 "country": _text(geo.get("country")) if isinstance(geo, Mapping) else "",
                 "monk_skin_tone": _sub(rec, "monk_skin_tone", "scale"),
                 "monk_confidence": _sub(rec, "monk_skin_tone", "confidence"),
                 "fitzpatrick": _sub(rec, "fitzpatrick_skin_tone", "type"),
                 "fitzpatrick_confidence": _sub(rec, "fitzpatrick_skin_tone", "confidence"),
                 "video_setup": _sub(rec, "video_setup", "type")}
        stem = name[:-4] if name.lower().endswith(".mp4") else name
        videos.append(_Video(sid, name, stem, attrs))
    if problems:
        raise DataError(f"{meta}: not a Casual Conversations v2 metadata file fairbench can "
                        "read", problems[:50] + ([f"... and {len(problems) - 50:,} more"]
                                                 if len(problems) > 50 else []))
    if not videos:
        raise DataError(f"{meta}: lists no video")
    notes = _v2_label_notes(videos)
    skip = {v.rel: f"{v.attrs['video_setup'] or 'no video_setup.type'} (dataset.options."
                   "setups)" for v in videos if v.attrs["video_setup"] not in setups}
    if skip:
        s.notes.append(f"{len(skip):,} videos whose video_setup.type is not "
                       f"{' or '.join(setups)} left out (dataset.options.setups)")
    chosen, left_out = _choose(videos, s, skip)
    subjects = list(dict.fromkeys(v.subject for v in videos))
    found, dupes = _find_videos(root)
    for v in chosen:
        v.path = found.get(v.rel) or found.get(v.rel.lower())
    if dupes:
        s.notes.append(f"{len(dupes):,} video names occur more than once under {root}; the "
                       f"first (sorted by folder) is used: {_listing(dupes)}")
    if source == "auto":  # videos where any is here, else the extracted frames
        if any(v.path for v in chosen) or not any(_FRAME.match(f) for _, f in _walk(root)):
            source = "videos"
        else:
            source = "frames"
    if source == "frames":
        loaded = _v2_frames(root, chosen, s, meta, left_out, subjects)
    else:
        loaded = _sample_videos(chosen, s, card, meta, V2_COLUMNS, left_out, subjects, root)
    loaded.notes += notes
    return loaded


def _find_videos(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Every .mp4 under root by file name (also lower-cased), and names found twice."""
    found: dict[str, Path] = {}
    dupes: list[str] = []
    for rel, f in _walk(root):
        if not f.lower().endswith(".mp4"):
            continue
        p = root / rel / f
        if f in found:
            dupes.append(f"{f} ({found[f].parent.relative_to(root)} and {rel})")
            continue
        found[f] = p
        found.setdefault(f.lower(), p)
    return found, dupes


def _v2_label_notes(videos: list[_Video]) -> list[str]:
    """Keys no record has (a spelling the card could not verify), and people whose videos
    disagree on a per-video skin-tone label."""
    notes = []
    for col in V2_COLUMNS:
        if not any(v.attrs[col] for v in videos):
            notes.append(f"no record gives {col}: the metadata may spell that key "
                         "differently; every value is unknown")
    for col in ("monk_skin_tone", "fitzpatrick"):
        per: dict[str, set[str]] = defaultdict(set)
        for v in videos:
            if v.attrs[col]:
                per[v.subject].add(v.attrs[col])
        split = sorted(sid for sid, vals in per.items() if len(vals) > 1)
        if split:
            notes.append(f"{len(split):,} people have videos labelled with different "
                         f"{col} values (kept per video): {_listing(split)}")
    return notes


def _v2_frames(root: Path, chosen: list[_Video], s: _Settings, meta: Path,
               left_out: Mapping[str, list[str]], subjects: list[str]) -> Loaded:
    """The pre-extracted frames of CCv2_frames_part_*: ``frames`` of each video's."""
    if s.spacing_s is not None:
        raise DataError("dataset.options.spacing_s: the pre-extracted frames (source: "
                        "frames) have their own spacing; sample videos (source: videos) to "
                        "choose it")
    available: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for rel, f in _walk(root):
        m = _FRAME.match(f)
        if m:
            key = re.sub("_+", "_", m["stem"]).lower()
            available[key].append((int(m["idx"]), str(PurePosixPath(rel, f))))
    rows: list[dict[str, str]] = []
    absent: list[str] = []
    why: dict[str, list[str]] = defaultdict(list, {k: list(v) for k, v in left_out.items()})
    n_videos = 0
    for v in chosen:
        have = sorted(set(available.get(re.sub("_+", "_", v.image_prefix).lower(), [])))
        if not have:
            absent.append(v.rel)
            why[v.subject].append("without extracted frames in the data folder")
            continue
        n_videos += 1
        for k in pick_indices(len(have), s.frames, s.seed, v.rel):
            idx, path = have[k]
            rows.append({"image_id": f"{v.image_prefix}/f{idx}", "path": path,
                         "subject_id": v.subject, **v.attrs})
    notes = [f"pre-extracted frames used (CCv2_frames_part_*; no video decoded): up to "
             f"{s.frames} per video, a seeded even spread (seed {s.seed}); {len(rows):,} "
             f"frames from {n_videos:,} videos"]
    if absent:
        notes.append(f"{len(absent):,} of the videos {meta.name} lists have no extracted "
                     f"frame in {root}; they are left out: {_listing(absent)}")
    notes += _lost_people(rows, subjects, why)
    notes += s.notes
    if not rows:
        raise DataError(f"{root}: no extracted frame of any video {meta.name} lists",
                        notes[1:])
    return Loaded(_manifest(rows, V2_COLUMNS, root, meta), notes=notes)

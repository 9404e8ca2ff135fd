"""Casual Conversations v1 and v2 in their distributed layouts, with london16's pixels.

Adapted from the issue-12 research notes (the sources behind every layout decision are in
the card's ``sources:``). v1::

    <root>/CC_annotations/CasualConversations.json          subject key -> files, dark_files,
    <root>/CC_annotations/CasualConversations_transcriptions.json      label (all strings)
    <root>/CasualConversations{A,H,M,NO,R}/<NNNN>/<NNNN>_<NN>.MP4   (folder numbers repeat
                                                                     across partitions)

v2::

    <root>/CCv2_annotations/CasualConversationsV2.json      a list, one record per video
    <root>/CCv2_annotations/CasualConversationsV2_activity.json
    <root>/CCv2_part_<k>/<sid>_<lang>_<scripted|nonscripted>_<i>.mp4
    <root>/CCv2_frames_part_<k>/<sid>/<video stem>_raw_frame<8 digits>.jpg

The labels are stand-ins (a layout test, not a claim about anyone in london16), and two
deliberately fall outside the real data: one child per fixture (v1 subject "2" is 9, v2
subject "0001" is 12; both datasets are adults only), so age bands with children can be
tested. Videos are 12 frames at 30 fps, 160x160, fourcc mp4v (what the pip opencv wheel can
write). Each frame carries its index: the top-left 8x8 block has grey level ``40 + 16 * i``
(times 0.25 in dark videos) and the face shifts one pixel per frame. v2 videos of subjects
with an odd index have a darkened nonscripted video and no JSON flag (no v2 lighting key
could be verified).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

FRAME_SIZE = 160          # stand-in video / frame resolution (square)
N_FRAMES = 12             # frames per stand-in video
FPS = 30.0
DARK_GAIN = 0.25          # pixel gain applied to "dark" (low ambient light) videos
FOURCC = "mp4v"           # works with the pip opencv-python wheel (avc1/H264 do not)

# ------------------------------------------------------------------ helpers


def _read_london16(london16: Path) -> list[dict]:
    """Rows of labels.csv for the neutral images, one per face_id, sorted."""
    rows = []
    with open(Path(london16) / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["variant"] == "neutral":
                rows.append(r)
    rows.sort(key=lambda r: r["face_id"])
    if not rows:
        raise FileNotFoundError(f"no neutral images listed in {london16}/labels.csv")
    return rows


def _load_face(london16: Path, file_name: str) -> np.ndarray:
    img = cv2.imread(str(Path(london16) / file_name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(Path(london16) / file_name)
    return cv2.resize(img, (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_AREA)


def frame_marker_level(frame_index: int) -> int:
    """Grey level of the top-left 8x8 marker block for a frame (before dark gain)."""
    return 40 + 16 * frame_index


def _render_frame(base: np.ndarray, i: int, dark: bool) -> np.ndarray:
    shift = i - N_FRAMES // 2                     # one pixel per frame
    m = np.float32([[1, 0, shift], [0, 1, 0]])
    frame = cv2.warpAffine(base, m, (base.shape[1], base.shape[0]),
                           borderMode=cv2.BORDER_REPLICATE)
    frame[:8, :8] = frame_marker_level(i)
    if dark:
        frame = np.clip(frame.astype(np.float32) * DARK_GAIN, 0, 255).astype(np.uint8)
    return frame


def _write_video(path: Path, base: np.ndarray, dark: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = base.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), FPS, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter could not open {path} with fourcc {FOURCC!r}")
    try:
        for i in range(N_FRAMES):
            writer.write(_render_frame(base, i, dark))
    finally:
        writer.release()


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=4, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def _fresh_dir(dst: Path) -> Path:
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    return dst


# ------------------------------------------------------------------ CC v1

# Partition folder names seen in the official metadata (CCMiniVID subsets):
_V1_PARTITIONS = ["CasualConversationsA", "CasualConversationsH", "CasualConversationsM",
                  "CasualConversationsNO", "CasualConversationsR"]
# (partition, 4-digit folder) per fixture subject.  The first two deliberately
# share folder number 1140 (A/1140 and H/1140 both exist in the real data and
# belong to different people), so an adapter must key subjects by the JSON key,
# never by the folder number alone.
_V1_FOLDERS = [("CasualConversationsA", "1140"), ("CasualConversationsH", "1140"),
               ("CasualConversationsM", "0522"), ("CasualConversationsNO", "0208"),
               ("CasualConversationsR", "0000"), ("CasualConversationsA", "1141"),
               ("CasualConversationsH", "1275"), ("CasualConversationsM", "1139"),
               ("CasualConversationsNO", "0520"), ("CasualConversationsR", "0521"),
               ("CasualConversationsA", "2006"), ("CasualConversationsH", "1626"),
               ("CasualConversationsM", "0600"), ("CasualConversationsNO", "0001"),
               ("CasualConversationsR", "0300"), ("CasualConversationsA", "1500")]
# video index lists (real indices run 00..24 with gaps)
_V1_VIDEO_IDX = [["00", "02"], ["02", "07"], ["00", "01", "03", "07", "14"], ["00", "01"],
                 ["01", "02"], ["02", "11"], ["00", "13"], ["04", "09"]]
_V1_GENDERS = ["Female", "Male", "Female", "Male", "Other", "Female", "N/A", "Male"]
_V1_SKIN = ["5", "2", "6", "1", "3", "4", "2", "6"]
_V1_AGES = ["33", "9", "71", "N/A", "22", "45", "18", "84"]   # "9": fixture-only child


def build_cc_v1(dst: Path, london16: Path, n_subjects: int = 8, *,
                include_child: bool = True) -> Path:
    """Write a CC v1 fixture (full-dataset layout) under ``dst`` (replaced if present).

    Subject keys are "1".."n"; subject "3" has 5 videos (two of them dark),
    every other subject 2; subjects "4", "8", ... have no dark video, the rest
    exactly one.  Subject "2" gets a child age unless ``include_child`` is False;
    subject "4" has age "N/A", subjects "5"/"7" gender "Other"/"N/A".
    """
    rows = _read_london16(london16)
    if not 1 <= n_subjects <= min(len(rows), len(_V1_FOLDERS)):
        raise ValueError(f"n_subjects must be in 1..{min(len(rows), len(_V1_FOLDERS))}")
    dst = _fresh_dir(dst)
    meta: dict[str, dict] = {}
    transcripts: list[dict] = []
    for s in range(n_subjects):
        key = str(s + 1)
        part, folder = _V1_FOLDERS[s]
        idxs = _V1_VIDEO_IDX[s % len(_V1_VIDEO_IDX)]
        files = [f"{part}/{folder}/{folder}_{nn}.MP4" for nn in idxs]
        if s == 2:
            dark = [files[1], files[3]]          # several videos, two dark
        elif s % 4 == 3:
            dark = []                            # some subjects have no dark video
        else:
            dark = [files[0]]
        age = _V1_AGES[s % len(_V1_AGES)]
        if age == "9" and not include_child:
            age = "29"
        meta[key] = {
            "dark_files": dark,
            "files": files,
            "label": {"age": age,
                      "gender": _V1_GENDERS[s % len(_V1_GENDERS)],
                      "skin-type": _V1_SKIN[s % len(_V1_SKIN)]},
        }
        base = _load_face(london16, rows[s]["file"])
        for rel in files:
            _write_video(dst / rel, base, dark=rel in dark)
            transcripts.append({
                "video_path": rel,
                "transcription": "[0.000] <no-speech> fixture stand-in [0.400]",
                "duration_ms": int(1000 * N_FRAMES / FPS),
            })
    _write_json(dst / "CC_annotations" / "CasualConversations.json", meta)
    _write_json(dst / "CC_annotations" / "CasualConversations_transcriptions.json", transcripts)
    return dst


# ------------------------------------------------------------------ CCv2

# (language token used in file names, native_language value, country, state_region)
# Language tokens in file names are verified (portuguese, hindi, indonesian,
# spanish, tagalog, english, ...); native_language / state_region spellings are NOT.
_V2_PLACES = [("portuguese", "portuguese (brazil)", "brazil", "sao paulo"),
              ("hindi", "hindi", "india", "maharashtra"),
              ("indonesian", "indonesian", "indonesia", "jakarta"),
              ("spanish", "spanish (mexico)", "mexico", "jalisco"),
              ("tagalog", "tagalog", "philippines", "metro manila"),
              ("vietnamese", "vietnamese", "vietnam", "ha noi"),
              ("english", "english (united states)", "united states", "california"),
              ("tamil", "tamil", "india", "tamil nadu")]
_V2_GENDERS = ["cis woman", "cis man", "non-binary", "cis woman", "transgender man",
               "cis man", "transgender woman", "prefer not to say"]
_V2_AGES = ["34", "12", "58", "prefer not to say", "19", "41", "27", "66"]  # "12": fixture-only
_V2_MONK = ["scale 05", "scale 02", "scale 09", "scale 04", "scale 06", "scale 03",
            "scale 10", "scale 07"]
_V2_FITZ = ["type iii", "type ii", "type vi", "type iii", "type iv", "type ii",
            "type vi", "type v"]
_V2_CONF = ["medium", "high", "low"]
SUBJECTS_PER_FIXTURE_PART = 5    # real: parts of ~70 subjects (videos), 1113 subjects (frames)


def _v2_videos(s: int, sid: str) -> list[tuple[str, str]]:
    """(video_name, type) list for fixture subject s."""
    lang = _V2_PLACES[s % len(_V2_PLACES)][0]
    if s == 0:   # the multi-video subject: 1 scripted + 4 nonscripted + 1 in a 2nd language
        vids = [(f"{sid}_{lang}_scripted_0.mp4", "scripted")]
        vids += [(f"{sid}_{lang}_nonscripted_{k}.mp4", "nonscripted") for k in range(1, 5)]
        vids.append((f"{sid}_english_nonscripted_5.mp4", "nonscripted"))
        return vids
    return [(f"{sid}_{lang}_scripted_0.mp4", "scripted"),
            (f"{sid}_{lang}_nonscripted_1.mp4", "nonscripted")]


def build_cc_v2(dst: Path, london16: Path, n_subjects: int = 8, *,
                include_child: bool = True, frames_per_video: int = 3) -> Path:
    """Write a CCv2 fixture under ``dst`` (replaced if present).

    Subjects "0000".."%04d" % (n-1); subject "0000" has 6 videos (one in a second
    language), every other subject 2.  Videos of subjects with an odd index
    have their nonscripted video darkened (no JSON flag: see module doc).
    Subjects are split across CCv2_part_1, CCv2_part_2, ... and the frame
    archives CCv2_frames_part_1, ... in contiguous blocks, as in the real data.
    """
    rows = _read_london16(london16)
    if not 1 <= n_subjects <= len(rows):
        raise ValueError(f"n_subjects must be in 1..{len(rows)}")
    if not 1 <= frames_per_video <= N_FRAMES:
        raise ValueError(f"frames_per_video must be in 1..{N_FRAMES}")
    dst = _fresh_dir(dst)
    records: list[dict] = []
    activity: list[dict] = []
    rng = np.random.default_rng(1234)
    for s in range(n_subjects):
        sid = f"{s:04d}"
        part = s // SUBJECTS_PER_FIXTURE_PART + 1
        _, native, country, region = _V2_PLACES[s % len(_V2_PLACES)]
        age = _V2_AGES[s % len(_V2_AGES)]
        if age == "12" and not include_child:
            age = "32"
        base = _load_face(london16, rows[s]["file"])
        for v, (video_name, vtype) in enumerate(_v2_videos(s, sid)):
            conf_m = _V2_CONF[(s + v) % 3]
            conf_f = _V2_CONF[(s + v + 1) % 3]
            records.append({
                "subject_id": sid,
                "video_name": video_name,
                "age": age,
                "gender": _V2_GENDERS[s % len(_V2_GENDERS)],
                "native_language": native,
                "geo_location": {"country": country, "state_region": region},
                "monk_skin_tone": {"scale": _V2_MONK[s % len(_V2_MONK)], "confidence": conf_m},
                "fitzpatrick_skin_tone": {"type": _V2_FITZ[s % len(_V2_FITZ)],
                                          "confidence": conf_f},
                "video_setup": {"type": vtype},
            })
            activity.append({"video_name": video_name})
            dark = (s % 2 == 1) and vtype == "nonscripted"
            _write_video(dst / f"CCv2_part_{part}" / video_name, base, dark)
            # pre-extracted frames: <subject>/<video stem>_raw_frame<8 digits>.jpg
            stem = video_name[:-len(".mp4")]
            picks = sorted(rng.choice(N_FRAMES, size=frames_per_video, replace=False))
            for i in picks:
                # real names carry the 0-based frame index in the source video,
                # zero-padded to 8 digits (e.g. ..._raw_frame00000381.jpg)
                out = (dst / f"CCv2_frames_part_{part}" / sid /
                       f"{stem}_raw_frame{int(i):08d}.jpg")
                out.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(out), _render_frame(base, int(i), dark),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
    _write_json(dst / "CCv2_annotations" / "CasualConversationsV2.json", records)
    _write_json(dst / "CCv2_annotations" / "CasualConversationsV2_activity.json", activity)
    return dst


# ------------------------------------------------------------------ reading frames back


def marker_index(image_path: Path, dark: bool = False) -> int:
    """The frame index a sampled frame carries in its top-left marker block."""
    img = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(image_path)
    level = float(img[2:6, 2:6].mean()) / (DARK_GAIN if dark else 1.0)
    return int(round((level - 40) / 16))

"""An insightface model pack on disk: which files insightface will load, checked before it
sees the folder (so it never tries to download a pack of that name), and pinned sha256s."""

from __future__ import annotations

from pathlib import Path

from fairbench.errors import MatcherError
from fairbench.provenance import sha256_file

DETECTION = "detection"
RECOGNITION = "recognition"
EXPECTED = (
    "an SCRFD detection .onnx (>= 5 outputs, e.g. buffalo_l's det_10g.onnx) and an ArcFace "
    "recognition .onnx (square N x 3 x 112 x 112 input, e.g. buffalo_l's w600k_r50.onnx)"
)


def onnx_role(path: Path) -> str | None:
    """The task insightface's ModelRouter gives this file, from its graph's shapes alone.

    Mirrors insightface 2.1: >= 5 outputs is SCRFD detection; a square input of side >= 112
    and divisible by 16 is ArcFace recognition, unless it is the 192 (landmark), 96
    (gender/age) or two-input 128 (swapper) shape. ``None``: not a face model it uses.
    """
    import onnx

    model = onnx.load_model(str(path), load_external_data=False)
    g = model.graph
    init = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in init]
    if len(g.output) >= 5:
        return DETECTION
    if not inputs:
        return None
    dims = [d.dim_value if d.dim_value > 0 else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] is None or dims[2] != dims[3]:
        return None
    side = dims[2]
    if side in (192, 96) or (len(inputs) == 2 and side == 128):
        return None
    return RECOGNITION if side >= 112 and side % 16 == 0 else None


def find_pack_files(pack: Path) -> dict[str, Path]:
    """The detector and recogniser insightface will load from ``pack`` (first in name order).

    Raises :class:`MatcherError` naming the directory and the files expected when either is
    missing, before insightface could try to download a pack of that name.
    """
    from insightface.model_zoo.package_manifest import (
        has_model_package_manifest,
        load_model_package,
    )

    if not pack.is_dir():
        raise MatcherError(
            f"insightface model pack not found: {pack} (is not a directory)",
            [f"expected a directory holding {EXPECTED}"],
        )
    if has_model_package_manifest(pack):  # insightface's manifest V2: tasks are declared
        try:
            desc = load_model_package(pack)
        except Exception as exc:
            raise MatcherError(f"invalid insightface pack manifest in {pack}: {exc}") from None
        files = {t: d.path for t, d in desc.tasks.items() if t in (DETECTION, RECOGNITION)}
        missing = [f"{t} ({files[t].name})" for t in files if not files[t].is_file()]
        missing += [t for t in (DETECTION, RECOGNITION) if t not in files]
        if missing:
            raise MatcherError(
                f"incomplete insightface model pack {pack}: missing {', '.join(missing)}",
                [f"expected {EXPECTED}"],
            )
        return files
    files: dict[str, Path] = {}
    seen: list[str] = []
    for path in sorted(pack.glob("*.onnx")):  # FaceAnalysis's order: first per task wins
        try:
            role = onnx_role(path)
        except Exception as exc:
            raise MatcherError(f"unreadable ONNX file in insightface pack: {path}: {exc}") from None
        seen.append(f"{path.name}: {role or 'not used'}")
        if role is not None:
            files.setdefault(role, path)
    missing = [t for t in (DETECTION, RECOGNITION) if t not in files]
    if missing:
        raise MatcherError(
            f"incomplete insightface model pack {pack}: no {' and no '.join(missing)} model",
            [f"expected {EXPECTED}", "found: " + ("; ".join(seen) or "no .onnx files")],
        )
    return files


def check_sha256(pack: Path, expected: dict[str, str]) -> None:
    """Refuse to run on a file whose sha256 differs from the one pinned in the config."""
    problems = []
    for name, want in sorted(expected.items()):
        path = pack / name
        if not path.is_file():
            problems.append(f"{name}: pinned by sha256 but not found in {pack}")
        elif (got := sha256_file(path)) != want:
            problems.append(f"{name}: sha256 is {got}, expected {want}")
    if problems:
        raise MatcherError(f"insightface pack {pack} does not match its pinned sha256", problems)

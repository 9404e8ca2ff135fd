"""``fairbench datasets fetch``: the one command that downloads data.

Downloads each archive named in the dataset card, extracts the files the card maps, checks
every file against the card's checksum list, and only then renames the folder into place,
so an interrupted or failed fetch leaves nothing half-written. Where the network is closed
it says what to do instead.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fairbench.data.card import DatasetCard, card_path, load_card
from fairbench.data.paths import cache_root, dataset_candidates
from fairbench.errors import DataError


def read_checksums(path: Path) -> dict[str, str]:
    """``sha256  ./relative/path`` lines -> {relative path: sha256}."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.strip().removeprefix("./")] = digest.lower()
    return out


def verify_folder(folder: Path, sums: dict[str, str]) -> list[str]:
    """Every file missing from ``folder`` or with a different sha256."""
    problems = []
    for rel, digest in sums.items():
        p = folder / rel
        if not p.is_file():
            problems.append(f"missing: {rel}")
        elif hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            problems.append(f"sha256 differs: {rel}")
    return problems


def _download(url: str, dest: Path, name: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as f:
            shutil.copyfileobj(r, f, length=1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataError(
            f"could not download {url} ({exc}). This machine may have no internet access: "
            "download the archive on a machine that has, extract it, and place the dataset "
            f"folder under $FAIRBENCH_DATA_ROOT/{name}/ (or ~/.cache/fairbench/datasets/{name}/); "
            "`fairbench datasets list` shows where fairbench looks."
        ) from None


def _extract(archive: Path, mapping: dict[str, str], out: Path) -> int:
    """Copy archive members whose path (below the top folder) starts with a mapped prefix."""
    n = 0
    with ExitStack() as stack:
        if zipfile.is_zipfile(archive):
            z = stack.enter_context(zipfile.ZipFile(archive))
            members = [(m.filename, m) for m in z.infolist() if not m.is_dir()]
            opener: Any = z.open
        else:
            t = stack.enter_context(tarfile.open(archive))
            members = [(m.name, m) for m in t.getmembers() if m.isfile()]
            opener = t.extractfile
        for name, m in members:
            inner = name.split("/", 1)[1] if "/" in name else name
            for src, dst in mapping.items():
                if not inner.startswith(src):
                    continue
                rel = Path(dst + inner[len(src):])
                if rel.is_absolute() or ".." in rel.parts:
                    continue  # never write outside the staging folder
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with opener(m) as fsrc, open(target, "wb") as fdst:
                    shutil.copyfileobj(fsrc, fdst)
                n += 1
    return n


def fetch(name: str, dest: Path | None = None) -> Path:
    """Download, verify and install dataset ``name``; returns its folder."""
    card: DatasetCard = load_card(name)
    final = Path(dest) if dest else cache_root() / "datasets" / card.name
    for existing in dataset_candidates(card.name):
        if existing.is_dir():
            return existing
    if not card.downloads:
        how = card.access or "the card does not say where to get it"
        raise DataError(f"{card.title} cannot be downloaded by fairbench: {how}")
    sums = read_checksums(card_path(name).parent / card.checksums) if card.checksums else {}
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{card.name}.") as tmp:
        stage = Path(tmp) / "data"
        stage.mkdir()
        for k, d in enumerate(card.downloads):
            archive = Path(tmp) / f"download{k}"
            _download(d.url, archive, card.name)
            if d.sha256 and hashlib.sha256(archive.read_bytes()).hexdigest() != d.sha256:
                raise DataError(f"{d.url}: sha256 differs from the card's; not installing")
            if not _extract(archive, d.extract, stage):
                raise DataError(f"{d.url}: the archive holds none of the expected files")
            archive.unlink()
        problems = verify_folder(stage, sums)
        if problems:
            raise DataError(f"fetched {name!r} does not match its checksums", problems[:20])
        stage.rename(final)
    return final


def _unpack(archive: Path, out: Path) -> None:
    """Every member of a zip or tar archive into ``out``; refuses members that would land
    outside it (absolute paths, '..', links)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for m in z.infolist():
                    rel = Path(m.filename)
                    if rel.is_absolute() or ".." in rel.parts:
                        raise DataError(f"{archive}: member {m.filename!r} would land outside "
                                        "the dataset folder; not importing")
                z.extractall(out)
            return
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                rel = Path(m.name)
                if rel.is_absolute() or ".." in rel.parts or m.issym() or m.islnk() or \
                        m.isdev():
                    raise DataError(f"{archive}: member {m.name!r} is a link, a device or "
                                    "would land outside the dataset folder; not importing")
            try:
                t.extractall(out, filter="data")  # Python >= 3.11.4: no links, no escapes
            except TypeError:
                t.extractall(out)  # older: the members were checked above
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot unpack ({exc})") from None


def import_dataset(name: str, source: Path, dest: Path | None = None) -> Path:
    """Install a distribution the user downloaded by hand (an archive or a folder): unpack
    it (and the archives the card names inside), check the card's checksums and that the
    adapter can read it, then rename it into place; a failure leaves nothing behind."""
    import os

    from fairbench.data.load import read_distribution

    card = load_card(name)
    source = Path(source).expanduser()
    if not source.exists():
        raise DataError(f"{source}: not found")
    env = os.environ.get("FAIRBENCH_DATA_ROOT")
    final = Path(dest) if dest else (Path(env).expanduser() if env else
                                     cache_root() / "datasets") / card.name
    if final.exists():
        raise DataError(f"{final} exists already; remove it first to import again")
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{card.name}.") as tmp:
        stage = Path(tmp) / "data"
        if source.is_dir():
            shutil.copytree(source, stage, symlinks=False)
        else:
            stage.mkdir()
            _unpack(source, stage)
        for n in card.nested:
            inner = next(iter(sorted(stage.rglob(n.archive))), None)
            if inner is None:
                continue
            if n.md5_file:
                listed = inner.parent / n.md5_file
                if listed.is_file():
                    want = listed.read_text(encoding="utf-8").split()[0].lower()
                    got = hashlib.md5(inner.read_bytes()).hexdigest()
                    if got != want:
                        raise DataError(f"{inner.name}: md5 {got} differs from the one the "
                                        f"distribution lists ({want}); not importing")
            _unpack(inner, inner.parent)
        if card.checksums:
            problems = verify_folder(stage, read_checksums(card_path(name).parent /
                                                           card.checksums))
            if problems:
                raise DataError(f"{source}: does not match {card.name}'s checksums",
                                problems[:20])
        read_distribution(card.name, stage)  # the adapter must read it before it lands
        stage.rename(final)
    return final

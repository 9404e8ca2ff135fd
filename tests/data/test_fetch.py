"""fetch: download, extract the mapped files, verify checksums, install atomically."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from fairbench.data.fetch import fetch
from fairbench.errors import DataError


def setup_card(tmp_path: Path, monkeypatch, good: bool = True) -> Path:
    files = {"repo-main/inst/a/1.jpg": b"one", "repo-main/data/info.csv": b"id\n1\n",
             "repo-main/other.txt": b"skip"}
    archive = tmp_path / "toy.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    cards = tmp_path / "work" / "datasets"
    cards.mkdir(parents=True)
    sums = {"a/1.jpg": b"one", "info.csv": b"id\n1\n" if good else b"tampered"}
    (cards / "toy.sha256").write_text("".join(
        f"{hashlib.sha256(v).hexdigest()}  ./{k}\n" for k, v in sums.items()))
    (cards / "toy.yaml").write_text(f"""
name: toy
title: Toy
version: "1"
citation: none
licence: CC0
consent: synthetic files, no people
adapter: manifest
manifest: info.csv
attributes: {{}}
checksums: toy.sha256
downloads:
  - url: {archive.as_uri()}
    extract: {{"inst/a/": "a/", "data/info.csv": "info.csv"}}
""")
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("FAIRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FAIRBENCH_DATA_ROOT", raising=False)
    return tmp_path / "cache" / "datasets" / "toy"


def test_fetch_installs_verified_files(tmp_path, monkeypatch):
    final = setup_card(tmp_path, monkeypatch)
    assert fetch("toy") == final
    assert (final / "a" / "1.jpg").read_bytes() == b"one"
    assert (final / "info.csv").is_file() and not (final / "other.txt").exists()
    assert fetch("toy") == final  # already there: nothing downloaded again


def test_fetch_refuses_files_that_do_not_match_and_leaves_nothing(tmp_path, monkeypatch):
    final = setup_card(tmp_path, monkeypatch, good=False)
    with pytest.raises(DataError, match="does not match its checksums") as e:
        fetch("toy")
    assert "sha256 differs: info.csv" in str(e.value)
    assert not final.exists()
    assert list(final.parent.iterdir()) == []


def test_fetch_without_network_says_what_to_do(tmp_path, monkeypatch):
    setup_card(tmp_path, monkeypatch)
    card = Path("datasets/toy.yaml")
    card.write_text(card.read_text().replace("file://", "http://nonexistent.invalid"))
    with pytest.raises(DataError, match="FAIRBENCH_DATA_ROOT/toy/"):
        fetch("toy")

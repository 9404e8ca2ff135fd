"""Dataset cards ship with the package; a local card never replaces a shipped one; one
missing-value vocabulary for validation and loading."""

from __future__ import annotations

import pandas as pd
import pytest

from fairbench.config import DatasetConfig
from fairbench.core.missing import UNKNOWN, as_labels, is_missing
from fairbench.data.card import load_card
from fairbench.data.checks import find_problems
from fairbench.data.load import load_dataset
from fairbench.data.manifest import read_manifest
from fairbench.data.paths import SHIPPED_CARDS, card_names, card_path
from fairbench.errors import DataError


def test_shipped_cards_are_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "london" in card_names()
    assert card_path("london") == SHIPPED_CARDS / "london.yaml"
    assert load_card("london").licence == "CC BY 4.0"


def test_a_local_card_cannot_replace_a_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets").mkdir()
    text = (SHIPPED_CARDS / "london.yaml").read_text()
    (tmp_path / "datasets" / "london.yaml").write_text(text)  # identical: fine
    assert card_path("london") == SHIPPED_CARDS / "london.yaml"
    (tmp_path / "datasets" / "london.yaml").write_text(
        text.replace("webmorphR.stim", "evil.example/stim"))
    with pytest.raises(DataError, match="never replaces a shipped card's download"):
        card_path("london")
    (tmp_path / "datasets" / "mine.yaml").write_text(text.replace("name: london",
                                                                  "name: mine"))
    assert card_path("mine") == tmp_path / "datasets" / "mine.yaml"
    assert "mine" in card_names()


@pytest.mark.parametrize("v", ["", " ", "NA", "n/a", "N/A", "nan", "NaN", "None", "none",
                               "NULL", "null", "unknown", "Unknown"])
def test_every_missing_spelling_is_unknown(v):
    assert is_missing(v)
    assert as_labels(pd.Series([v, "white"])).tolist() == [UNKNOWN, "white"]


def test_missing_values_are_unknown_in_validation_and_loading(tmp_path):
    """'None' used to become a real group (even the reference); a card's own missing
    spellings are honoured too."""
    rows = [{"image_id": f"i{k}", "path": "", "subject_id": f"s{k}", "eth": e}
            for k, e in enumerate(["white", "None", "N/A", "null", "white", "-"])]
    p = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    m = read_manifest(p)
    probs = find_problems(m, ["eth"], {"eth": ["white"]}, require_files=False)
    assert probs == [f"{p} row 7 (i5): eth='-' is not in the vocabulary (white)"]
    assert find_problems(m, ["eth"], {"eth": ["white"]}, require_files=False,
                         missing={"eth": ["-"]}) == []
    ds = load_dataset(DatasetConfig(manifest=p, attributes=["eth"]), require_files=False)
    assert ds.manifest.frame["eth"].tolist() == ["white", UNKNOWN, UNKNOWN, UNKNOWN, "white",
                                                 "-"]

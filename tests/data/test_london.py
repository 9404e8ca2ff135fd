"""The London adapter and its card, on the real data."""

from __future__ import annotations

from fairbench.config import DatasetConfig
from fairbench.data.card import load_card
from fairbench.data.fetch import read_checksums
from fairbench.data.load import load_dataset
from fairbench.data.paths import SHIPPED_CARDS


def test_london_manifest_has_every_image(london_root):
    ds = load_dataset(DatasetConfig(name="london", root=london_root,
                                    attributes=["eth", "sex", "age_band"], age_bands=[18, 30, 45]))
    f = ds.manifest.frame
    assert len(f) == 204 and f["subject_id"].nunique() == 102
    assert f.groupby("subject_id").size().eq(2).all()
    assert f["eth"].value_counts().to_dict() == {
        "white": 138, "black": 26, "west_asian": 20, "east_asian": 18, "east_asian/white": 2}
    assert (f["age_band"] == "unknown").sum() == 4  # two people with age NA
    assert ds.label_sources["eth"] == "self-reported"
    assert ds.label_sources["age_band"].startswith("self-reported (banded")


def test_card_states_licence_consent_and_checksums_cover_every_image():
    card = load_card("london")
    assert card.licence == "CC BY 4.0" and "consent" in card.consent
    assert card.limits and card.citation.startswith("DeBruine")
    sums = read_checksums(SHIPPED_CARDS / card.checksums)
    assert sum(k.endswith(".jpg") for k in sums) == 204

"""Config: strict validation naming key and file, overrides, canonical hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairbench.config import load_config, load_config_dict
from fairbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_key_is_named_with_the_file(tmp_path):
    p = write(tmp_path, "dataset: {name: london}\nverification: {target_fmrs: [0.01]}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in e.value.render()
    assert "verification.target_fmrs: unknown key" in e.value.render()


def test_wrong_type_is_named(tmp_path):
    p = write(tmp_path, "dataset: {name: london}\nmatcher: {batch_size: many}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "matcher.batch_size" in e.value.render()


def test_dataset_needs_exactly_one_source(tmp_path):
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, "dataset: {name: london, manifest: x.csv}\n"))
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, "dataset: {attributes: [eth]}\n"))


def test_overrides_apply_and_change_the_hash(tmp_path):
    p = write(tmp_path, "dataset: {name: london, attributes: [eth]}\n")
    base = load_config(p)
    over = load_config(p, ["matcher.batch_size=32", "verification.target_fmr=[0.1]"])
    assert over.matcher.batch_size == 32
    assert over.verification.target_fmr == [0.1]
    assert base.hash() != over.hash()
    assert base.hash() == load_config(p).hash()
    with pytest.raises(ConfigError, match="matcher.batchsize: unknown key"):
        load_config(p, ["matcher.batchsize=3"])
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(p, ["matcher.batch_size"])


def test_hash_ignores_key_order():
    a = load_config_dict({"dataset": {"name": "x", "attributes": ["a"]},
                          "matcher": {"name": "dlib", "batch_size": 4}})
    b = load_config_dict({"matcher": {"batch_size": 4, "name": "dlib"},
                          "dataset": {"attributes": ["a"], "name": "x"}})
    assert a.hash() == b.hash()


def test_target_fmrs_must_be_rates():
    with pytest.raises(ConfigError, match="target_fmr"):
        load_config_dict({"dataset": {"name": "x"}, "verification": {"target_fmr": [2]}})


def test_the_tail_mode_is_checked_and_named():
    base = {"dataset": {"name": "x"}}
    assert load_config_dict(base).verification.tail == "auto"
    with pytest.raises(ConfigError, match="verification.tail: Input should be 'pairs', "
                                          "'people' or 'auto'"):
        load_config_dict({**base, "verification": {"tail": "subjects"}})
    with pytest.raises(ConfigError, match="tail: people runs on the CPU kernel"):
        load_config_dict({**base, "verification": {"tail": "people", "device": "cuda"}})


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    load_config(path)


def test_an_identification_section_without_mode_runs_1n():
    cfg = load_config_dict({"dataset": {"name": "x", "attributes": ["a"]},
                            "identification": {"rank": 2, "candidates": 5}})
    assert cfg.mode == "identification" and cfg.identification.rank == 2
    assert "verification" not in cfg.resolved() and "identification" in cfg.resolved()
    plain = load_config_dict({"dataset": {"name": "x", "attributes": ["a"]}})
    assert plain.mode == "verification" and "identification" not in plain.resolved()


@pytest.mark.parametrize("data,stray", [
    ({"mode": "verification", "identification": {}}, "identification"),
    ({"mode": "identification", "verification": {}}, "verification"),
    ({"mode": "identification", "capture": {"detector_model": "y.onnx"}}, "capture"),
    ({"identification": {}, "capture": {"detector_model": "y.onnx"}}, "capture"),
])
def test_a_section_the_mode_does_not_use_is_an_error_naming_it(data, stray):
    with pytest.raises(ConfigError, match=f"section\\(s\\) {stray}.*not used by mode"):
        load_config_dict({"dataset": {"name": "x", "attributes": ["a"]}, **data})


def test_an_override_cannot_sneak_in_the_other_mode():
    with pytest.raises(ConfigError, match="identification"):
        load_config_dict({"mode": "verification",
                          "dataset": {"name": "x", "attributes": ["a"]}},
                         overrides=["identification.rank=3"])


def test_hash_leaves_out_machine_local_cache_settings():
    a = load_config_dict({"dataset": {"name": "x", "attributes": ["a"]},
                          "cache": {"dir": "/home/alice/.cache"}})
    b = load_config_dict({"dataset": {"name": "x", "attributes": ["a"]},
                          "cache": {"dir": "/srv/bob"}})
    assert a.hash() == b.hash()

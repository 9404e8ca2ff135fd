"""Reading a config: YAML plus dotted overrides, validated strictly; every error names the
key and the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fairbench.config.model import Config
from fairbench.errors import ConfigError
from fairbench.safeyaml import load_yaml, read_yaml_file


def _format_errors(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(f"{key}: {msg}")
    return out


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r} is not of the form key.path=value")
    parts = key.strip().split(".")
    if any(not p for p in parts):
        raise ConfigError(f"override {override!r}: empty key part in {key.strip()!r}")
    value = load_yaml(raw, f"override {key}", ConfigError) if raw.strip() else ""
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {key}: {'.'.join(parts[: i + 1])} is not a mapping")
        node = nxt
    node[parts[-1]] = value


def load_config_dict(
    data: Any, source: str = "<config>", overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Validate a config mapping (after applying overrides); errors name key and source."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of sections")
    for ov in overrides:
        apply_override(data, ov)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid config", _format_errors(exc)) from None


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config file, apply ``key=value`` overrides, validate strictly."""
    data = read_yaml_file(path, "config", ConfigError)
    return load_config_dict(data, source=str(Path(path)), overrides=overrides)

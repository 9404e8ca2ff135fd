"""``fairbench matchers``: list the installed matchers, check one against the protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fairbench.cli.app import command, matchers_app
from fairbench.errors import FairbenchError, MatcherError

NO_IMAGES = (
    "matcher {name!r} reads images and none were given: pass --images DIR (a folder of a "
    "few face photos, .jpg or .png; the first {n} by name are used), or set "
    "FAIRBENCH_DATA_ROOT to a folder holding the London set (`fairbench datasets fetch "
    "london`) to check with its first {n} faces"
)


@command(matchers_app, "list")
def matchers_list_cli() -> None:
    """Registered matcher names (built-ins and plugins, one path for both)."""
    from fairbench.registry import matchers

    for n in matchers.names():
        typer.echo(n)


@command(matchers_app, "check")
def matchers_check_cli(
    name: Annotated[str, typer.Argument(help="A registered matcher (fairbench matchers list).")],
    params: Annotated[list[str] | None, typer.Option(
        "--params", "-p", help="Matcher params, repeatable: key=value (dotted keys nest, the "
        "value is YAML), an inline YAML mapping, or a YAML file (a fairbench config's "
        "matcher.params are used).")] = None,
    images: Annotated[Path | None, typer.Option(
        "--images", help="Folder of face images (.jpg/.png). Default: the London set under "
        "FAIRBENCH_DATA_ROOT.")] = None,
    max_images: Annotated[int, typer.Option(
        "--max-images", min=1, max=64, help="Images used (the first, by name).")] = 8,
) -> None:
    """Check a matcher against the plugin protocol, one named check at a time.

    One result per image and in order, one embedding size, finite values, failures
    reported, deterministic, batch-size invariant, thread-safe, no network, a complete
    info() and a fingerprint that tracks the params. Exit 0 when every check passes, 1 when
    one fails, 2 on bad input.
    """
    from fairbench.testing import check_matcher

    given = parse_params(params or [])
    reads = _reads_images(name)
    folder = images if images is not None else _default_images() if reads else None
    if folder is None and reads:
        raise FairbenchError(NO_IMAGES.format(name=name, n=max_images))
    report = check_matcher(name, images=folder, params=given, max_images=max_images)
    typer.echo(report.to_text())
    if not report.passed:
        raise typer.Exit(1)


def _reads_images(name: str) -> bool:
    """Whether the named matcher reads images (an unknown name is the usual exit-2 error)."""
    from fairbench.registry import matchers

    try:
        cls = matchers.get(name)
    except ImportError as exc:
        raise MatcherError(f"matcher {name!r} is registered but cannot be imported "
                           f"({type(exc).__name__}: {exc})") from None
    return bool(getattr(cls, "needs_images", True))


def _default_images() -> Path | None:
    """The London set's frontal neutral faces, when FAIRBENCH_DATA_ROOT (or the cache)
    holds it; else None."""
    from fairbench.data.paths import find_dataset

    london = find_dataset("london")
    if london is None:
        return None
    front = london / "neutral_front"
    return front if front.is_dir() else london


def parse_params(values: list[str]) -> dict[str, Any]:
    """Merge ``--params`` values in order: ``key.path=value`` overrides, inline YAML
    mappings and YAML files (a config file contributes its ``matcher.params``)."""
    from fairbench.config.load import apply_override
    from fairbench.errors import ConfigError
    from fairbench.safeyaml import load_yaml, read_yaml_file

    out: dict[str, Any] = {}
    for raw in values:
        text = raw.strip()
        if not text.startswith("{") and "=" in text.split(":", 1)[0]:
            apply_override(out, text)
            continue
        path = Path(text).expanduser()
        if text.lower().endswith((".yaml", ".yml")) and not path.is_file():
            raise ConfigError(f"--params: no file at {path}")
        if path.suffix.lower() in (".yaml", ".yml"):
            data = read_yaml_file(path, "params file", ConfigError)
            if isinstance(data, dict) and isinstance(data.get("matcher"), dict):
                data = data["matcher"].get("params", {})
        else:
            data = load_yaml(text, "--params", ConfigError)
        if not isinstance(data, dict):
            raise ConfigError(f"--params {raw!r}: not key=value, a YAML mapping or a YAML "
                              "file of one")
        out.update(data)
    return out

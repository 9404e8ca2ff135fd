"""YAML as fairbench reads every file a user hands it (configs, claims, dataset cards).

Safe loading only (no Python objects), plus three refusals PyYAML does not make itself:
a key given twice in one mapping (YAML would keep the last silently), alias expansion beyond
a bound (a "billion laughs" file of 1 KB would expand to gigabytes once validated or
hashed), and text that is not UTF-8. Each error names the file and, where there is one, the
line.

>>> load_yaml("a: 1\\nb: 2\\n", "x.yaml")
{'a': 1, 'b': 2}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fairbench.errors import FairbenchError

#: Most nodes a document may expand to (aliases counted each time they are used).
MAX_NODES = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice (lines {seen[key]} and {line})",
                key_node.start_mark)
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def expanded_size(obj: Any, memo: dict[int, int] | None = None) -> int:
    """How many values ``obj`` holds once every shared (aliased) part is counted each time
    it is used; linear in the distinct objects, however large the expansion."""
    memo = {} if memo is None else memo
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, dict):
        size = 1 + sum(expanded_size(k, memo) + expanded_size(v, memo) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        size = 1 + sum(expanded_size(v, memo) for v in obj)
    else:
        size = 1
    memo[key] = size
    return size


def load_yaml(text: str, source: str, error: type[FairbenchError] = FairbenchError) -> Any:
    """Parse YAML text safely; duplicate keys and runaway aliases are errors."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML ({exc})") from None
    except RecursionError:
        raise error(f"{source}: nested too deeply to be a config") from None
    try:
        size = expanded_size(data)
    except RecursionError:
        raise error(f"{source}: nested too deeply (or refers to itself)") from None
    if size > MAX_NODES:
        raise error(f"{source}: expands to {size:,} values through its aliases (the limit is "
                    f"{MAX_NODES:,}); a config this large is a mistake or an attack")
    return data


def read_yaml_file(path: str | Path, what: str, error: type[FairbenchError] = FairbenchError
                   ) -> Any:
    """Read and parse a UTF-8 YAML file; ``what`` names it in errors ("config", "claims file")."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise error(f"{p}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder, not a {what}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read {what} ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{p}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8") \
            from None
    return load_yaml(text.removeprefix("\ufeff"), str(p), error)

"""Dataset adapters: read a dataset exactly as its publisher distributes it.

An adapter takes the unpacked distribution folder, the dataset's card and the run's
``dataset.options`` and returns a :class:`Loaded`: the manifest it builds (``image_id, path,
subject_id`` and the attribute columns, values as the dataset spells them unless the card
maps them) and, where the dataset ships its own comparison protocol, its pair list. Every
problem of a layout (a missing metadata file, a file the metadata lacks, a value the card
does not know) is collected and raised once, naming the file. Adapters are looked up by the
card's ``adapter`` name; each module is imported only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from fairbench.data.manifest import Manifest
from fairbench.errors import DataError


@dataclass
class PairList:
    """A dataset's own comparisons (image ids), each genuine or not as the protocol says."""

    a: list[str]
    b: list[str]
    source: str  # the file(s) the pairs come from
    mated: list[bool] | None = None  # the protocol's own labels, checked against subjects


@dataclass
class Loaded:
    """What an adapter read: the manifest, the dataset's own pairs, label sources the
    layout declares (beyond the card's), and notes for the run's limits."""

    manifest: Manifest
    pairs: PairList | None = None
    label_sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


Adapter = Callable[[Path, Any, Mapping[str, Any]], Loaded]

#: adapter name -> "module:function" (imported on first use)
ADAPTERS: dict[str, str] = {
    "london": "fairbench.data.adapters.london_set:load",
    "manifest": "fairbench.data.adapters.manifest_file:load",
    "folders": "fairbench.data.adapters.folders:load",
    "casual_conversations_v1": "fairbench.data.adapters.casual_conversations:load_v1",
    "casual_conversations_v2": "fairbench.data.adapters.casual_conversations:load_v2",
    "cfd": "fairbench.data.adapters.cfd:load",
    "meds2": "fairbench.data.adapters.meds:load",
    "rfw": "fairbench.data.adapters.rfw:load",
    "bfw": "fairbench.data.adapters.bfw:load",
}


def adapter(name: str) -> Adapter:
    """The loader for adapter ``name``; a clear error (with the known names) otherwise."""
    target = ADAPTERS.get(name)
    if target is None:
        raise DataError(f"no dataset adapter {name!r}; known: {', '.join(sorted(ADAPTERS))}")
    module, _, fn = target.partition(":")
    try:
        return getattr(import_module(module), fn)  # type: ignore[no-any-return]
    except ModuleNotFoundError:
        raise DataError(f"the dataset adapter {name!r} is not available in this "
                        "version of fairbench") from None


def option(options: Mapping[str, Any], key: str, default: Any, kinds: tuple[type, ...],
           allowed: tuple[Any, ...] = ()) -> Any:
    """One adapter option, type-checked, naming ``dataset.options.<key>`` when wrong."""
    value = options.get(key, default)
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds or \
            (allowed and value not in allowed):
        want = " or ".join(map(repr, allowed)) if allowed else \
            " or ".join(k.__name__ for k in kinds)
        raise DataError(f"dataset.options.{key}: expected {want}, got {value!r}")
    return value


def unknown_options(options: Mapping[str, Any], known: tuple[str, ...], name: str) -> None:
    extra = sorted(set(options) - set(known))
    if extra:
        raise DataError(f"dataset.options: the {name} adapter has no option "
                        f"{', '.join(map(repr, extra))} (it knows: {', '.join(known) or 'none'})")

"""Watching (and refusing) network access while a matcher is checked.

One audit hook (:func:`sys.addaudithook`) is installed on first use and stays for the life
of the process (audit hooks cannot be removed); it does nothing unless a :class:`NetWatch`
is active. While one is, every socket event is recorded, and one that would reach beyond
this machine (a connect to a non-loopback address, a name lookup of a non-local name) is
refused with :class:`NetworkRefused` (a ``PermissionError``) before it happens: checking a
matcher never sends its face images anywhere, and never waits on a DNS timeout. Loopback
traffic (a matcher whose server runs on 127.0.0.1) is allowed and reported as local.

The hook sees Python's ``socket`` module only; native code that opens its own sockets (a
C++ library's telemetry, a subprocess) is not observed.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

#: Socket audit events that reach for the network, and the argument holding the address.
_ADDRESS_ARG = {
    "socket.connect": 1,
    "socket.sendto": 1,
    "socket.sendmsg": 1,
    "socket.getaddrinfo": 0,
    "socket.gethostbyname": 0,
    "socket.gethostbyname_ex": 0,
    "socket.gethostbyaddr": 0,
    "socket.getnameinfo": 0,
}
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
#: Modules whose frames are the network plumbing, not the caller worth naming.
_PLUMBING = ("socket", "ssl", "http", "urllib", "httpx", "httpcore", "anyio", "requests",
             "urllib3", "asyncio", "selectors", "fairbench.testing")


class NetworkRefused(PermissionError):
    """A non-local network access attempted while a matcher was being checked."""


@dataclass(frozen=True)
class NetEvent:
    """One observed socket event: what, to where, whether local, and the calling line."""

    event: str
    host: str
    port: str
    local: bool
    phase: str
    caller: str

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    def describe(self) -> str:
        where = f" at {self.caller}" if self.caller else ""
        return f"{self.event.removeprefix('socket.')} {self.target}{where}, first during " \
               f"{self.phase}"


@dataclass
class NetWatch:
    """Records socket events while active; ``phase`` labels what was running."""

    phase: str = "embedding"
    refuse: bool = True
    events: list[NetEvent] = field(default_factory=list)

    def __enter__(self) -> NetWatch:
        _install()
        with _LOCK:
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _LOCK:
            _ACTIVE.remove(self)

    @property
    def remote(self) -> list[NetEvent]:
        return [e for e in self.events if not e.local]

    @property
    def local(self) -> list[NetEvent]:
        return [e for e in self.events if e.local]


_LOCK = threading.Lock()
_ACTIVE: list[NetWatch] = []
_INSTALLED = False


def _install() -> None:
    global _INSTALLED
    with _LOCK:
        if not _INSTALLED:
            sys.addaudithook(_hook)
            _INSTALLED = True


def is_local(host: Any) -> bool:
    """Whether an address or host name stays on this machine (loopback, unspecified,
    a Unix socket path, ``localhost``); anything else, including any other name, is not."""
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip().strip("[]").split("%", 1)[0].rstrip(".").lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _target(event: str, args: tuple[Any, ...]) -> tuple[str, str, bool]:
    """(host, port, local) of one event's address."""
    k = _ADDRESS_ARG[event]
    addr = args[k] if len(args) > k else None
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        if isinstance(addr, (str, bytes)):  # AF_UNIX path (or abstract name): local
            return f"unix:{addr!r}", "", True
        if isinstance(addr, tuple) and addr:
            return str(addr[0]), str(addr[1]) if len(addr) > 1 else "", is_local(addr[0])
        return repr(addr), "", addr is None
    if event == "socket.getaddrinfo":
        port = args[1] if len(args) > 1 and args[1] is not None else ""
        return str(addr), str(port), is_local(addr)
    if isinstance(addr, tuple) and addr:  # getnameinfo((host, port), flags)
        return str(addr[0]), str(addr[1]) if len(addr) > 1 else "", is_local(addr[0])
    return str(addr), "", is_local(addr)


def _caller(frame: FrameType | None) -> str:
    """The innermost frame outside the network plumbing, as ``file:line``."""
    while frame is not None:
        mod = frame.f_globals.get("__name__", "")
        if not any(mod == p or mod.startswith(p + ".") for p in _PLUMBING):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _ACTIVE or event not in _ADDRESS_ARG:  # the fast path: every audit event ends here
        return
    try:
        host, port, local = _target(event, args)
        caller = _caller(sys._getframe(1))
    except Exception:  # never let the observer break the observed
        host, port, local, caller = "?", "", False, ""
    refuse = False
    with _LOCK:
        for w in _ACTIVE:
            w.events.append(NetEvent(event, host, port, local, w.phase, caller))
            refuse = refuse or (w.refuse and not local)
    if refuse:
        where = f"{host}:{port}" if port else host
        raise NetworkRefused(f"fairbench matchers check: network access refused "
                             f"({event.removeprefix('socket.')} {where})")

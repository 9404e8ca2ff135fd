"""Guards of the privacy boundary for server-side matchers: where images may go, where the
API key comes from, and scrubbing of any text a server or library returns.

fairbench promises that images never leave the machine unless the user says so: a URL whose
host is not loopback needs ``allow_remote: true``. Params are recorded in run.json, so they
hold only the *name* of the environment variable with the key; names of headers, extra
fields and URL query parameters that look like credentials are refused. Recorded texts never
hold the key or long base64-like runs (echoed image bytes).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fairbench.errors import MatcherError

#: Names that look like credentials: refused in headers, extra fields and URL queries.
SECRET_NAME = re.compile(r"auth|key|token|secret|passw|cookie|session|credential|bearer", re.I)
#: Long runs of base64-like text (image bytes a server might echo) are cut from its texts.
_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{40,}")


@dataclass(frozen=True)
class Secret:
    """A value that never shows itself in a repr, a log or a traceback's locals."""

    value: str

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def read_api_key(p: Any) -> Secret | None:
    """The key from the environment variable named by ``api_key_env``; a clear error (with
    the variable's name, never a value) when it is unset or empty."""
    if p.api_key_env is None:
        return None
    value = os.environ.get(p.api_key_env, "").strip()
    key = f"matcher.params.api_key_env: the environment variable {p.api_key_env}"
    if not value:
        raise MatcherError(f"{key} is not set (or empty); export the API key there before "
                           "the run (the key itself never goes in a config)")
    if not all(" " <= c <= "~" for c in value):
        raise MatcherError(f"{key} holds characters that cannot go in an HTTP header "
                           "(printable ASCII only)")
    return Secret(value)


def check_transport(p: Any) -> tuple[str, bool]:
    """Validate the URL and the headers; return (the host images go to, remote or not)."""
    key = "matcher.params.url"
    try:
        parts = urlsplit(p.url)
    except ValueError:
        raise MatcherError(f"{key}: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MatcherError(f"{key}: expected an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise MatcherError(f"{key}: credentials in the URL are refused (run.json records it);"
                           " name an environment variable in matcher.params.api_key_env")
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if SECRET_NAME.search(name):
            raise MatcherError(f"{key}: query parameter {name!r} looks like a credential; "
                               "pass keys through matcher.params.api_key_env")
    check_names(p.headers, "matcher.params.headers")
    try:
        port = parts.port
    except ValueError:
        raise MatcherError(f"{key}: the port is not a number from 0 to 65535") from None
    host = parts.hostname.lower()
    remote = not is_loopback(host)
    if remote and not p.allow_remote:
        raise MatcherError(
            f"{key}: host {host!r} is not this machine (loopback: 127.0.0.0/8, ::1, "
            "localhost); fairbench sends images elsewhere only when you say so: set "
            "matcher.params.allow_remote: true")
    return (f"[{host}]" if ":" in host else host) + (f":{port}" if port else ""), remote


def check_names(fields: dict[str, Any], key: str) -> None:
    """Refuse header or field names that look like credentials (params go into run.json)."""
    for name in fields:
        if SECRET_NAME.search(name):
            raise MatcherError(f"{key}.{name}: looks like a credential, and params are "
                               "recorded in run.json; put the key in an environment variable "
                               "named by matcher.params.api_key_env (header: api_key_header)")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) or the name localhost."""
    if host.rstrip(".") == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def scrub(text: str, secret: Secret | None, limit: int = 160) -> str:
    """A server's or library's text made safe to record: one line, no key, no long
    base64-like runs (echoed image bytes), at most ``limit`` characters."""
    if secret is not None and secret.value:
        text = text.replace(secret.value, "***")
    text = _BLOB.sub("[...]", " ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""The HTTP client pieces every server-side matcher mode shares (``embed`` now, ``compare``
later): transport parameters, a token-bucket rate limiter, retries with capped, jittered
exponential backoff (honouring ``Retry-After``), response field access and ordered parallel
calls. The privacy guards (loopback rule, API key, scrubbing) are in
:mod:`fairbench.matchers.http_guard`.

Images go only to the configured URL's host: no proxies or netrc from the environment, no
redirects followed. Nothing touches the network before the first request.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field

from fairbench.errors import MatcherError
from fairbench.matchers.base import StrictParams
from fairbench.matchers.http_guard import Secret, scrub

T = TypeVar("T")
R = TypeVar("R")

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class TransportParams(StrictParams):
    """Where requests go and how they are paced, retried and authenticated."""

    url: str
    allow_remote: bool = False  # images may leave this machine only when this is true
    timeout_s: float = Field(30.0, gt=0, le=600)
    retries: int = Field(3, ge=0, le=20)  # extra attempts on 429, 5xx, timeouts, no connection
    backoff_s: float = Field(0.5, ge=0, le=60)  # first backoff; doubles per retry, jittered
    backoff_max_s: float = Field(30.0, ge=0, le=600)
    retry_after_max_s: float = Field(60.0, ge=0, le=3600)  # cap on a server's Retry-After
    rate_limit_per_s: float | None = Field(None, gt=0)  # requests per second, all threads
    concurrency: int = Field(1, ge=1, le=64)  # parallel requests (one shared client)
    headers: dict[str, str] = Field(default_factory=dict)  # extra, non-secret headers
    api_key_env: str | None = Field(None, pattern=_ENV_NAME)  # env var holding the key
    api_key_header: str = "Authorization"
    api_key_prefix: str = "Bearer "
    ca_bundle: Path | None = None  # a CA file for a server with a private certificate


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``capacity``;
    thread-safe, and waiting callers are served in arrival order."""

    def __init__(self, rate: float, capacity: float = 1.0) -> None:
        self.interval = 1.0 / rate
        self.burst = max(0.0, capacity - 1.0) * self.interval
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a token; return the seconds waited."""
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now - self.burst)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
        return max(0.0, wait)


def retry_after_s(value: str | None, cap: float) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds, capped; None if absent
    or unreadable."""
    if not value:
        return None
    try:
        s = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        s = when.timestamp() - time.time()
    if s != s:  # NaN
        return None
    return min(max(0.0, s), cap)


def backoff_s(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d], d = min(cap, base * 2**attempt)."""
    d = min(cap, base * 2.0 ** attempt)
    return random.uniform(d / 2, d)


@dataclass(frozen=True)
class Reply:
    """The outcome of one logical request: the last response, or why there is none."""

    status: int | None
    body: Any  # parsed JSON, or None when the body was not JSON
    error: str | None = None  # set when every attempt failed (transient)
    attempts: int = 1


class HttpTransport:
    """One shared ``httpx.Client`` (created on first use) with pacing and retries."""

    def __init__(self, p: TransportParams, secret: Secret | None) -> None:
        self.p = p
        self._secret = secret
        self._bucket = TokenBucket(p.rate_limit_per_s) if p.rate_limit_per_s else None
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The shared client: no proxies or netrc from the environment, no redirects."""
        with self._lock:
            if self._client is None:
                import httpx

                for name in ("httpx", "httpcore"):  # they would log URLs and headers
                    logging.getLogger(name).setLevel(logging.WARNING)
                headers = dict(self.p.headers)
                if self._secret is not None:
                    headers[self.p.api_key_header] = self.p.api_key_prefix + self._secret.value
                limits = httpx.Limits(max_connections=self.p.concurrency,
                                      max_keepalive_connections=self.p.concurrency)
                self._client = httpx.Client(
                    headers=headers, timeout=httpx.Timeout(self.p.timeout_s), limits=limits,
                    trust_env=False, follow_redirects=False,
                    verify=str(self.p.ca_bundle) if self.p.ca_bundle else True)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def post(self, **request: Any) -> Reply:
        """POST to the URL (``json=``/``files=``/``data=``), retrying 429, 5xx, timeouts
        and connection failures; 401/403 raise a MatcherError (the run cannot work)."""
        import httpx

        client, p = self.client(), self.p
        last = "no attempt"
        status: int | None = None
        for attempt in range(p.retries + 1):
            if self._bucket is not None:
                self._bucket.acquire()
            wait = None
            try:
                r = client.post(p.url, **request)
            except httpx.TimeoutException:
                last, status = f"timeout ({p.timeout_s:g} s)", None
            except httpx.HTTPError as exc:  # refused, reset, DNS, TLS, protocol errors
                last, status = (f"connection failed ({type(exc).__name__}: "
                                f"{scrub(str(exc), self._secret, 100)})"), None
            else:
                status = r.status_code
                if status in (401, 403):
                    raise MatcherError(
                        f"matcher.params.url: the server answered {status} "
                        f"({'unauthorized' if status == 401 else 'forbidden'}); check the "
                        f"API key ({self._key_source()}) and the server's access rules")
                if status != 429 and status < 500:
                    return Reply(status, _json(r), None, attempt + 1)
                last = f"http {status}"
                wait = retry_after_s(r.headers.get("Retry-After"), p.retry_after_max_s)
            if attempt < p.retries:
                time.sleep(wait if wait is not None else
                           backoff_s(attempt, p.backoff_s, p.backoff_max_s))
        tries = f"{p.retries} retr{'y' if p.retries == 1 else 'ies'}"
        return Reply(status, None, f"{last} after {tries}", p.retries + 1)

    def _key_source(self) -> str:
        if self.p.api_key_env is None:
            return "none sent: matcher.params.api_key_env is not set"
        return f"environment variable {self.p.api_key_env}, header {self.p.api_key_header}"

    def safe(self, text: str, limit: int = 160) -> str:
        """:func:`scrub` with this transport's key."""
        return scrub(text, self._secret, limit)

    def reason(self, body: Any, fields: Sequence[str]) -> str | None:
        """:func:`server_reason` with this transport's key."""
        return server_reason(body, fields, self._secret)


def _json(r: Any) -> Any:
    try:
        return json.loads(r.content) if r.content else None
    except (ValueError, UnicodeDecodeError):
        return None


MISSING = object()


def dig(body: Any, path: str) -> Any:
    """``body["a"]["b"][0]`` for ``path`` ``"a.b.0"``; :data:`MISSING` when absent."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def server_reason(body: Any, fields: Sequence[str], secret: Secret | None) -> str | None:
    """The first of ``fields`` that holds a string (or a list of them, as FastAPI's
    ``detail``), scrubbed; None when the server gives no reason."""
    for f in fields:
        v = dig(body, f)
        if isinstance(v, list):
            v = "; ".join(str(x.get("msg", x)) if isinstance(x, dict) else str(x) for x in v)
        if isinstance(v, str) and v.strip():
            return scrub(v, secret, 120)
    return None


def map_ordered(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]`` on up to ``workers`` threads, in input order; the first
    exception is raised after queued calls are cancelled (running ones finish)."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)),
                            thread_name_prefix="fairbench-http") as pool:
        futures = [pool.submit(fn, x) for x in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def rejected_request(body: Any) -> bool:
    """A 422 that says the *request* was malformed (FastAPI's validation errors: a list of
    ``{"loc": ..., "msg": ...}``), e.g. a wrong field name: not a missing face."""
    detail = body.get("detail") if isinstance(body, dict) else None
    return isinstance(detail, list) and any(isinstance(d, dict) and "loc" in d for d in detail)


def mime_of(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return "application/octet-stream"


def suffix_of(data: bytes) -> str:
    return {"image/jpeg": ".jpg", "image/png": ".png"}.get(mime_of(data), "")

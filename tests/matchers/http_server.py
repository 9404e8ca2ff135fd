"""A real face-recognition HTTP server for the ``http`` matcher's tests.

A standard-library ``ThreadingHTTPServer`` on 127.0.0.1 (an ephemeral port) in a thread. It
decodes the posted image (base64 JSON or multipart), embeds it with an ``embedder``
(fairbench's own ``onnx`` matcher, or a cheap deterministic fake) and answers the default
contract, or whatever a ``script`` says for a given call (429, 500, hang, ...). It records
every call: the image's sha256, start and end times, headers, form fields, and the most
requests it served at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

#: image bytes -> a template (a list of numbers), or None when there is no face
Embedder = Callable[[bytes], "list[float] | None"]
#: (call number from 0, the request) -> None (answer normally) or (status, body, headers);
#: body may be a dict (sent as JSON), bytes (sent as is) or the string "hang"
Script = Callable[[int, "Call"], "tuple[int, Any, dict[str, str]] | None"]


def fake_embedder(data: bytes) -> list[float] | None:
    """A deterministic 8-d template from the bytes' sha256 (no model: fast)."""
    seed = int(hashlib.sha256(data).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=8).tolist()


def onnx_embedder(matcher: Any) -> Embedder:
    """Embed with a fairbench matcher (one image at a time: YuNet is not thread-safe)."""
    lock = threading.Lock()

    def embed(data: bytes) -> list[float] | None:
        with lock:
            res = matcher.embed_bytes([data])[0]
        return None if res.embedding is None else [float(x) for x in res.embedding]

    return embed


@dataclass
class Call:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    fields: dict[str, Any]  # JSON body or multipart form fields (image fields as bytes)
    images: list[bytes]
    content_type: str
    t0: float = 0.0
    t1: float = 0.0
    status: int = 0

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.images[0]).hexdigest() if self.images else ""


@dataclass
class FaceServer:
    """``with FaceServer(embedder) as srv: ... srv.url ...``"""

    embedder: Embedder = fake_embedder
    image_fields: tuple[str, ...] = ("image",)
    compare_fields: tuple[str, str] = ("image_a", "image_b")
    embedding_path: str = "embedding"
    reason_field: str = "reason"
    script: Script | None = None
    require_key: str | None = None  # the expected Authorization header value
    delay_s: float = 0.0  # per request, outside any lock (to observe concurrency)
    calls: list[Call] = field(default_factory=list)
    max_active: int = 0
    _active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> FaceServer:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                srv._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release.set()  # let hanging handlers go
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1/embed"

    @property
    def compare_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1/compare"

    def counts(self) -> dict[str, int]:
        """Calls per image sha256."""
        out: dict[str, int] = {}
        for c in self.calls:
            out[c.sha] = out.get(c.sha, 0) + 1
        return out

    # --- handling -----------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        t0 = time.monotonic()
        call = self._parse(h)
        call.t0 = t0
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
            k = len(self.calls)
            self.calls.append(call)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            status, body, headers = self._answer(k, call)
            if body == "hang":
                self._release.wait(30)
                return
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            call.status = status
            h.send_response(status)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            call.t1 = time.monotonic()
            with self._lock:
                self._active -= 1

    def _parse(self, h: BaseHTTPRequestHandler) -> Call:
        raw = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        ctype = h.headers.get("Content-Type", "")
        names = self.compare_fields if h.path.endswith("/compare") else self.image_fields
        fields: dict[str, Any] = {}
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                fields[name] = payload if name in names else payload.decode()
                if name in names:
                    fields[f"{name}.content_type"] = part.get_content_type()
            images = [fields[n] for n in names if isinstance(fields.get(n), bytes)]
        else:
            try:
                fields = json.loads(raw)
                images = [base64.b64decode(fields[n]) for n in names if n in fields]
            except (ValueError, TypeError, KeyError):
                fields, images = {}, []
        return Call(h.path, dict(h.headers.items()), fields, images, ctype)

    def _answer(self, k: int, call: Call) -> tuple[int, Any, dict[str, str]]:
        if self.require_key is not None and call.headers.get("Authorization") != \
                self.require_key:
            return 401, {"detail": "not authenticated"}, {}
        if self.script is not None:
            scripted = self.script(k, call)
            if scripted is not None:
                return scripted
        if not call.images:
            return 400, {"detail": "no image"}, {}
        if call.path.endswith("/compare"):
            a, b = (self.embedder(x) for x in call.images[:2])
            if a is None or b is None:
                return 200, {"score": None, self.reason_field: "no face in one image"}, {}
            va, vb = np.asarray(a), np.asarray(b)
            score = float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))
            return 200, {"score": score}, {}
        emb = self.embedder(call.images[0])
        if emb is None:
            return 422, {self.reason_field: "no face detected"}, {}
        body: dict[str, Any] = {}
        node = body
        *outer, last = self.embedding_path.split(".")
        for part in outer:
            node = node.setdefault(part, {})
        node[last] = emb
        return 200, body, {}

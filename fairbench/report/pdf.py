"""``fairbench report --pdf``: report.pdf printed from report.html by headless Chromium.

The browser runs with a throw-away profile and its background services off (no sync,
updates, extensions or default-browser checks), reads only the local file, and prints
with the page's print stylesheet (every operating point and detail shown). The PDF is
written by the project's atomic writer (a temporary file renamed into place), so a failed
print leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from fairbench.errors import FairbenchError
from fairbench.results.folder import atomic_write

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str:
    """``$FAIRBENCH_CHROMIUM``, else the first Chromium-family browser on PATH."""
    given = os.environ.get("FAIRBENCH_CHROMIUM")
    if given:
        if not (Path(given).is_file() and os.access(given, os.X_OK)):
            raise FairbenchError(f"FAIRBENCH_CHROMIUM={given}: not an executable file")
        return given
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise FairbenchError("report --pdf prints with headless Chromium, and none was found "
                         f"(looked for {', '.join(BROWSERS)} on PATH); install it (Debian: "
                         "apt-get install chromium) or set FAIRBENCH_CHROMIUM to its path")


def print_pdf(page: Path, out: Path | None = None, timeout_s: float = 180) -> Path:
    """Print ``page`` (an HTML file) to ``out`` (default: beside it, .pdf)."""
    page = page.resolve()
    out = (out or page.with_suffix(".pdf")).resolve()
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="fairbench-chromium-") as work:
        printed = Path(work) / "report.pdf"
        cmd = [browser, "--headless", "--disable-gpu", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions", "--disable-sync",
               "--disable-background-networking", "--disable-component-update",
               "--disable-default-apps", "--metrics-recording-only",
               f"--user-data-dir={Path(work) / 'profile'}", "--no-pdf-header-footer",
               f"--print-to-pdf={printed}", page.as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise FairbenchError(f"{browser}: printing {page} took over {timeout_s:.0f} s"
                                 ) from None
        data = printed.read_bytes() if printed.is_file() else b""
    if done.returncode != 0 or not data.startswith(b"%PDF-"):
        tail = (done.stderr or "").strip().splitlines()[-3:]
        raise FairbenchError(f"{browser} could not print {page} (exit {done.returncode})"
                             + (": " + " | ".join(tail) if tail else ""))
    atomic_write(out, lambda f: f.write(data))
    return out

"""``fairbench report --pdf``: report.pdf printed from report.html by headless Chromium.

The browser runs with a throw-away profile and its background services off (no sync,
updates, extensions or default-browser checks), reads only the local file, and prints
with the page's print stylesheet (every operating point and detail shown). The PDF is
written under a temporary name and renamed, so a failed print leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from fairbench.errors import FairbenchError

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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tempfile.TemporaryDirectory(prefix="fairbench-chromium-") as profile:
            cmd = [browser, "--headless", "--disable-gpu", "--no-first-run",
                   "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-default-apps", "--metrics-recording-only",
                   f"--user-data-dir={profile}", "--no-pdf-header-footer",
                   f"--print-to-pdf={tmp}", page.as_uri()]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                      check=False)
            except subprocess.TimeoutExpired:
                raise FairbenchError(f"{browser}: printing {page} took over {timeout_s:.0f} s"
                                     ) from None
        with open(tmp, "rb") as fh:
            ok = fh.read(5) == b"%PDF-"
        if done.returncode != 0 or not ok:
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise FairbenchError(f"{browser} could not print {page} (exit {done.returncode})"
                                 + (": " + " | ".join(tail) if tail else ""))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it private; a report is not
        os.replace(tmp, out)
        return out
    finally:
        tmp.unlink(missing_ok=True)

"""The Markdown tables render as tables; the LaTeX compiles (pdflatex) and is well formed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from markdown_it import MarkdownIt

from tests.report.conftest import need_program

TEX_HINT = "install it with `apt-get install texlive-latex-base` (.ci/run does)"


def test_markdown_tables_render(built_report: Path):
    md = MarkdownIt("commonmark").enable("table")
    for p in sorted((built_report / "tables").glob("*.md")):
        text = p.read_text()
        tables = [ln for ln in text.splitlines() if ln.startswith("|---")]
        html = md.render(text)
        assert html.count("<table>") == len(tables) > 0, p.name
        # every body row has as many cells as the header: nothing spilled out of a column
        for block in re.findall(r"<table>(.*?)</table>", html, re.S):
            head = len(re.findall(r"<th[\s>]", block.split("</thead>")[0]))
            for row in re.findall(r"<tr>(.*?)</tr>", block.split("</thead>")[1], re.S):
                assert len(re.findall(r"<td[\s>]", row)) == head, (p.name, row[:200])
    by = md.render((built_report / "tables" / "verification_by_group.md").read_text())
    assert "<td>33.3% [15%, 59%] (104/312)</td>" in by


def _check_tex_structure(text: str) -> None:
    """Environments balanced, braces balanced, every row has the column count."""
    assert text.count(r"\begin{longtable}") == text.count(r"\end{longtable}") > 0
    unescaped = re.sub(r"\\[{}]", "", text)
    assert unescaped.count("{") == unescaped.count("}")
    for block in re.findall(r"\\begin\{longtable\}\{(l+)\}(.*?)\\end\{longtable\}", text, re.S):
        ncols = len(block[0])
        for row in block[1].splitlines():
            if row.endswith(r"\\") and not row.startswith(r"\caption"):
                assert len(re.findall(r"(?<!\\)&", row)) == ncols - 1, row[:200]


def test_latex_is_well_formed(built_report: Path):
    for p in sorted((built_report / "tables").glob("*.tex")):
        if p.name != "tables.tex":
            _check_tex_structure(p.read_text())


def test_latex_compiles(built_report: Path, tmp_path: Path):
    pdflatex = need_program("/usr/bin/pdflatex", "pdflatex", TEX_HINT)
    work = tmp_path / "tex"
    shutil.copytree(built_report / "tables", work)
    r = subprocess.run([str(pdflatex), "-interaction=nonstopmode", "-halt-on-error",
                        "tables.tex"], cwd=work, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:]
    assert (work / "tables.pdf").stat().st_size > 10_000
    assert "Undefined control sequence" not in r.stdout

"""Lay out :class:`~fairbench.report.views.Section` tables as Markdown, LaTeX or HTML.

Markdown is GitHub-style pipe tables; LaTeX uses ``longtable`` (in every TeX
distribution's base set) and escapes every special character; HTML escapes every cell.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from fairbench.report.views import Section


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-style pipe table, one line per row (cells escaped)."""
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(_md_cell(str(c)) for c in row) + " |" for row in rows]


def markdown(sections: Sequence[Section], header: str = "") -> str:
    """Sections as Markdown: a heading, a pipe table and its notes each."""
    parts = [header] if header else []
    for s in sections:
        lines = [f"## {s.title}", "", *markdown_table(s.columns, s.rows)]
        if s.notes:
            lines += [""] + s.notes
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


_TEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "\u2020": r"\dag{}", "<": r"\textless{}", ">": r"\textgreater{}",
}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def tex_escape(s: str) -> str:
    """Escape LaTeX specials; other non-ASCII characters become '?' (base LaTeX is 8-bit)."""
    out = _TEX_RE.sub(lambda m: _TEX[m.group(0)], s)
    return out.encode("ascii", "replace").decode("ascii")


def latex(sections: Sequence[Section], header: str = "") -> str:
    """Sections as LaTeX ``longtable`` environments (needs ``\\usepackage{longtable}``).

    The output is a fragment to ``\\input`` into a document; see :func:`latex_document`.
    """
    parts = [f"% {tex_escape(header)}"] if header else []
    for s in sections:
        n = len(s.columns)
        spec = "l" * n
        head = " & ".join(r"\textbf{" + tex_escape(c) + "}" for c in s.columns) + r" \\"
        body = [" & ".join(tex_escape(c) for c in row) + r" \\" for row in s.rows]
        lines = [
            r"\begin{longtable}{" + spec + "}",
            r"\caption{" + tex_escape(s.title) + r"}\\",
            r"\hline", head, r"\hline", r"\endhead",
            *body,
            r"\hline",
            r"\end{longtable}",
        ]
        lines += [r"\noindent{\footnotesize " + tex_escape(note) + r"}\par" for note in s.notes]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def latex_document(inputs: Sequence[str], title: str) -> str:
    """A minimal landscape document that ``\\input``s table fragments (compiles with
    pdflatex from a base TeX installation)."""
    body = "\n".join(r"\input{" + i + "}" for i in inputs)
    return (
        "\\documentclass{article}\n"
        "\\usepackage[T1]{fontenc}\n"
        "\\usepackage{longtable}\n"
        "\\setlength{\\textwidth}{9.6in}\\setlength{\\oddsidemargin}{-0.6in}\n"
        "\\setlength{\\textheight}{7in}\\setlength{\\topmargin}{-0.5in}\n"
        "\\pdfpagewidth=11in \\pdfpageheight=8.5in\n"
        "\\begin{document}\n\\tiny\n"
        f"\\section*{{{tex_escape(title)}}}\n{body}\n\\end{{document}}\n"
    )


def anchor(text: str) -> str:
    """An HTML id from a key or title: runs of other characters become one '-'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def html_tables(sections: Sequence[Section]) -> str:
    """Sections as HTML ``<table>`` elements with captions and notes (a fragment)."""
    out = []
    for s in sections:
        key = anchor(s.key or s.title)
        head = "".join(f"<th scope=\"col\">{html.escape(c)}</th>" for c in s.columns)
        rows = "\n".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in s.rows)
        notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in s.notes)
        out.append(
            f"<table id=\"{key}\" class=\"data\"><caption>{html.escape(s.title)}</caption>\n"
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody></table>\n{notes}")
    return "\n".join(out) + "\n"

#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb without Quarto.

`nbdev-readme` needs Quarto. This does the same job with nbconvert's Markdown exporter:
it drops `#| hide` cells and nbdev directives, then exports the notebook (no outputs) to Markdown.
Usage: python scripts/make_readme.py [--check]   (--check exits 1 if README.md is out of date)
"""
import sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]


def readme_text():
    nb = nbformat.read(ROOT / "nbs" / "index.ipynb", as_version=4)
    cells = []
    for c in nb.cells:
        lines = c.source.splitlines()
        directives = [l for l in lines if l.startswith("#|")]
        if c.cell_type == "code" and any(l.replace(" ", "") in ("#|hide", "#|hide:true") for l in directives): continue
        c.source = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if c.cell_type == "code": c.outputs, c.execution_count = [], None
        cells.append(c)
    nb.cells = cells
    nb.metadata["language_info"] = {"name": "python"}
    body, _ = MarkdownExporter().from_notebook_node(nb)
    note = "<!-- Generated from nbs/index.ipynb by scripts/make_readme.py (or nbdev-readme); edit the notebook, not this file. -->\n\n"
    return note + body.strip() + "\n"


if __name__ == "__main__":
    txt, out = readme_text(), ROOT / "README.md"
    if "--check" in sys.argv:
        ok = out.exists() and out.read_text() == txt
        print("README.md is up to date" if ok else "README.md is out of date: run python scripts/make_readme.py")
        sys.exit(0 if ok else 1)
    out.write_text(txt)
    print(f"wrote {out}")

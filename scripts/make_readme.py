#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb, with its saved outputs, without Quarto.

`nbdev-readme` needs Quarto. This does the same job with nbconvert's Markdown exporter: it drops `#| hide` cells
and nbdev directives, keeps the saved outputs (text, Markdown and HTML tables; figures go to `index_files/`, as
`nbdev-readme` puts them), leaves out stderr, and exports the notebook to Markdown.
Usage: python scripts/make_readme.py [--check]   (--check exits 1 if README.md or its figures are out of date)
"""
import sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
FILES = "index_files"  # figures of the README, next to it


def _directives(lines):
    return {l[2:].split(":")[0].strip(): l.split(":", 1)[1].strip() if ":" in l else "" for l in lines
            if l.startswith("#|")}


def readme():
    "The README's text, and its figures as {relative path: bytes}"
    nb = nbformat.read(ROOT / "nbs" / "index.ipynb", as_version=4)
    cells = []
    for c in nb.cells:
        lines = c.source.splitlines()
        d = _directives(lines)
        if c.cell_type == "code" and ("hide" in d and d["hide"] in ("", "true")): continue
        c.source = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if c.cell_type == "code":
            c.execution_count = None
            c.outputs = [] if d.get("output") == "false" else [o for o in c.outputs if o.get("name") != "stderr"]
            if d.get("echo") == "false": c.source = ""
        cells.append(c)
    nb.cells = cells
    nb.metadata["language_info"] = {"name": "python"}
    body, res = MarkdownExporter().from_notebook_node(nb, resources={"output_files_dir": FILES})
    note = ("<!-- Generated from nbs/index.ipynb by scripts/make_readme.py (or nbdev-readme); "
            "edit the notebook, not this file. -->\n\n")
    return note + body.strip() + "\n", dict(res.get("outputs", {}))


if __name__ == "__main__":
    txt, figs = readme()
    out = ROOT / "README.md"
    if "--check" in sys.argv:
        ok = out.exists() and out.read_text() == txt and all((ROOT / k).exists() and (ROOT / k).read_bytes() == v
                                                               for k, v in figs.items())
        print("README.md is up to date" if ok else "README.md is out of date: run python scripts/make_readme.py")
        sys.exit(0 if ok else 1)
    out.write_text(txt)
    for k, v in figs.items():
        (ROOT / k).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / k).write_bytes(v)
    print(f"wrote {out}" + (f" and {len(figs)} figure(s) in {FILES}/" if figs else ""))

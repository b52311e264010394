#!/usr/bin/env python
"""Give every notebook the Colab install cell from `fsdl_dev.colab.install_cell` (and an Open-in-Colab badge).

The hidden install cell is the first code cell that mentions `google.colab`; its source is replaced and its id kept.
A notebook without one gets it after its `#| default_exp` cell (or as its first code cell), and a notebook without a
badge gets one after its title. Running it twice changes nothing.

Usage: python scripts/colab_cell.py [--check] [NOTEBOOK ...]   (default: every notebook in nbs/;
       --check changes nothing and exits 1 when a notebook would change)
"""
import json, sys, uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's fsdl_dev, whatever is installed
from fsdl_dev.colab import install_cell
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/fsdl-dev/fsdl-dev/blob/main/nbs/{name})")


def _src(c): return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
def _lines(s): return s.splitlines(True)


def _cell(kind, src):
    c = {"cell_type": kind, "id": uuid.uuid4().hex[:8], "metadata": {}, "source": _lines(src)}
    return {**c, "execution_count": None, "outputs": []} if kind == "code" else c


def fix(nb, name):
    "Notebook dict `nb` (file `name`) with the current install cell and a badge; changed in place, and returned"
    cells, want = nb["cells"], install_cell()
    inst = next((c for c in cells if c["cell_type"] == "code" and "google.colab" in _src(c)), None)
    if inst is None:
        at = next((i + 1 for i, c in enumerate(cells) if c["cell_type"] == "code" and "#| default_exp" in _src(c)),
                  next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells)))
        cells.insert(at, _cell("code", want))
    elif _src(inst) != want: inst["source"] = _lines(want)
    if not any(c["cell_type"] == "markdown" and "colab.research.google.com" in _src(c) for c in cells):
        at = 1 if cells and cells[0]["cell_type"] == "markdown" and _src(cells[0]).startswith("# ") else 0
        cells.insert(at, _cell("markdown", BADGE.format(name=name)))
    return nb


def main(argv):
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"] or sorted(
        p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
    changed = []
    for p in paths:
        before = json.loads(p.read_text())
        after = fix(json.loads(p.read_text()), p.name)
        if after == before: continue
        changed.append(p.name)
        if not check: p.write_text(json.dumps(after, indent=1, ensure_ascii=False) + "\n")
    verb = "would change" if check else "changed"
    print(f"{verb}: {' '.join(changed)}" if changed else "every notebook has the current Colab cell")
    return 1 if check and changed else 0


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))

"""Colab: every notebook starts with the current install cell, and every `#| cuda`/`#| slurm` cell has a one-line
stand-in for a runtime without the hardware. The notebooks themselves run in tests/test_notebooks.py (one pass, in a
real kernel, which also checks the Open-in-Colab link); `fsdl_dev.colab` is tested in nbs/00a_colab.ipynb."""
import json, subprocess, sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from fsdl_dev.colab import NEEDS, cell_flags, install_cell, skip_missing

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
SCRIPT = ROOT / "scripts" / "colab_cell.py"


def test_install_cells_are_current():
    "Every notebook has `install_cell()` (run `python scripts/colab_cell.py`, then `nbdev-clean`, after changing it)"
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("nb_path", NBS, ids=[p.stem for p in NBS])
def test_flagged_cells_have_a_colab_line(nb_path):
    "On a runtime with neither GPU nor SLURM, each flagged cell becomes one `print` that runs, and says something"
    none = {flag: (lambda: "not here") for flag in NEEDS}
    for c in nbformat.read(nb_path, as_version=4).cells:
        if c.cell_type != "code" or not cell_flags(c.source): continue
        out = skip_missing(c.source.splitlines(True), checks=none)
        assert len(out) == 1 and out[0].startswith("print("), c.source[:200]
        compile(TransformerManager().transform_cell("".join(out)), nb_path.name, "exec")  # raises SyntaxError if it is not Python
        assert "shows: " in out[0] and not out[0].rstrip().endswith("shows: ')"), out[0]


def _write(p, cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    p.write_text(json.dumps(json.loads(nbformat.writes(nb)), indent=1, ensure_ascii=False) + "\n")


def test_colab_cell_script_rewrites_once(tmp_path):
    "Old install cells are replaced (ids kept), missing ones and missing badges added, and a second run changes nothing"
    old = nbformat.v4.new_code_cell("#| hide\nif 'google.colab' in str(get_ipython()):\n    %pip install -q fsdl-dev")
    _write(tmp_path / "a.ipynb", [nbformat.v4.new_markdown_cell("# A"), nbformat.v4.new_code_cell("#| default_exp a"),
                                  old, nbformat.v4.new_code_cell("x = 1")])
    _write(tmp_path / "b.ipynb", [nbformat.v4.new_markdown_cell("# B"), nbformat.v4.new_code_cell("#| default_exp b"),
                                  nbformat.v4.new_code_cell("y = 2")])
    nbs = [str(tmp_path / "a.ipynb"), str(tmp_path / "b.ipynb")]
    run = lambda *a: subprocess.run([sys.executable, str(SCRIPT), *a, *nbs], capture_output=True, text=True)
    assert run("--check").returncode == 1
    assert run().returncode == 0
    assert run("--check").returncode == 0 and "every notebook" in run().stdout
    a, b = (nbformat.read(p, as_version=4) for p in nbs)
    assert a.cells[3].source == install_cell() and a.cells[3].id == old.id and len(a.cells) == 5
    assert "colab.research.google.com" in a.cells[1].source and "nbs/a.ipynb" in a.cells[1].source
    assert [c.source for c in b.cells[2:5]] == ["#| default_exp b", install_cell(), "y = 2"]

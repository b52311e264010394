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


# Colab's "Run all", for real: every notebook, every cell, in an environment with fsdl-dev installed as the install
# cell installs it (no `[dev]`), outside this checkout. About 30 minutes of CPU for all notebooks, so it runs when asked:
# `python -m pytest tests/test_colab.py --flags colab` (scripts/colab_run.py does the work and can run by hand).
LIMIT = 600  # seconds one notebook may take, as Colab's free CPU runtime would run it


@pytest.fixture(scope="module")
def colab_python(request, tmp_path_factory):
    "The interpreter of a fresh environment made by `scripts/colab_run.py --make-env` (once per test run)"
    import fcntl
    from conftest import forced_flags
    if "colab" not in forced_flags(request.config): pytest.skip("Colab's Run all runs with --flags colab")
    base = tmp_path_factory.getbasetemp().parent  # shared by pytest-xdist workers
    with open(base / "colab-env.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        py = base / "colab-env" / "bin" / "python"
        if not py.exists():
            subprocess.run([sys.executable, str(ROOT / "scripts" / "colab_run.py"), "--make-env", str(py.parents[1])],
                           check=True)
    return py


@pytest.mark.parametrize("nb_path", NBS, ids=[p.stem for p in NBS])
def test_run_all_as_colab(nb_path, colab_python, tmp_path):
    "The notebook runs top to bottom as Colab runs it, in under `LIMIT` seconds"
    out = tmp_path / "result.json"
    r = subprocess.run([str(colab_python), str(ROOT / "scripts" / "colab_run.py"), str(nb_path), "--limit", str(LIMIT),
                        "--json", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=LIMIT + 300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    [res] = json.loads(out.read_text())
    assert res["error"] is None and res["seconds"] < LIMIT, res

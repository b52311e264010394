"""The Colab check: every notebook runs top to bottom in a real Jupyter kernel (nbclient + ipykernel), as in Colab.

It skips only cells that cannot run on a plain CPU runtime: `#| eval: false`, and the test flags
(`slow`, `cuda`, `slurm`, `notest`). It repeats the notebooks' work in fresh kernels, so it runs with
`--flags slow` (as `.ci/run` does)."""
import os, re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbdev.config import get_config

from conftest import forced_flags

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
_DIRECTIVE = re.compile(r"^#\|\s*([\w-]+)\s*(?::\s*(.*))?$")


def _directives(src):
    out = {}
    for line in src.splitlines():
        m = _DIRECTIVE.match(line.strip())
        if m: out[m.group(1)] = (m.group(2) or "").strip()
        elif line.strip(): break
    return out


def colab_cells(nb, skip_flags):
    "The code cells a Colab run executes: all but `eval: false` and flagged cells"
    keep = []
    for c in nb.cells:
        if c.cell_type != "code": keep.append(c); continue
        d = _directives(c.source)
        if d.get("eval", "").lower() == "false" or set(d) & set(skip_flags): continue
        keep.append(c)
    return keep


@pytest.mark.parametrize("nb_path", NBS, ids=[p.stem for p in NBS])
def test_notebook_runs_in_a_kernel(nb_path, request):
    if "slow" not in forced_flags(request.config):
        pytest.skip("the Colab check re-runs every notebook in a fresh kernel: run it with --flags slow")
    nb = nbformat.read(nb_path, as_version=4)
    assert any("colab.research.google.com" in c.source for c in nb.cells if c.cell_type == "markdown"), "no Open-in-Colab link"
    assert any("google.colab" in c.source and "pip install" in c.source for c in nb.cells if c.cell_type == "code"), "no Colab install cell"
    nb.cells = colab_cells(nb, get_config(ROOT).tst_flags.split())
    os.environ.setdefault("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}}).execute()


def test_colab_cells_skips_only_flagged():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in
        ["x = 1", "#| slow\nx = 2", "#| eval: false\nx = 3", "#| cuda\nx = 4", "#| hide\nx = 5", "# a comment\n#| slow\nx = 6"]])
    assert [c.source for c in colab_cells(nb, ["slow", "cuda"])] == ["x = 1", "#| hide\nx = 5", "# a comment\n#| slow\nx = 6"]

"""Run every notebook in `nbs/` through nbdev's own test runner, one pytest case per notebook.

Cells marked with a flag from `tst_flags` in pyproject.toml (`slow`, `cuda`, `slurm`, `notest`)
are skipped unless the flag is forced: `python -m pytest --flags "slow"`.
"""
import os
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb

from conftest import forced_flags

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb")
             if not any(part.startswith((".", "_")) for part in p.relative_to(ROOT / "nbs").parts))


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, request):
    cfg = get_config(ROOT)
    skip = cfg.tst_flags.split()
    force = forced_flags(request.config)
    os.environ.setdefault("MPLBACKEND", "Agg")
    ok, secs = run_nb(nb, skip_flags=skip, force_flags=force, basepath=ROOT, cell_timeout=int(cfg.cell_timeout))
    assert ok, f"{nb.name} failed after {secs:.1f}s (the cell's traceback is printed above)"

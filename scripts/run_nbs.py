#!/usr/bin/env python
"""Re-execute notebooks top to bottom on the CPU, in a real Jupyter kernel, and save them with their outputs.

Cells are chosen as nbdev's test runner chooses them, with `slow` forced by default: `#| cuda`, `#| slurm`,
`#| notest` and `#| eval: false` cells are skipped and saved without outputs. The kernel runs with settings that
keep outputs small and the same from run to run: seeded `random`/`numpy`/`torch`, figures saved as PNG by the
inline backend (`Agg` would save none), no tqdm or Hugging Face progress bars, transformers' logging at `error`,
warnings off, and no GPU. Each notebook is saved only if every cell ran; then `nbdev-clean --fname` strips execution counts and metadata (it keeps outputs: `clear_all = false`).
The saved outputs are then checked as tests/test_outputs.py checks them, and README.md is regenerated when
`index.ipynb` was run.

Usage: python scripts/run_nbs.py [NOTEBOOK ...] [--flags "slow"] [--timeout 900] [-j 2]
       (default: every notebook in nbs/, one at a time)
"""
import argparse, os, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbdev.config import get_config
from nbdev.test import nb_test_cells

ROOT = Path(__file__).resolve().parents[1]
ENV = {  # the kernel's environment: small, repeatable outputs
    "MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYTHONHASHSEED": "0", "TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore",
    "TOKENIZERS_PARALLELISM": "false", "WANDB_SILENT": "true",
    "WANDB_MODE": "offline", "CUDA_VISIBLE_DEVICES": "",
}
PREAMBLE = """\
import random, warnings
warnings.filterwarnings('ignore')
random.seed(0)
try:
    import numpy
    numpy.random.seed(0)
except ImportError: pass
try:
    import torch
    torch.manual_seed(0)
except ImportError: pass
"""  # run first, in the same kernel, and not saved


def notebooks(args):
    if args: return [Path(a).resolve() for a in args]
    return sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))


def run(path, force_flags, timeout):
    "Execute the notebook at `path` and return it with outputs (skipped cells without), or raise on a failing cell"
    cfg = get_config(ROOT)
    nb = nbformat.read(path, as_version=4)
    meta = dict(nb.metadata)
    keep = {c.idx_ for c in nb_test_cells(path, cfg.tst_flags.split(), force_flags)}
    for c in nb.cells:
        if c.cell_type == "code": c.outputs, c.execution_count = [], None
    todo = nbformat.v4.new_notebook(metadata=nb.metadata)
    todo.cells = [nbformat.v4.new_code_cell(PREAMBLE)] + [c for i, c in enumerate(nb.cells)
                                                          if c.cell_type == "code" and i in keep]
    NotebookClient(todo, timeout=timeout, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata = nbformat.from_dict(meta)  # no kernelspec or language_info added by the run
    return nb


def run_and_save(p, flags, timeout):
    "Run and save the notebook at `p`: (error or None, seconds, output problems)"
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_outputs import output_problems
    t = time.time()
    try: nb = run(p, flags, timeout)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e: return str(e), time.time() - t, []
    nbformat.write(nb, p)
    subprocess.run(["nbdev-clean", "--fname", str(p)], check=True, cwd=ROOT)
    return None, time.time() - t, output_problems(nbformat.read(p, as_version=4))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebook in nbs/)")
    ap.add_argument("--flags", default="slow", help="test flags to force, as with nbdev-test (default: slow)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    ap.add_argument("--jobs", "-j", type=int, default=1, help="notebooks run at once, each in its own kernel")
    a = ap.parse_args(argv)
    paths, failed, noisy = notebooks(a.notebooks), [], []
    with ProcessPoolExecutor(a.jobs) as ex:
        futs = {ex.submit(run_and_save, p, a.flags.split(), a.timeout): p for p in paths}
        for f in as_completed(futs):
            p = futs[f]
            err, secs, probs = f.result()
            if err:
                failed.append(p.name)
                print(f"FAILED {p.name} (not saved):\n{err[-3000:]}", file=sys.stderr, flush=True)
                continue
            if probs: noisy.append(p.name)
            print(f"saved {p.name} in {secs:.0f}s" + "".join(f"\n  {x}" for x in probs), flush=True)
    if any(p.name == "index.ipynb" for p in paths) and "index.ipynb" not in failed:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_readme.py")], check=True)
    if noisy: print(f"outputs to clean up (see tests/test_outputs.py): {' '.join(noisy)}")
    if failed: print(f"failed, not saved: {' '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__": sys.exit(main())

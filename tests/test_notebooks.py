"""Run every notebook in `nbs/` once, in a real Jupyter kernel (nbclient + ipykernel), as Jupyter and Colab run it.
The kernel is forked from a process that imported torch, timm and ONNX Runtime once (`kernel_zygote.py`);
FSDL_DEV_FRESH_KERNELS=1 starts each one from scratch, as `scripts/run_nbs.py` does when it saves the outputs.

Cells are chosen exactly as nbdev's own runner (`nbdev-test`) chooses them, with `nbdev.test.nb_test_cells`:
cells with a flag from `tst_flags` in pyproject.toml (`slow`, `cuda`, `slurm`, `notest`) are skipped unless the
flag is forced (`python -m pytest --flags "slow slurm"`), and `#| eval: false` cells never run. The kernel gets
`IN_TEST=1`, as under `nbdev-test`. The same pass checks what Colab needs (an Open-in-Colab link and the hidden
install cell) and that the saved outputs are not stale.
"""
import os, re, shutil, tempfile, contextlib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbdev.config import get_config
from nbdev.test import nb_test_cells

from conftest import forced_flags
from test_outputs import stale_cells
from kernel_zygote import kernel_manager_class

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb")
             if not any(part.startswith((".", "_")) for part in p.relative_to(ROOT / "nbs").parts))
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
INLINE = "module://matplotlib_inline.backend_inline"


def runnable(nb_path, skip_flags, force_flags):
    "The notebook at `nb_path` with only the cells nbdev's runner would execute (markdown cells kept)"
    nb = nbformat.read(nb_path, as_version=4)
    keep = {c.idx_ for c in nb_test_cells(nb_path, skip_flags, force_flags)}
    nb.cells = [c for i, c in enumerate(nb.cells) if c.cell_type != "code" or i in keep]
    return nb, sorted(keep)


def colab_problems(nb):
    "What `nb` lacks for Colab: the Open-in-Colab link and the hidden install cell"
    out = []
    if not any("colab.research.google.com" in c.source for c in nb.cells if c.cell_type == "markdown"):
        out.append("no Open-in-Colab link")
    if not any("google.colab" in c.source and "pip install" in c.source for c in nb.cells if c.cell_type == "code"):
        out.append("no Colab install cell")
    return out


def execute(nb, nb_path, timeout):
    """Run `nb` top to bottom in a new python3 kernel started in the notebook's folder; fail with the cell's traceback.
    The kernel is forked from a process that imported torch, timm and ONNX Runtime once (`kernel_zygote`), or
    started from scratch under FSDL_DEV_FRESH_KERNELS=1."""
    kmc = kernel_manager_class()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(nb_path.parent)}},
                            **({"kernel_manager_class": kmc} if kmc else {}))
    err = None
    try: client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e: err = _ANSI.sub("", str(e))
    if err: pytest.fail(f"{nb_path.name} failed:\n{err}", pytrace=False)  # outside `except`: the traceback shows once
    return nb


@contextlib.contextmanager
def kernel_tmpdir(name):
    """A TMPDIR for one notebook's kernel and every process it starts, removed afterwards. Without it, the folders the
    cells make with `tempfile.mkdtemp()` (trained models, exports, a fake hub cache: 0.5 GB for 04a_train) stayed in
    /tmp after every run."""
    d = tempfile.mkdtemp(prefix=f"fsdl-nb-{name}-")
    try: yield d
    finally: shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("nb_path", NBS, ids=[p.stem for p in NBS])
def test_notebook(nb_path, request, monkeypatch):
    cfg = get_config(ROOT)
    saved = nbformat.read(nb_path, as_version=4)
    problems = colab_problems(saved)
    assert not problems, f"{nb_path.name}: {', '.join(problems)} (see scripts/colab_cell.py)"
    nb, idx = runnable(nb_path, cfg.tst_flags.split(), forced_flags(request.config))
    with kernel_tmpdir(nb_path.stem) as tmp:
        # the inline backend, as in Jupyter: figures become outputs, as scripts/run_nbs.py saves them
        for k, v in {"IN_TEST": "1", "TMPDIR": tmp, "MPLBACKEND": INLINE, "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}.items():
            monkeypatch.setenv(k, v)
        execute(nb, nb_path, int(cfg.cell_timeout))
    fresh = {i: c for i, c in zip(idx, (c for c in nb.cells if c.cell_type == "code"))}
    stale = stale_cells(saved, fresh)
    assert not stale, f"{nb_path.name}: saved outputs are stale (run scripts/run_nbs.py):\n" + "\n".join(stale)


def test_runnable_skips_like_nbdev(tmp_path):
    "Flagged cells are dropped unless forced, `eval: false` always, and only directives at the top of a cell count"
    srcs = ["x = 1", "#| slow\nx = 2", "#| eval: false\nx = 3", "#| cuda\nx = 4", "#| hide\nx = 5", "y = 6\n#| slow"]
    p = tmp_path / "t.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T")] +
                                            [nbformat.v4.new_code_cell(s) for s in srcs]), p)
    nb, idx = runnable(p, ["slow", "cuda"], [])
    assert [c.source for c in nb.cells] == ["# T", "x = 1", "#| hide\nx = 5", "y = 6\n#| slow"]
    nb, idx = runnable(p, ["slow", "cuda"], ["slow"])
    assert [c.source for c in nb.cells][1:] == ["x = 1", "#| slow\nx = 2", "#| hide\nx = 5", "y = 6\n#| slow"]
    assert idx == [1, 2, 5, 6]


def test_failing_cell_shows_its_traceback(tmp_path, monkeypatch):
    "A failing cell fails the test with the notebook name, the cell's source and the exception"
    p = tmp_path / "bad.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("def f(): raise ValueError('boom 42')\nf()")])
    nbformat.write(nb, p)
    with pytest.raises(pytest.fail.Exception) as e: execute(nbformat.read(p, as_version=4), p, 60)
    msg = str(e.value)
    assert "bad.ipynb failed" in msg and "ValueError: boom 42" in msg and "raise ValueError" in msg
    assert "\x1b[" not in msg and msg.count("ValueError: boom 42") == 1


def test_kernel_tmpdir_holds_what_cells_make_then_goes(tmp_path, monkeypatch):
    "A cell's temp folders, and those of a process it starts, land in the notebook's TMPDIR, which is gone afterwards"
    p = tmp_path / "t.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, tempfile, subprocess\n"
        "print(tempfile.mkdtemp())\n"
        "print(subprocess.run([sys.executable, '-c', 'import tempfile; print(tempfile.mkdtemp())'], capture_output=True, text=True).stdout)")]), p)
    with kernel_tmpdir("t") as tmp:
        monkeypatch.setenv("TMPDIR", tmp)
        outs = execute(nbformat.read(p, as_version=4), p, 60).cells[0].outputs
        made = [Path(l) for o in outs if o.get("name") == "stdout" for l in o["text"].split()]  # however many messages
        assert len(made) == 2 and all(m.parent == Path(tmp) and m.is_dir() for m in made), (made, tmp)
    assert not Path(tmp).exists() and not any(m.exists() for m in made)


def test_colab_problems():
    good = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("[![Open In Colab](https://colab.research.google.com/x.svg)](...)"),
        nbformat.v4.new_code_cell("#| hide\nif 'google.colab' in sys.modules:\n    %pip install -q x")])
    assert colab_problems(good) == []
    assert colab_problems(nbformat.v4.new_notebook()) == ["no Open-in-Colab link", "no Colab install cell"]

#!/usr/bin/env python
"""Run notebooks the way Colab's "Run all" runs them on a free CPU runtime, and time each one.

What Colab does, and this does too:
- `google.colab` is imported before the first cell, so the hidden install cell takes its Colab branch (it finds
  fsdl-dev already installed, as after its own `%pip install`, and calls `setup_colab`);
- `IN_TEST` is not set, and nbdev's flags mean nothing: every code cell runs, `#| slow` ones included, and `#| cuda` /
  `#| slurm` cells become the one-line `print` that `setup_colab` makes of them when the hardware is missing;
- the notebook sits alone in a fresh folder outside any git checkout (Colab's `/content`), with no GPU;
- the package comes from the environment this script runs in, which should hold fsdl-dev installed as the install
  cell installs it (`[all,examples]`, no `[dev]`) and what Colab has preinstalled (ipykernel, nbclient, pandas):
  `python scripts/colab_run.py --make-env DIR` makes one.

Usage: python scripts/colab_run.py [NOTEBOOK ...] [--limit 600] [-j 1] [--json FILE]
       python scripts/colab_run.py --make-env DIR     (then run DIR/bin/python scripts/colab_run.py ...)
Prints one line per notebook (name, seconds, ok or the failing cell); exits 1 if any failed or took over --limit.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREINSTALLED = ["ipykernel", "nbclient", "nbformat", "pandas"]  # on every Colab runtime; not fsdl-dev dependencies
INLINE = "module://matplotlib_inline.backend_inline"


def make_env(d):
    "A virtual environment at `d` with fsdl-dev built from this checkout as Colab's install cell installs it"
    d = Path(d)
    uv = shutil.which("uv")
    py = d/"bin"/"python"
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(d)], check=True)
        pip = [uv, "pip", "install", "-q", "--python", str(py)]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q"]
    sys.path.insert(0, str(ROOT))
    from fsdl_dev.colab import PIP_SPEC  # e.g. "fsdl-dev[all,examples] @ git+...": the extras, from this checkout
    extras = PIP_SPEC.split("[", 1)[1].split("]", 1)[0]
    subprocess.run([*pip, f"{ROOT}[{extras}]", *PREINSTALLED], check=True)
    return py


def run_one(nb_path, limit):
    "Run notebook `nb_path` as Colab does; return (name, seconds, None or what failed)"
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    work = Path(tempfile.mkdtemp(prefix="colab-"))
    try:
        site = work/"site"/"google"/"colab"  # `google` stays a namespace package, so google.protobuf still imports
        site.mkdir(parents=True)
        (site/"__init__.py").write_text('"A stand-in for the google.colab module that a Colab runtime imports"\n')
        content, tmp = work/"content", work/"tmp"
        content.mkdir(); tmp.mkdir()
        nb = nbformat.read(nb_path, as_version=4)
        for c in nb.cells:
            if c.cell_type == "code": c.outputs, c.execution_count = [], None
        nb.cells.insert(0, nbformat.v4.new_code_cell("import google.colab"))
        env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST", "PYTHONPATH", "FSDL_TEST_FLAGS")}
        env.update(PYTHONPATH=str(work/"site"), TMPDIR=str(tmp), CUDA_VISIBLE_DEVICES="", MPLBACKEND=INLINE,
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
        client = NotebookClient(nb, timeout=limit, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": str(content)}})
        t0, err = time.perf_counter(), None
        try: client.execute(env=env)
        except CellTimeoutError: err = f"a cell ran over {limit} s"
        except DeadKernelError as e: err = f"the kernel died: {e}"
        except CellExecutionError as e:
            i = next((j for j, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            err = f"cell {i - 1 if i else '?'}: {e.ename}: {str(e.evalue)[:300]}"
        return nb_path.stem, time.perf_counter() - t0, err
    finally: shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks (default: every notebook in nbs/)")
    ap.add_argument("--limit", type=int, default=600, help="seconds a notebook may take (default: 600)")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="notebooks run at once")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--make-env", metavar="DIR", help="make the environment to run this script with, and exit")
    a = ap.parse_args(argv)
    if a.make_env:
        print(make_env(a.make_env))
        return 0
    nbs = [Path(p).resolve() for p in a.notebooks] or sorted(
        p for p in (ROOT/"nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
    with ThreadPoolExecutor(a.jobs) as ex: res = list(ex.map(lambda p: run_one(p, a.limit), nbs))
    bad = 0
    for name, secs, err in res:
        late = secs > a.limit
        bad += bool(err or late)
        print(f"{name:18} {secs:6.0f} s  {'ok' if not (err or late) else err or f'over the {a.limit} s limit'}")
    if a.json: Path(a.json).write_text(json.dumps([dict(notebook=n, seconds=round(s, 1), error=e) for n, s, e in res], indent=1))
    return 1 if bad else 0


if __name__ == "__main__": sys.exit(main())

"""Checks that cannot live in a notebook: notebooks and library in sync, docs that build, a fast CLI start."""
import os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy(tmp):
    for name in ("pyproject.toml", "README.md", "nbs", "fsdl_dev"):
        src = ROOT / name
        if src.is_dir(): shutil.copytree(src, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists(): shutil.copy2(src, tmp / name)
    return tmp


def _tree(p):
    return {f.relative_to(p).as_posix(): f.read_bytes() for f in p.rglob("*")
            if f.is_file() and "__pycache__" not in f.parts}


def _tool(name):
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def test_export_and_clean_leave_tree_unchanged(tmp_path):
    "`nbdev-export` and `nbdev-clean` would change nothing: the notebooks are the source of `fsdl_dev/`"
    work = _copy(tmp_path)
    before = {k: v for k, v in _tree(work).items() if k.startswith(("nbs/", "fsdl_dev/"))}
    for cmd in ("nbdev-export", "nbdev-clean"):
        subprocess.run([_tool(cmd)], cwd=work, check=True, capture_output=True)
    after = {k: v for k, v in _tree(work).items() if k.startswith(("nbs/", "fsdl_dev/"))}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"run nbdev-export and nbdev-clean, then commit: they change {changed}"


def test_docs_process(tmp_path):
    "`nbdev-proc-nbs` processes every notebook, as the docs build does before Quarto renders"
    work = _copy(tmp_path)
    r = subprocess.run([_tool("nbdev-proc-nbs")], cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    nbs = {p.name for p in (work / "nbs").glob("*.ipynb")}
    done = {p.name for p in (work / "_proc").glob("*.ipynb")}
    assert nbs and nbs <= done, f"not processed: {sorted(nbs - done)}"


def test_import_and_help_stay_light():
    "`import fsdl_dev` and `fsdl-dev --help` import neither torch nor transformers"
    code = ("import sys, fsdl_dev, fsdl_dev.cli as c\n"
            "try: c.main(['--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'onnxruntime', 'timm') if m in sys.modules]\n"
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_is_generated_from_index():
    "README.md matches nbs/index.ipynb (regenerate with `python scripts/make_readme.py`)"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

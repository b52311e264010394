"""Checks that cannot live in a notebook: notebooks and library in sync, docs that build, a fast CLI start."""
import os, re, shutil, subprocess, sys
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


def test_ci_runs_the_readme_test_command():
    "`.ci/run` runs the README's test command verbatim, so what a reader runs is what CI runs"
    m = re.search(r"The full test suite.*?```sh\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert m, "README.md: no test command after 'The full test suite'"
    assert m.group(1) in (ROOT / ".ci" / "run").read_text().splitlines(), f".ci/run does not run `{m.group(1)}`"


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
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_readme.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_wheel_and_sdist_build_and_pass_twine(tmp_path):
    "The release workflow's build-and-check steps: sdist and wheel build, `twine check --strict` passes, data ships"
    import zipfile, fsdl_dev
    work = tmp_path / "src"
    work.mkdir()
    for name in ("pyproject.toml", "README.md"): shutil.copy2(ROOT / name, work / name)
    shutil.copytree(ROOT / "fsdl_dev", work / "fsdl_dev", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(work)],
                       capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "Package would be ignored" not in r.stdout + r.stderr, "a subpackage is missing from [tool.setuptools]"
    v = fsdl_dev.__version__
    wheel, sdist = dist / f"fsdl_dev-{v}-py3-none-any.whl", dist / f"fsdl_dev-{v}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in dist.iterdir())
    r = subprocess.run([_tool("twine"), "check", "--strict", str(wheel), str(sdist)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    names = zipfile.ZipFile(wheel).namelist()
    data = {p.name for p in (ROOT / "fsdl_dev" / "data").iterdir() if p.is_file()}
    assert {f"fsdl_dev/data/{n}" for n in data} <= set(names) and "fsdl_dev/cli.py" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_changelog_names_the_version():
    "CHANGELOG.md has a section for `fsdl_dev.__version__`, the version a release tag publishes"
    import fsdl_dev
    assert f"## {fsdl_dev.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def _imports(path):
    "The fsdl_dev modules that module file `path` imports, at the top or inside functions"
    import ast
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level: base = mod.split('.')[0] if mod else None
            elif mod.startswith('fsdl_dev.'): base = mod.split('.')[1]
            elif mod == 'fsdl_dev': base = None
            else: continue
            names = [base] if base else [a.name.split('.')[0] for a in node.names]
            out |= {n for n in names if n}
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('fsdl_dev.')}
    return out


def test_no_import_circles():
    "No module of the package reaches itself through its imports, not even through an import inside a function"
    mods = {p.stem: p for p in (ROOT / "fsdl_dev").glob("*.py") if not p.stem.startswith("_")}
    graph = {m: _imports(p) & set(mods) - {m} for m, p in mods.items()}
    def cycle(m, path):
        if m in path: return path[path.index(m):] + [m]
        for n in sorted(graph[m]):
            if (c := cycle(n, path + [m])): return c
    circles = [c for m in graph if (c := cycle(m, []))]
    assert not circles, f"import circle: {' -> '.join(circles[0])}"

"""Docs quality: every exported symbol has a one-line docstring, and every exported function documents its
parameters with docments, so `show_doc` renders a parameter table on the docs site.

Also: every dataclass field has a docments comment (`show_doc` renders them as the class's parameters), and every
method attached outside its class body uses `@patch` (so nbdev documents it) and has a docstring and docments.
Backticked names link to their docs (`NbdevLookup`), and no notebook documents a
symbol twice."""
import ast, dataclasses, importlib, inspect, json, re, subprocess, sys
from collections import Counter
from pathlib import Path

import pytest
from fastcore.docments import docments

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "fsdl_dev").glob("*.py") if not p.stem.startswith("_"))
NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
_UNDOC_OK = {"self", "cls", "args", "kwargs", "argv", "return"}



def _exported(mod):
    m = importlib.import_module(f"fsdl_dev.{mod}")
    for name in getattr(m, "__all__", []):
        obj = getattr(m, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", "") == m.__name__:
            yield name, obj


def _param_problems(fn, name, docs=None):
    docs = docs if docs is not None else docments(fn, full=True)
    params = inspect.signature(fn).parameters
    star = {p for p, v in params.items() if v.kind in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}
    return [f"{name}({p}): parameter has no docments comment" for p, d in docs.items()
            if p not in _UNDOC_OK | star and not (d.get("docment") or "").strip()]


def problems(obj, name):
    "What is missing from the docs of `obj`"
    doc = (obj.__doc__ or "").strip()
    if not doc: return [f"{name}: no docstring"]
    out = [f"{name}: docstring is not one line"] if "\n" in doc else []
    if inspect.isfunction(obj): out += _param_problems(obj, name)
    return out


def field_problems(cls, name):
    "Dataclass fields of `cls` without a docments comment"
    if not (inspect.isclass(cls) and dataclasses.is_dataclass(cls)): return []
    docs = docments(cls, full=True)
    return [f"{name}.{f.name}: field has no docments comment" for f in dataclasses.fields(cls)
            if f.init and not (docs.get(f.name, {}).get("docment") or "").strip()]


def _attached(cls):
    "(name, function, patched) for the methods of `cls` defined in its module outside the class body, or assigned"
    for k, v in vars(cls).items():
        f = getattr(v, "__func__", None) or getattr(v, "fget", None) or v
        if k.startswith("_orig_") or (k.startswith("__") and k != "__call__"): continue
        if not inspect.isfunction(f) or f.__module__ != cls.__module__: continue
        try: patched = inspect.getsource(f).lstrip().startswith("@patch")
        except (OSError, TypeError): patched = False
        if patched or f.__qualname__ != f"{cls.__qualname__}.{k}": yield k, f, patched


def method_problems(cls, name):
    "Methods of `cls` attached by assignment (not `@patch`), or patched without a docstring or docments"
    out = []
    for k, f, patched in _attached(cls):
        if not patched:
            out.append(f"{name}.{k}: attached by assignment (`{cls.__name__}.{k} = {f.__name__}`): use `@patch`")
            continue
        if k.startswith("_") and k != "__call__": continue
        inherited = any(k in vars(b) for b in cls.__mro__[1:])
        if not (inspect.getdoc(getattr(cls, k)) or "").strip():
            out.append(f"{name}.{k}: patched method has no docstring")
        if not inherited: out += _param_problems(f, f"{name}.{k}")
    return out


@pytest.mark.parametrize("mod", MODULES)
def test_exported_symbols_are_documented(mod):
    missing = [msg for name, obj in _exported(mod) for msg in problems(obj, name)]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("mod", MODULES)
def test_fields_and_patched_methods_are_documented(mod):
    missing = [msg for name, obj in _exported(mod) for msg in field_problems(obj, name) + method_problems(obj, name)]
    assert not missing, "\n".join(missing)


def documented_twice(nb):
    "Names a notebook (a dict) documents more than once: exported definitions (nbdev shows them) and `show_doc` calls"
    names = []
    for c in nb["cells"]:
        if c["cell_type"] != "code": continue
        src = "".join(c["source"])
        names += re.findall(r"show_doc\(\s*([\w.]+)", src)
        if not re.search(r"^#\|\s*exports?\s*$", src, re.M): continue
        try: tree = ast.parse("\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines()))
        except SyntaxError: continue
        for st in tree.body:
            if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or st.name.startswith("_"):
                continue
            deco = [ast.unparse(d) for d in getattr(st, "decorator_list", [])]
            first = st.args.args[0].annotation if not isinstance(st, ast.ClassDef) and st.args.args else None
            owner = ast.unparse(first).strip("'\"") + "." if any(d.startswith("patch") for d in deco) and first else ""
            names.append(owner + st.name)
    return sorted(k for k, v in Counter(names).items() if v > 1)


@pytest.mark.parametrize("nb_path", NBS, ids=[p.stem for p in NBS])
def test_nothing_documented_twice(nb_path):
    twice = documented_twice(json.loads(nb_path.read_text()))
    assert not twice, f"{nb_path.name} documents these twice (drop the extra `show_doc`): {twice}"


def test_names_link_to_their_docs():
    "`NbdevLookup` (what turns backticked names into links) resolves a name from each module to that module's page"
    from fsdl_dev._modidx import d
    pick = {}
    for mod, syms in d["syms"].items():  # from the index nbdev-export writes: no module is imported
        names = [k.split(".")[-1] for k in syms if k.count(".") == 2 and not k.split(".")[-1].startswith("_")]
        if names: pick[mod] = names[0]
    assert {f"fsdl_dev.{m}" for m in MODULES} <= set(pick), "a module exports nothing nbdev knows of"
    code = ("import json, sys\nfrom nbdev.doclinks import NbdevLookup\n"
            "print(json.dumps({n: NbdevLookup().doc(n) for n in json.loads(sys.argv[1])}))")
    r = subprocess.run([sys.executable, "-c", code, json.dumps(sorted(pick.values()))], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    urls = json.loads(r.stdout)
    bad = {m: (n, urls[n]) for m, n in pick.items() if not urls[n] or not urls[n].endswith(f"#{n.lower()}")}
    assert not bad, f"names that do not link (check strip_libs in pyproject.toml): {bad}"


def test_problems_finds_gaps():
    def f(a, b=1): "Do a thing"
    def g(a, # the a
          b=1): # the b
        "Do a thing"
    def h(x): pass
    assert problems(f, "f") == ["f(a): parameter has no docments comment", "f(b): parameter has no docments comment"]
    assert problems(g, "g") == [] and problems(h, "h") == ["h: no docstring"]


def test_field_and_method_problems_find_gaps():
    from fastcore.basics import patch

    @dataclasses.dataclass
    class R:
        "A result"
        a: int  # the a
        b: int = 0

    def _run(self, x): "Run"
    R.run = _run

    @patch
    def go(self: R,
           x: int):  # how far
        "Go"

    @patch
    def stop(self: R, y): pass

    assert field_problems(R, "R") == ["R.b: field has no docments comment"]
    assert method_problems(R, "R") == ["R.run: attached by assignment (`R.run = _run`): use `@patch`",
                                       "R.stop: patched method has no docstring",
                                       "R.stop(y): parameter has no docments comment"]


def test_documented_twice():
    cell = lambda s: {"cell_type": "code", "source": s}
    nb = {"cells": [cell("#| export\ndef f(x): pass\nclass C: pass"), cell("show_doc(f)"), cell("#| export\n@patch\n"
          "def go(self: C): pass\n@patch\ndef go(self: 'D'): pass"), cell("#| hide\ndef f(): pass")]}
    assert documented_twice(nb) == ["f"]

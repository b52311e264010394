"""Docs quality: every exported symbol has a one-line docstring, and every exported function documents its
parameters with docments, so `show_doc` renders a parameter table on the docs site."""
import importlib, inspect
from pathlib import Path

import pytest
from fastcore.docments import docments

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "fsdl_dev").glob("*.py") if not p.stem.startswith("_"))
_UNDOC_OK = {"self", "cls", "args", "kwargs", "argv", "return"}


def _exported(mod):
    m = importlib.import_module(f"fsdl_dev.{mod}")
    for name in getattr(m, "__all__", []):
        obj = getattr(m, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", "") == m.__name__:
            yield name, obj


def problems(obj, name):
    "What is missing from the docs of `obj`"
    doc = (obj.__doc__ or "").strip()
    if not doc: return [f"{name}: no docstring"]
    out = [f"{name}: docstring is not one line"] if "\n" in doc else []
    if inspect.isfunction(obj):
        docs = docments(obj, full=True)
        params = inspect.signature(obj).parameters
        star = {p for p, v in params.items() if v.kind in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}
        out += [f"{name}({p}): parameter has no docments comment" for p, d in docs.items()
                if p not in _UNDOC_OK | star and not (d.get("docment") or "").strip()]
    return out


@pytest.mark.parametrize("mod", MODULES)
def test_exported_symbols_are_documented(mod):
    missing = [msg for name, obj in _exported(mod) for msg in problems(obj, name)]
    assert not missing, "\n".join(missing)


def test_problems_finds_gaps():
    def f(a, b=1): "Do a thing"
    def g(a, # the a
          b=1): # the b
        "Do a thing"
    def h(x): pass
    assert problems(f, "f") == ["f(a): parameter has no docments comment", "f(b): parameter has no docments comment"]
    assert problems(g, "g") == [] and problems(h, "h") == ["h: no docstring"]

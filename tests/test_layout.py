"""The package's layout holds: each module imports only modules on floors below its own (CONTRIBUTING.md draws them),
and no module imports another module's private (underscore) names. Read from the source with `ast`, imports inside
functions included."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/'fsdl_dev'
# floor by floor, from the ground up: a module may import the floors below it, never its own floor or one above
FLOORS = [
    {'core', 'colab', 'testing', 'measure'},                       # what the machine can do, errors; Colab; test helpers; metrics
    {'limits', 'amp', 'distributed', 'pipeline', 'tracking', 'checkpoint', 'bundle', 'examples'},
    {'gpus', 'hub', 'data'},                                       # the GPU catalogue, models in, data in
    {'compute', 'onnx', 'finetune'},                               # planning; export and parity; a hub model made trainable
    {'predict', 'optimize'},                                       # a model folder on new inputs; ONNX graph optimization
    {'quantize', 'train'},                                         # int8 judged on real inputs; the fit loop and `train`
    {'benchmark', 'export', 'sweep', 'cluster'},                   # `bench`, `export`, sweeps and runs, cluster jobs
    {'tour'},                                                      # the whole path in one command
    {'cli'},                                                       # the command line: names commands, imports them lazily
]
FLOOR = {'__init__': -1, **{m: i for i, f in enumerate(FLOORS) for m in f}}  # __init__: `__version__` only, under all


def _imports(path):
    "(module imported, names imported from it) for every import of a package module in `path`"
    out = []
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom):
            mod = n.module or ''
            if n.level == 1 and not mod:  # from . import distributed as dist_; from . import __version__
                out += [(a.name, []) if a.name in FLOOR else ('__init__', [a.name]) for a in n.names]
            elif n.level == 1: out.append((mod.split('.')[0], [a.name for a in n.names]))
            elif mod.startswith('fsdl_dev.'): out.append((mod.split('.')[1], [a.name for a in n.names]))
            elif mod == 'fsdl_dev': out += [(a.name, []) if a.name in FLOOR else ('__init__', [a.name]) for a in n.names]
        elif isinstance(n, ast.Import):
            out += [(a.name.split('.')[1], []) for a in n.names if a.name.startswith('fsdl_dev.')]
    return out


def _modules(): return sorted(p for p in PKG.glob('*.py') if p.stem != '_modidx')


def test_every_module_has_a_floor():
    assert sorted(p.stem for p in _modules()) == sorted(FLOOR), 'a new module needs a floor in FLOORS and CONTRIBUTING.md'


def test_imports_go_down():
    bad = [f"{p.stem} (floor {FLOOR[p.stem]}) imports {m} (floor {FLOOR[m]})" for p in _modules() for m, _ in _imports(p)
           if m != p.stem and FLOOR[m] >= FLOOR[p.stem]]
    assert not bad, bad


def test_no_private_names_across_modules():
    bad = [f"{p.stem} imports {n} from {m}" for p in _modules() for m, names in _imports(p) if m != p.stem
           for n in names if n.startswith('_') and not (n.startswith('__') and n.endswith('__'))]
    assert not bad, bad


def test_the_rules_catch_what_they_forbid(tmp_path):
    "The checks fail on a module that breaks them (so a green run means something)"
    f = tmp_path/'x.py'
    f.write_text('from .train import fit\nfrom fsdl_dev.core import _write_error\ndef g():\n    from . import hub\n')
    assert _imports(f) == [('train', ['fit']), ('core', ['_write_error']), ('hub', [])]


def _notebook_of():
    "module -> (position, notebook name) of the notebook that exports it (`#| default_exp`), in file order"
    import json, re
    out = {}
    for i, p in enumerate(sorted((PKG.parent/'nbs').glob('*.ipynb'))):
        for c in json.loads(p.read_text())['cells']:
            m = re.search(r'#\|\s*default_exp\s+(\w+)', ''.join(c['source']))
            if m: out[m.group(1)] = (i, p.name)
    return out


def test_notebooks_come_in_the_order_they_import():
    "A module's notebook comes after the notebooks of the modules it imports, so each lesson defines before it uses"
    nb = _notebook_of()
    bad = [f"{nb[p.stem][1]} imports {m}, defined later in {nb[m][1]}" for p in _modules() if p.stem in nb
           for m, _ in _imports(p) if m in nb and m != p.stem and nb[m][0] > nb[p.stem][0]]
    assert not bad, bad

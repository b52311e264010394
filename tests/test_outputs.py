"""The saved outputs: notebooks are committed with their outputs, and those outputs are clean and not stale.

Checked here, without running anything, for every notebook:
- the notebook has outputs, and outputs with content (an empty stream or an empty bundle does not count);
- every code cell that certainly shows something (its last statement is a bare expression such as `x` or `df.head()`
  without a trailing `;`, or it calls `print`/`display`/`show_doc` at the top level) has such an output;
- no output is a traceback, progress-bar debris (`\\r`, tqdm's `it/s`, "Loading weights", widgets), a warning on
  stderr, or a TorchScript IR dump.
`tests/test_notebooks.py` adds the check that needs a fresh run: every cell that shows something when run has a
saved output, and no cell keeps an output it no longer shows (`stale_cells`).

Re-save notebooks with `python scripts/run_nbs.py [NOTEBOOK...]`.
"""
import ast, re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))

_DEBRIS = [
    (re.compile(r"\r"), "carriage return (progress-bar debris)"),
    (re.compile(r"\d\s*(?:it|s)/(?:s|it)\b|\d+%\|"), "tqdm progress bar"),
    (re.compile(r"Loading weights|Loading checkpoint shards"), "transformers loading bar"),
    (re.compile(r"IProgress not found|TqdmWarning"), "tqdm warning"),
    (re.compile(r"^\s*graph\(%", re.M), "TorchScript IR dump"),
]
# facts of the machine that saved the notebook, which mean nothing to a reader (issue: show paths relative to a named
# working folder instead, e.g. `os.chdir(tempfile.mkdtemp())` and relative names)
_LEAKS = [
    (re.compile(r"(?<![\w.])/(?:tmp|var/tmp|var/folders|private/var)/|\btmp[a-z0-9_]{8}\b"), "temporary path"),
    (re.compile(r"(?<![\w.])(?:/root|/home/[\w.-]+|/Users/[\w.-]+)(?:/|\b)|/\.pyenv/|/opt/venv\b"), "home or venv path"),
    (re.compile(r"\bpid:? \d+|\(pid \d+\)"), "process id"),
    (re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b|\b20\d\d[01]\d[0-3]\d_\d{6}\b|\btest machine, 20\d\d"), "date"),
    (re.compile(r"git_dirty\W+True"), "the saving checkout's dirty flag"),
]
_WARNING = re.compile(r"\w*Warning\b|warnings\.warn")
_SHOWS = {"print", "display", "show_doc", "Markdown", "HTML"}
MAX_LINES = 100  # text lines one cell may print: more is a log, not a result
UNRUN = ("notest", "cuda", "slurm")  # flags whose cells scripts/run_nbs.py leaves unrun (it forces `slow`)
_WIDGET = "application/vnd.jupyter.widget-view+json"


def _text(x): return "".join(x) if isinstance(x, list) else (x or "")


def has_content(out):
    "Whether one output shows something: non-blank text, or a non-empty data bundle"
    if out.get("output_type") == "stream": return bool(_text(out.get("text")).strip())
    if out.get("output_type") == "error": return True
    if _WIDGET in (out.get("data") or {}): return False
    return any(_text(v).strip() if isinstance(v, (str, list)) else bool(v) for v in (out.get("data") or {}).values())


def shown(cell):
    "The outputs of `cell` that show something to a reader (stderr is never a result)"
    return [o for o in cell.get("outputs", []) if has_content(o) and o.get("name") != "stderr"]


def _code(src):
    "`src` without nbdev directives, magics and shell escapes, ready for `ast.parse`"
    return "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines())


def certainly_shows(src):
    "Whether a cell with source `src` always shows something when it runs without error"
    try: tree = ast.parse(_code(src))
    except SyntaxError: return False
    if not tree.body: return False
    last = tree.body[-1]
    if isinstance(last, ast.Expr) and not src.rstrip().endswith(";"):
        v = last.value
        if not isinstance(v, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)) and not (
                isinstance(v, ast.Constant) and (v.value is None or isinstance(v.value, str))): return True
    for st in tree.body:
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
            f = st.value.func
            if (f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)) in _SHOWS: return True
    return False


def output_problems(nb):
    "What is wrong with the saved outputs of notebook `nb` (a list of lines; empty when all is well)"
    cells = [c for c in nb.cells if c.cell_type == "code"]
    out = []
    if not any(shown(c) for c in cells): out.append("no outputs: run scripts/run_nbs.py and commit the result")
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code": continue
        where = f"cell {i} ({c.source.strip().splitlines()[-1][:60] if c.source.strip() else 'empty'!r})"
        if not shown(c) and certainly_shows(c.source) and not _skipped(c.source):
            out.append(f"{where}: shows a value or prints, but has no saved output")
        lines = 0
        for o in c.get("outputs", []):
            kind = o.get("output_type")
            if kind == "error": out.append(f"{where}: saved traceback ({o.get('ename')}: {o.get('evalue', '')[:80]})")
            txt = _text(o.get("text")) if kind == "stream" else _text((o.get("data") or {}).get("text/plain"))
            if kind == "stream": lines += txt.count("\n")
            for pat, what in _DEBRIS:
                if pat.search(txt): out.append(f"{where}: {what}")
            rich = txt + "".join(_text(v) for k, v in (o.get("data") or {}).items() if k in ("text/markdown", "text/html"))
            for pat, what in _LEAKS:
                if m := pat.search(rich): out.append(f"{where}: {what} ({m.group(0)!r})")
            if o.get("name") == "stderr" and _WARNING.search(txt): out.append(f"{where}: warning on stderr")
            if _WIDGET in (o.get("data") or {}): out.append(f"{where}: widget (a notebook progress bar?)")
        if lines > MAX_LINES: out.append(f"{where}: prints {lines} lines (a log, not a result)")
    return out


def _skipped(src, flags=UNRUN):
    "Whether scripts/run_nbs.py leaves the cell with source `src` unrun (a flagged or `eval: false` cell)"
    for l in src.splitlines():
        l = l.strip()
        if not l.startswith("#|"): break
        d = l[2:].strip()
        if d.split(":")[0].strip() in flags or d.replace(" ", "") == "eval:false": return True
    return False


def stale_cells(saved, fresh):
    "Cells whose saved output (in notebook `saved`) disagrees with a fresh run (`fresh`: cell index -> executed cell)"
    out = []
    for i, c in fresh.items():
        s = saved.cells[i]
        if _skipped(s.source): continue
        if shown(c) and not shown(s): out.append(f"cell {i}: shows output when run, none saved")
        if shown(s) and not shown(c): out.append(f"cell {i}: saved output, but shows nothing when run")
    return out


FIRST_RESULT_BY = 10  # a page's first result shows within this many of the cells the site renders


def renders(cell):
    "Whether the docs site shows `cell`: markdown, and code cells that are not hidden (`#| hide`, `#| default_exp`)"
    if cell.cell_type == "markdown": return True
    if cell.cell_type != "code": return False
    for l in cell.source.lstrip().splitlines():
        if not l.startswith("#|"): break
        d = l[2:].strip()
        if d.replace(" ", "") in ("hide", "export-hide", "exporti") or d.startswith("default_exp"): return False
    return True


def first_result(nb):
    "(position among rendered cells, 1-based; cell index) of the first rendered cell that shows a result, or None"
    n = 0
    for i, c in enumerate(nb.cells):
        if not renders(c): continue
        n += 1
        if c.cell_type == "code" and shown(c): return n, i
    return None


@pytest.mark.parametrize("nb_path", NBS, ids=[p.stem for p in NBS])
def test_first_result_is_near_the_top(nb_path):
    "A reader sees a result on the first screen: within the first `FIRST_RESULT_BY` rendered cells of every page"
    at = first_result(nbformat.read(nb_path, as_version=4))
    assert at and at[0] <= FIRST_RESULT_BY, f"{nb_path.name}: first result in rendered cell {at and at[0]} (cell {at and at[1]})"


def test_first_result_counts_rendered_cells():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("#| hide\nx = 1"),
                                         nbformat.v4.new_code_cell("#| export\ndef f(): pass"),
                                         nbformat.v4.new_code_cell("#| hide\nx", outputs=[_res("1")]),
                                         nbformat.v4.new_code_cell("x", outputs=[_res("1")])])
    assert first_result(nb) == (3, 4)
    assert first_result(_nb(("x = 1", []))) is None


@pytest.mark.parametrize("nb_path", NBS, ids=[p.stem for p in NBS])
def test_saved_outputs(nb_path):
    problems = output_problems(nbformat.read(nb_path, as_version=4))
    assert not problems, f"{nb_path.name}:\n" + "\n".join(problems)


# The checker itself, on synthetic notebooks
def _nb(*cells):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s, outputs=o) for s, o in cells])


def _res(txt): return nbformat.v4.new_output("execute_result", data={"text/plain": txt}, execution_count=None)
def _out(txt, name="stdout"): return nbformat.v4.new_output("stream", name=name, text=txt)


def test_certainly_shows():
    for src in ["x", "a.b[0]", "1 + 2", "(a, b)", "print('x')", "#| hide\nx = 1\nx", "show_doc(f)", "%time y = 2\ny"]:
        assert certainly_shows(src), src
    for src in ["x = 1", "test_eq(a, 1)", "f(x)", "x;", "def f(): print(1)", "'doc'", "for i in a: print(i)", ""]:
        assert not certainly_shows(src), src


def test_no_outputs_fails():
    assert output_problems(_nb(("x = 1", []), ("x", []))) == [
        "no outputs: run scripts/run_nbs.py and commit the result",
        "cell 1 ('x'): shows a value or prints, but has no saved output"]


def test_empty_outputs_do_not_count():
    "An empty stream or an empty bundle is not an output: the checker cannot be fooled by one"
    nb = _nb(("print(1)", [_out("")]), ("x", [_res("")]), ("y", [nbformat.v4.new_output("display_data", data={})]))
    assert len(output_problems(nb)) == 4


def test_good_notebook_passes():
    nb = _nb(("x = 1", []), ("x", [_res("1")]), ("print(x)", [_out("1\n")]), ("test_eq(x, 1)", []),
             ("#| slurm\nprint(2)", []), ("#| cuda\nx", []), ("#| eval: false\nx", []))
    assert output_problems(nb) == []


def test_debris_and_warnings_and_errors_fail():
    tb = nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=["..."])
    nb = _nb(("f()", [_out(" 45%|####  | 9/20 [00:01<00:01, 8.50it/s]\r", "stderr")]),
             ("g()", [_out("Loading weights: 100%\n")]),
             ("h()", [_out("/x.py:3: UserWarning: careful\n  warnings.warn(\n", "stderr")]),
             ("k()", [tb]), ("m()", [_out("graph(%x : Float(2)):\n  return (%x)\n")]),
             ("n()", [_out("line\n" * (MAX_LINES + 1))]), ("x", [_res("1")]))
    probs = output_problems(nb)
    for what in ["cell 0 ('f()'): carriage return", "cell 0 ('f()'): tqdm progress bar", "cell 1 ('g()'): transformers",
                 "cell 2 ('h()'): warning on stderr", "cell 3 ('k()'): saved traceback (ValueError: bad)",
                 "cell 4 ('m()'): TorchScript IR dump", "cell 5 ('n()'): prints 101 lines"]:
        assert any(p.startswith(what) for p in probs), (what, probs)


def test_build_machine_facts_fail():
    "Temporary and home paths, pids, dates and dirty flags in a saved output are the saving machine's, not a result"
    md = nbformat.v4.new_output("display_data", data={"text/markdown": "| file | /tmp/tmp9palex0z/r18.onnx |"})
    nb = _nb(("a", [_res("ParityReport(onnx_path='/tmp/tmpgdjg256e/m.onnx')")]), ("b", [md]),
             ("c", [_out("binary: /root/.pyenv/versions/3.11.7/bin/python\n")]), ("d", [_out("in use (pid 15961)\n")]),
             ("e", [_out("offline-run-20261207_191514-zbgeu\n")]), ("f", [_res("{'git_dirty': True}")]),
             ("g", [_out("wrote work/r18.onnx at 12:00, 3 tmp files, see ~/notes, pid-free, 2026 prices\n")]))
    probs = output_problems(nb)
    for what in ["cell 0 ('a'): temporary path", "cell 1 ('b'): temporary path", "cell 2 ('c'): home or venv path",
                 "cell 3 ('d'): process id", "cell 4 ('e'): date", "cell 5 ('f'): the saving checkout's dirty flag"]:
        assert any(p.startswith(what) for p in probs), (what, probs)
    assert not any(p.startswith("cell 6") for p in probs), probs


def test_stale_cells():
    saved = _nb(("x", [_res("1")]), ("print(2)", []), ("y = 1", [_out("old\n")]), ("#| slurm\nprint(3)", []))
    cell = nbformat.v4.new_code_cell
    fresh = {0: cell("x", outputs=[_res("1")]), 1: cell("print(2)", outputs=[_out("2\n")]), 2: cell("y = 1"),
             3: cell("#| slurm\nprint(3)", outputs=[_out("3\n")])}
    assert stale_cells(saved, fresh) == ["cell 1: shows output when run, none saved",
                                         "cell 2: saved output, but shows nothing when run"]


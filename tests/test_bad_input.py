"""Bad input across the CLI: every case must exit 2 with exactly one line on stderr, no traceback, and no
half-written output (nothing new in the working folder, and no file at the output path).

Each case runs `python -m fsdl_dev.cli ...` in a fresh process whose working folder is a new temporary folder,
so relative output paths land there. The cases run concurrently (they are mostly interpreter and torch start-up)."""
import os, sys, subprocess, tempfile, shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

# id: (arguments, files to create first {name: content}, output paths that must not exist afterwards)
CASES = {
    # loading
    'nonexistent-path':      (['info', '/no/such/dir'], {}, []),
    'empty-timm-spec':       (['info', 'timm:'], {}, []),
    'empty-hf-spec':         (['info', 'hf:'], {}, []),
    'unknown-scheme':        (['info', 'foo:bar'], {}, []),
    'unknown-timm-model':    (['export', 'timm:no_such_model', '-o', 'x.onnx'], {}, ['x.onnx']),
    # export and bench
    'opset-too-low':         (['export', 'timm:resnet18', '-o', 'x.onnx', '--opset', '3'], {}, ['x.onnx']),
    'opset-too-high':        (['export', 'timm:resnet18', '-o', 'x.onnx', '--opset', '99'], {}, ['x.onnx']),
    'export-batch-0':        (['export', 'timm:resnet18', '-o', 'x.onnx', '--batch-sizes', '0'], {}, ['x.onnx']),
    'bench-batch-0':         (['bench', 'timm:resnet18', '--batch-size', '0'], {}, []),
    'export-under-a-file':   (['export', 'timm:resnet18', '-o', 'afile/x.onnx'], {'afile': 'x'}, ['afile/x.onnx']),
    'export-to-proc':        (['export', 'timm:resnet18', '-o', '/proc/x.onnx'], {}, ['/proc/x.onnx']),
    'calibration-no-quantize': (['export', 'timm:resnet18', '-o', 'x.onnx', '--calibration', 'c.npz'], {'c.npz': 'x'}, ['x.onnx']),
    'calibration-missing':   (['export', 'timm:resnet18', '-o', 'x.onnx', '--quantize', 'int8', '--calibration', 'nope.npz'], {}, ['x.onnx']),
    'calibration-not-npz':   (['export', 'timm:resnet18', '-o', 'x.onnx', '--quantize', 'int8', '--calibration', 'c.npz'], {'c.npz': 'not a zip'}, ['x.onnx']),
    'corrupt-onnx':          (['bench', 'timm:resnet18', '--onnx', 'corrupt.onnx'], {'corrupt.onnx': 'not a protobuf'}, []),
    'missing-onnx':          (['bench', 'timm:resnet18', '--onnx', 'missing.onnx'], {}, []),
    # training
    'train-batch-0':         (['train', '--batch-size', '0', '--out', 'd'], {}, ['d']),
    'unknown-dataset':       (['train', '--data', 'nope', '--out', 'd'], {}, ['d']),
    'negative-epochs':       (['train', '--epochs', '-1', '--out', 'd'], {}, ['d']),
    'unknown-precision':     (['train', '--precision', 'fp8', '--out', 'd'], {}, ['d']),
    # compute planning
    'plan-negative-params':  (['plan', '--params', '-7B', '--gpus', '8'], {}, []),
    'plan-zero-gpus':        (['plan', '--params', '7B', '--gpus', '0'], {}, []),
    'plan-missing-gpu-file': (['plan', '--params', '7B', '--gpus', '8', '--gpus-file', 'nope.csv'], {}, []),
    'cost-unknown-gpu':      (['cost', '--params', '7B', '--tokens', '1T', '--gpu', 'nope'], {}, []),
    # the tour
    'tour-out-under-a-file': (['tour', '--out', 'afile/sub'], {'afile': 'x'}, ['afile/sub']),
    'tour-out-in-proc':      (['tour', '--out', '/proc/fsdl-dev-tour'], {}, ['/proc/fsdl-dev-tour']),
    'tour-zero-epochs':      (['tour', '--epochs', '0', '--out', 't'], {}, ['t']),
}


def _run(case):
    args, setup, _ = CASES[case]
    cwd = Path(tempfile.mkdtemp(prefix=f'bad-input-{case}-'))
    for name, text in setup.items(): (cwd/name).write_text(text)
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}
    r = subprocess.run([sys.executable, '-m', 'fsdl_dev.cli', *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    left = sorted(str(p.relative_to(cwd)) for p in cwd.rglob('*'))
    shutil.rmtree(cwd, ignore_errors=True)
    return r, left


@pytest.fixture(scope='module')
def results():
    with ThreadPoolExecutor(max_workers=4) as ex: return dict(zip(CASES, ex.map(_run, CASES)))


@pytest.mark.parametrize('case', CASES)
def test_bad_input(case, results):
    args, setup, outputs = CASES[case]
    r, left = results[case]
    what = f"fsdl-dev {' '.join(args)}\nstdout: {r.stdout[-500:]}\nstderr: {r.stderr[-2000:]}"
    assert r.returncode == 2, what
    assert 'Traceback' not in r.stderr + r.stdout, what
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'fsdl-dev {args[0]}: error: '), what
    assert left == sorted(setup), f"left behind: {sorted(set(left) - set(setup))}\n{what}"
    for o in outputs:
        if Path(o).is_absolute(): assert not Path(o).exists(), f'{o} was written\n{what}'

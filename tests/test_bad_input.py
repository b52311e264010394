"""Bad input across the CLI: every case must exit 2 with exactly one line on stderr, no traceback, and no
half-written output (nothing new in the working folder, and no file at the output path).

Two kinds of cases:
- `CASES`: hand-written ones, each in a new temporary working folder (relative output paths land there) with its files.
  They run through `fsdl_dev.testing.run_cli`, forked from its zygote like the generated ones (below); a case that sets
  environment variables runs as `python -m fsdl_dev.cli ...` in a fresh interpreter instead, since libraries read some
  variables (HF_HUB_CACHE) once, at import. Measured on 2 cores: 141 s of CPU as one process per case, most of it
  interpreter and torch start-up.
- `OPTIONS` x `HOSTILE`: generated ones. Every option listed gets every hostile value (NaN, inf, 1e999, -1, '', a
  newline, unicode, a path that is a file) and must exit 2, or 0 where its type makes the value legitimate (a job name
  may be 'nan'). A new option gets the hostile values by adding one line to `OPTIONS`. To stay fast these run through
  `run_cli`: one zygote imports fsdl-dev and its libraries once and forks a fresh child per case (its own working
  folder, stdout and stderr), so a case costs milliseconds instead of an interpreter start.
"""
import os, sys, json, fcntl, socket, subprocess, tempfile, shutil
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


def _closed_port():
    "A TCP port on 127.0.0.1 where nothing listens (free a moment ago)"
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

CLOSED = _closed_port()
BINARY = b'\x89PNG\r\n\x1a\n\x00\x80\xff\xfe garbage'


def _fixtures():
    "Bytes of real files the training and prediction cases need: a PNG, a tiny timm model folder, and bad checkpoints"
    import io, pickle, torch, timm
    from PIL import Image
    from timm.models._hub import save_for_hf
    buf = io.BytesIO()
    Image.new('L', (16, 16), 128).save(buf, format='PNG')
    d = Path(tempfile.mkdtemp(prefix='bad-input-fixtures-'))
    torch.manual_seed(0)
    save_for_hf(timm.create_model('test_resnet', num_classes=2, pretrained=False), d, model_config={'label_names': ['a', 'b']},
                safe_serialization=True)
    model = {f'm/{f.name}': f.read_bytes() for f in d.iterdir()}
    shutil.rmtree(d)
    ck = io.BytesIO()
    torch.save(dict(model={}, config={}), ck)

    class Payload:  # what a malicious checkpoint holds: unpickling it would run a command
        def __reduce__(self): return (os.system, ('touch pwned',))
    evil = io.BytesIO()
    torch.save({'model': Payload()}, evil)
    return buf.getvalue(), model, ck.getvalue(), evil.getvalue()

PNG, MODEL, KEYLESS_CK, EVIL_CK = _fixtures()
def _png_header(w, h):
    "A PNG that declares w x h pixels and holds almost nothing: a decompression bomb's first bytes"
    import struct, zlib
    chunk = lambda t, b: struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'')) + chunk(b'IEND', b''))

def _laughs():
    "A 'billion laughs' YAML document: 1 KB that expands to 10^9 nodes"
    out = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    return out + ''.join(f'{c}: &{c} [{", ".join(["*" + p] * 10)}]\n' for p, c in zip('abcdefgh', 'bcdefghi'))

import gzip
def _noisy_png():
    "A 32x32 PNG of noise: its pixel data is long enough that cutting the file in half cuts the image"
    import io, numpy as np
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)).save(buf, format='PNG')
    return buf.getvalue()

def _empty_parquet():
    import io, pandas as pd
    buf = io.BytesIO()
    pd.DataFrame({'text': pd.Series([], dtype=str), 'label': pd.Series([], dtype=str)}).to_parquet(buf)
    return buf.getvalue()

BOMB_PNG, LAUGHS, NOISY_PNG, EMPTY_PARQUET = _png_header(30000, 30000), _laughs(), _noisy_png(), _empty_parquet()
FIFO = object()  # a file entry made as a named pipe
class Link(str): "A file entry made as a symbolic link to this target"
IMAGES = {'img/a/1.png': PNG, 'img/a/2.png': PNG, 'img/b/1.png': PNG, 'img/b/2.png': PNG}
TEXTS = 'text,label\nthe match,sport\nthe soup,food\nthe goal,sport\nthe salt,food\n'

# id: (arguments, files to create first {name: text or bytes}, output paths that must not exist afterwards[, environment])
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
    # export --quantize int8 of an image model: real images or nothing (never an fp32 copy called int8), and no -o folder left
    'export-int8-hub-no-images': (['export', 'timm:resnet18', '-o', 'out/x.onnx', '--quantize', 'int8'], {}, ['out']),
    'export-int8-no-training-json': (['export', 'm', '-o', 'out/x.onnx', '--quantize', 'int8'], MODEL, ['out']),
    'export-int8-training-data-gone': (['export', 'm', '-o', 'out/x.onnx', '--quantize', 'int8'],
                              {**MODEL, 'm/training.json': '{"data": "/no/such/photos", "val_data": null, "val_fraction": 0.2, "seed": 0}'}, ['out']),
    'export-int8-training-json-broken': (['export', 'm', '-o', 'out/x.onnx', '--quantize', 'int8'], {**MODEL, 'm/training.json': BINARY}, ['out']),
    'export-calibration-no-such-folder': (['export', 'm', '-o', 'out/x.onnx', '--quantize', 'int8', '--calibration', 'photos'], MODEL, ['out']),
    'export-calibration-no-images': (['export', 'm', '-o', 'out/x.onnx', '--quantize', 'int8', '--calibration', 'cal'],
                              {**MODEL, 'cal/a/notes.txt': 'x'}, ['out']),
    'export-calibration-unreadable': (['export', 'm', '-o', 'out/x.onnx', '--quantize', 'int8', '--calibration', 'cal'],
                              {**MODEL, 'cal/a/1.png': 'not a png', 'cal/b/1.png': 'not a png'}, ['out']),
    'export-calibration-one-image': (['export', 'm', '-o', 'out/x.onnx', '--quantize', 'int8', '--calibration', 'cal'],
                              {**MODEL, 'cal/1.png': PNG}, ['out']),
    'export-calibration-sentences-image-model': (['export', 'timm:resnet18', '-o', 'out/x.onnx', '--quantize', 'int8', '--calibration', 's.txt'],
                              {'s.txt': 'a sentence\n'}, ['out']),
    'corrupt-onnx':          (['bench', 'timm:resnet18', '--onnx', 'corrupt.onnx'], {'corrupt.onnx': 'not a protobuf'}, []),
    'missing-onnx':          (['bench', 'timm:resnet18', '--onnx', 'missing.onnx'], {}, []),
    # training
    'train-batch-0':         (['train', '--batch-size', '0', '--out', 'd'], {}, ['d']),
    'train-patience-negative': (['train', '--patience', '-1', '--out', 'd'], {}, ['d']),
    'train-monitor-unknown': (['train', '--monitor', 'f1', '--out', 'd'], {}, ['d']),
    'unknown-dataset':       (['train', '--data', 'nope', '--out', 'd'], {}, ['d']),
    'negative-epochs':       (['train', '--epochs', '-1', '--out', 'd'], {}, ['d']),
    'unknown-precision':     (['train', '--precision', 'fp8', '--out', 'd'], {}, ['d']),
    'train-missing-column':  (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': 'sentence,label\nx,a\ny,b\n'}, ['d']),
    'train-one-label':       (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': 'text,label\nx,a\ny,a\n'}, ['d']),
    'train-text-not-text':   (['train', '--data', 't.jsonl', '--out', 'd'], {'t.jsonl': '{"text": 1, "label": "a"}\n{"text": 2, "label": "b"}\n'}, ['d']),
    'train-missing-label':   (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': 'text,label\nx,a\ny,\nz,b\n'}, ['d']),
    'train-unseen-val-label': (['train', '--data', 't.csv', '--val-data', 'v.csv', '--out', 'd'],
                              {'t.csv': TEXTS, 'v.csv': 'text,label\nthe car,cars\n'}, ['d']),
    'train-binary-table':    (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': BINARY}, ['d']),
    'train-unknown-table':   (['train', '--data', 't.xlsx', '--out', 'd'], {'t.xlsx': 'x'}, ['d']),
    'train-one-class-folder': (['train', '--data', 'img', '--out', 'd'], {'img/a/1.png': PNG}, ['d']),
    'train-empty-class':     (['train', '--data', 'img', '--out', 'd'], {'img/a/1.png': PNG, 'img/b/notes.txt': 'x'}, ['d']),
    'train-unreadable-image': (['train', '--data', 'img', '--out', 'd'], {**IMAGES, 'img/b/bad.png': 'not a png'}, ['d']),
    'train-val-class-unseen': (['train', '--data', 'img', '--val-data', 'val', '--out', 'd'], {**IMAGES, 'val/c/1.png': PNG}, ['d']),
    'train-timm-no-weights': (['train', '--model', 'timm:resnet18', '--data', 'img', '--out', 'd'], IMAGES, ['d'], {'HF_HUB_CACHE': 'hub'}),
    'train-hf-from-scratch': (['train', '--model', 'hf:org/name', '--from-scratch', '--data', 't.csv', '--out', 'd'], {'t.csv': TEXTS}, ['d']),
    'train-text-on-image-model': (['train', '--model', 'm', '--data', 't.csv', '--out', 'd'], {**MODEL, 't.csv': TEXTS}, ['d']),
    'train-lr-nan':          (['train', '--lr', 'nan', '--out', 'd'], {}, ['d']),
    'train-lr-inf':          (['train', '--lr', 'inf', '--out', 'd'], {}, ['d']),
    'train-weight-decay-nan': (['train', '--weight-decay', 'nan', '--out', 'd'], {}, ['d']),
    'train-clip-nan':        (['train', '--clip', 'nan', '--out', 'd'], {}, ['d']),
    'train-device-cuda-none': (['train', '--device', 'cuda:7', '--out', 'd'], {}, ['d']),
    'train-device-gpu9':     (['train', '--device', 'gpu9', '--out', 'd'], {}, ['d']),
    'train-mlflow-bogus':    (['train', '--mlflow', 'bogus://', '--out', 'd'], {}, ['d']),
    'train-mlflow-closed-port': (['train', '--mlflow', f'http://127.0.0.1:{CLOSED}', '--out', 'd'], {}, ['d']),
    'train-out-is-file':     (['train', '--out', 'afile'], {'afile': 'x'}, []),
    'train-resume-nothing':  (['train', '--resume', '--out', 'd'], {}, ['d']),
    'train-resume-typo':     (['train', '--resume', '--out', 'dd'], {'d/checkpoints/last.pt': KEYLESS_CK}, ['dd']),
    'train-resume-truncated': (['train', '--resume', '--out', 'd'], {'d/checkpoints/last.pt': KEYLESS_CK[:100]}, []),
    'train-resume-keyless':  (['train', '--resume', '--out', 'd'], {'d/checkpoints/last.pt': KEYLESS_CK}, []),
    'train-resume-pickle':   (['train', '--resume', '--out', 'd'], {'d/checkpoints/last.pt': EVIL_CK}, ['pwned']),
    # bounded inputs: what a file is and how much it may cost, checked before it is read
    'train-gzip-named-csv':  (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': gzip.compress(TEXTS.encode())}, ['d']),
    'train-fifo-data':       (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': FIFO}, ['d']),
    'train-fifo-val-data':   (['train', '--data', 't.csv', '--val-data', 'v.csv', '--out', 'd'], {'t.csv': TEXTS, 'v.csv': FIFO}, ['d']),
    'train-dev-zero':        (['train', '--data', '/dev/zero', '--out', 'd'], {}, ['d']),
    'train-many-columns':    (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': ','.join(f'c{i}' for i in range(5000)) + '\n'}, ['d']),
    'train-nul-label':       (['train', '--data', 't.jsonl', '--out', 'd'],
                              {'t.jsonl': '{"text": "x", "label": "sport\\u0000"}\n{"text": "y", "label": "sport"}\n'}, ['d']),
    'train-labels-all-distinct': (['train', '--data', 't.csv', '--out', 'd'],
                              {'t.csv': 'text,label\n' + ''.join(f'row {i},l{i}\n' for i in range(50))}, ['d']),
    'train-long-text':       (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': TEXTS + 'x' * 2000 + ',food\n'}, ['d'],
                              {'FSDL_DEV_MAX_TEXT_CHARS': '1000'}),
    'train-bad-limit-variable': (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': TEXTS}, ['d'], {'FSDL_DEV_MAX_TEXT_CHARS': 'lots'}),
    'train-latin1-csv':      (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': 'text,label\ncafé,a\nx,b\n'.encode('latin-1')}, ['d']),
    'train-jsonl-not-object': (['train', '--data', 't.jsonl', '--out', 'd'], {'t.jsonl': '{"text": "a", "label": "x"}\n[1, 2]\n'}, ['d']),
    'train-empty-parquet':   (['train', '--data', 't.parquet', '--out', 'd'], {'t.parquet': EMPTY_PARQUET}, ['d']),
    'train-datasets-cache-unwritable': (['train', '--data', 't.csv', '--out', 'd'], {'t.csv': TEXTS}, ['d'], {'HF_DATASETS_CACHE': '/proc/fsdl-dev-cache'}),
    'train-image-bomb':      (['train', '--data', 'img', '--out', 'd'], {**IMAGES, 'img/b/bomb.png': BOMB_PNG}, ['d']),
    'train-truncated-png':   (['train', '--model', 'm', '--data', 'img', '--out', 'd'], {**MODEL, **IMAGES, 'img/b/cut.png': NOISY_PNG[:len(NOISY_PNG) // 2]}, ['d']),
    'train-skip-bad-all-bad': (['train', '--data', 'img', '--skip-bad', '--out', 'd'], {'img/a/1.png': 'x', 'img/b/1.png': 'y'}, ['d']),
    'train-class-links-to-root': (['train', '--data', 'img', '--out', 'd'], {'img/a/1.png': PNG, 'img/b': Link('/')}, ['d']),
    'train-out-symlink':     (['train', '--out', 'd'], {'elsewhere/keep': 'x', 'd': Link('elsewhere')}, []),
    'train-out-name-too-long': (['train', '--out', 'x' * 300], {}, []),
    'slurm-output-name-too-long': (['slurm', '-o', 'x' * 300 + '.sh'], {}, []),
    'predict-image-bomb':    (['predict', 'm', 'bomb.png'], {**MODEL, 'bomb.png': BOMB_PNG}, []),
    'info-num-labels-huge':  (['info', 'm'], {'m/config.json': '{"model_type": "bert", "num_labels": 1e9}', 'm/model.safetensors': 'x'}, []),
    'info-hidden-size-negative': (['info', 'm'], {'m/config.json': '{"model_type": "bert", "hidden_size": -64}', 'm/model.safetensors': 'x'}, []),
    'info-unknown-model-type': (['info', 'm'], {'m/config.json': '{"model_type": "no-such-type"}', 'm/model.safetensors': 'x'}, []),
    'info-auto-map-string':  (['info', 'm'], {'m/config.json': '{"model_type": "bert", "auto_map": "x"}', 'm/model.safetensors': 'x'}, []),
    'info-timm-unknown-arch': (['info', 'm'], {'m/config.json': '{"architecture": "no_such_net", "num_classes": 2}', 'm/model.safetensors': 'x'}, []),
    'info-config-fifo':      (['info', 'm'], {'m/config.json': FIFO}, []),
    'info-num-classes-negative': (['info', 'timm:resnet18', '--num-classes', '-5'], {}, []),
    'info-num-classes-huge': (['info', 'timm:resnet18', '--num-classes', '1000000000000'], {}, []),
    'plan-params-1e308':     (['plan', '--params', '1e308', '--gpus', '8'], {}, []),
    'cost-params-1e308':     (['cost', '--params', '1e308', '--tokens', '1T'], {}, []),
    'cost-billion-laughs':   (['cost', '--flops', '1e20', '--prices', 'p.yaml'], {'p.yaml': LAUGHS}, []),
    'k8s-check-billion-laughs': (['k8s', '--check', 'm.yaml'], {'m.yaml': LAUGHS}, []),
    'k8s-check-fifo':        (['k8s', '--check', 'm.yaml'], {'m.yaml': FIFO}, []),
    'cost-metrics-fifo':     (['cost', '--metrics', 'm.json', '--samples', '1e6'], {'m.json': FIFO}, []),
    # prediction
    'predict-no-model':      (['predict', 'nope', 'some text'], {}, []),
    'predict-no-inputs':     (['predict', 'm'], MODEL, []),
    'predict-k-0':           (['predict', 'm', 'x.png', '-k', '0'], {**MODEL, 'x.png': PNG}, []),
    'predict-missing-image': (['predict', 'm', 'missing.png'], MODEL, []),
    'predict-bad-image':     (['predict', 'm', 'bad.png'], {**MODEL, 'bad.png': 'not an image'}, []),
    'predict-missing-file':  (['predict', 'm', '--file', 'list.txt'], MODEL, []),
    'predict-binary-file':   (['predict', 'm', '--file', 'list.txt'], {**MODEL, 'list.txt': BINARY}, []),
    'predict-missing-onnx':  (['predict', 'm', 'x.png', '--onnx', 'nope.onnx'], {**MODEL, 'x.png': PNG}, []),
    'predict-corrupt-onnx':  (['predict', 'm', 'x.png', '--onnx', 'c.onnx'], {**MODEL, 'x.png': PNG, 'c.onnx': 'not a protobuf'}, []),
    # prediction on labelled tables and folders: checked before the model runs, and nothing written
    'predict-table-missing-column': (['predict', 'm', '--file', 't.csv', '-o', 'out/p.csv'], {**MODEL, 't.csv': 'sentence,label\nx,a\n'}, []),
    'predict-label-column-typo': (['predict', 'm', '--file', 't.csv', '--label-column', 'lable'], {**MODEL, 't.csv': TEXTS}, []),
    'predict-empty-table':   (['predict', 'm', '--file', 't.csv', '-o', 'p.csv'], {**MODEL, 't.csv': 'text,label\n'}, []),
    'predict-binary-table':  (['predict', 'm', '--file', 't.csv'], {**MODEL, 't.csv': BINARY}, []),
    'predict-unknown-output': (['predict', 'm', 'x.png', '-o', 'p.xlsx'], {**MODEL, 'x.png': PNG}, []),
    'predict-output-no-suffix': (['predict', 'm', 'x.png', '-o', 'preds'], {**MODEL, 'x.png': PNG}, []),
    'predict-output-under-file': (['predict', 'm', '--file', 'img', '-o', 'afile/p.csv'], {**MODEL, **IMAGES, 'afile': 'x'}, []),
    'predict-output-is-folder': (['predict', 'm', '--file', 'img', '-o', 'd.csv'], {**MODEL, **IMAGES, 'd.csv/keep': 'x'}, []),
    'predict-table-on-image-model': (['predict', 'm', '--file', 't.csv', '-o', 'out/p.csv'], {**MODEL, 't.csv': TEXTS}, []),
    'predict-batch-0':       (['predict', 'm', 'x.png', '--batch-size', '0'], {**MODEL, 'x.png': PNG}, []),
    'predict-folder-of-splits': (['predict', 'm', '--file', 'img'], {**MODEL, 'img/train/a/1.png': PNG, 'img/val/a/1.png': PNG}, []),
    'predict-unreadable-in-folder': (['predict', 'm', '--file', 'img', '-o', 'p.csv'], {**MODEL, **IMAGES, 'img/b/bad.png': 'not a png'}, []),
    'predict-labels-and-inputs': (['predict', 'm', 'x.png', '--file', 'img'], {**MODEL, **IMAGES, 'x.png': PNG}, []),
    'predict-split-of-a-table': (['predict', 'm', '--file', 't.csv', '--split', 'test'], {**MODEL, 't.csv': TEXTS}, []),
    # compute planning
    'plan-negative-params':  (['plan', '--params', '-7B', '--gpus', '8'], {}, []),
    'plan-zero-gpus':        (['plan', '--params', '7B', '--gpus', '0'], {}, []),
    'plan-missing-gpu-file': (['plan', '--params', '7B', '--gpus', '8', '--gpus-file', 'nope.csv'], {}, []),
    'plan-huge-params':      (['plan', '--params', '1e999', '--gpus', '8'], {}, []),
    'plan-inf-params':       (['plan', '--params', 'inf', '--gpus', '8'], {}, []),
    'plan-nan-params':       (['plan', '--params', 'nan', '--gpus', '8'], {}, []),
    'plan-huge-gpus':        (['plan', '--params', '7B', '--gpus', '1e999'], {}, []),
    'plan-binary-gpu-file':  (['plan', '--params', '7B', '--gpus', '8', '--gpus-file', 'g.csv'], {'g.csv': BINARY}, []),
    'cost-unknown-gpu':      (['cost', '--params', '7B', '--tokens', '1T', '--gpu', 'nope'], {}, []),
    'cost-binary-prices':    (['cost', '--flops', '1e20', '--prices', 'p.csv'], {'p.csv': BINARY}, []),
    'cost-binary-yaml':      (['cost', '--flops', '1e20', '--prices', 'p.yaml'], {'p.yaml': BINARY}, []),
    'cost-malformed-yaml':   (['cost', '--flops', '1e20', '--prices', 'p.yaml'], {'p.yaml': 'a: [1, 2\n'}, []),
    'cost-python-tag':       (['cost', '--flops', '1e20', '--prices', 'p.yaml'],
                              {'p.yaml': '!!python/object/apply:os.system ["touch pwned"]\n'}, ['pwned']),
    'cost-nul-csv':          (['cost', '--flops', '1e20', '--prices', 'p.csv'], {'p.csv': 'provider,gpu,usd_per_gpu_hour\nx\0,h100,1\n'}, []),
    'cost-inf-price':        (['cost', '--flops', '1e20', '--prices', 'p.csv'], {'p.csv': 'provider,gpu,usd_per_gpu_hour\nx,h100,1e999\n'}, []),
    'cost-binary-prices-env': (['cost', '--flops', '1e20'], {'p.csv': BINARY}, [], {'FSDL_DEV_PRICES': 'p.csv'}),
    'cost-malformed-env':    (['cost', '--flops', '1e20'], {'p.yaml': '{]'}, [], {'FSDL_DEV_PRICES': 'p.yaml'}),
    'cost-huge-product':     (['cost', '--params', '1e300', '--tokens', '1e300'], {}, []),
    'cost-deadline-typo':    (['cost', '--flops', '1e20', '--deadline', '14 days'], {}, []),
    'cost-deadline-zero':    (['cost', '--flops', '1e20', '--deadline', '0h'], {}, []),
    # cluster jobs: values are data, never code
    'slurm-newline-job-name': (['slurm', '--job-name', 'x\ntouch pwned', '-o', 'job.sh', '--', '--epochs', '1'], {}, ['job.sh', 'pwned']),
    'slurm-newline-partition': (['slurm', '--partition', 'gpu\ntouch pwned', '-o', 'job.sh'], {}, ['job.sh']),
    'slurm-cr-python':       (['slurm', '--python', 'python\rtouch pwned', '-o', 'job.sh'], {}, ['job.sh']),
    'slurm-injected-time':   (['slurm', '--time', '1:00:00; touch pwned', '-o', 'job.sh'], {}, ['job.sh']),
    'slurm-newline-train-arg': (['slurm', '-o', 'job.sh', '--', '--lr', '1e-3\ntouch pwned'], {}, ['job.sh']),
    'slurm-output-under-file': (['slurm', '-o', 'afile/job.sh'], {'afile': 'x'}, ['afile/job.sh']),
    'k8s-bad-name':          (['k8s', '--name', 'Bad_Name'], {}, []),
    'k8s-bad-memory':        (['k8s', '--memory', 'lots'], {}, []),
    'k8s-check-binary':      (['k8s', '--check', 'm.yaml'], {'m.yaml': BINARY}, []),
    'k8s-check-python-tag':  (['k8s', '--check', 'm.yaml'], {'m.yaml': '!!python/object/apply:os.system ["touch pwned"]\n'}, ['pwned']),
    # tracking: bad URIs and servers that do not answer stop before anything is created
    'sweep-mlflow-bogus':    (['sweep', '--mlflow', 'bogus://', '--out', 's'], {}, ['s']),
    'sweep-mlflow-closed-port': (['sweep', '--mlflow', f'http://127.0.0.1:{CLOSED}', '--out', 's'], {}, ['s']),
    'sweep-out-is-file':     (['sweep', '--out', 'afile'], {'afile': 'x'}, []),
    'runs-mlflow-typo':      (['runs', '--mlflow', './typo'], {}, ['typo']),
    'runs-mlflow-bogus':     (['runs', '--mlflow', 'bogus://x'], {}, []),
    'runs-mlflow-closed-port': (['runs', '--mlflow', f'http://127.0.0.1:{CLOSED}'], {}, []),
    # the tour
    'tour-out-under-a-file': (['tour', '--out', 'afile/sub'], {'afile': 'x'}, ['afile/sub']),
    'tour-out-in-proc':      (['tour', '--out', '/proc/fsdl-dev-tour'], {}, ['/proc/fsdl-dev-tour']),
    'tour-zero-epochs':      (['tour', '--epochs', '0', '--out', 't'], {}, ['t']),
}

# ---- generated cases ------------------------------------------------------------------------------------------------
# the hostile values; 'afile' is a path that exists as a file in every case's folder
HOSTILE = {'nan': 'nan', 'inf': 'inf', 'huge': '1e999', 'negative': '-1', 'empty': '', 'newline': 'x\ny',
           'unicode': 'ünï©ødé-数', 'file': 'afile'}
ALL = set(HOSTILE)
# what each kind of option accepts among the hostile values (everything else must exit 2)
KINDS = {
    'number': set(),                           # a finite number in a range, or a count
    'name': set(),                             # one of a known list (GPU, provider, optimizer, precision)
    'text': ALL - {'empty', 'newline'},        # free text written into a script: only control characters and '' are bad
    'dns': {'nan', 'inf', 'file'},             # a Kubernetes name (DNS-1035 label): 'afile' is one
    'image': ALL - {'empty', 'newline'},       # a container image reference, written into YAML as data
    'folder': ALL - {'empty', 'newline', 'file'},  # a folder that will be written (not created by a printing command)
    'store': set(),                            # an MLflow store that must exist (runs --mlflow)
    'infile': {'file'},                        # an input file: a missing one is an error, 'afile' is an empty table
    'column': set(),                           # a column of the table to sort by
}
# (arguments before the option, option, arguments after it, kind); commands that start work (train, sweep) only get
# values that must fail, so a legitimate value never starts a real run
OPTIONS = [
    (['plan', '--params', '7B', '--gpus', '8'], '--headroom', [], 'number'),
    (['plan', '--gpus', '8'], '--params', [], 'number'),
    (['plan', '--params', '7B'], '--gpus', [], 'number'),
    (['plan', '--params', '7B', '--gpus', '8', '--hidden', '4096', '--seq-len', '512', '--micro-batch', '1'], '--layers', [], 'number'),
    (['plan', '--params', '7B', '--gpus', '8'], '--optimizer', [], 'name'),
    (['plan', '--params', '7B', '--gpus', '8'], '--precision', [], 'name'),
    (['plan', '--params', '7B', '--gpus', '8'], '--gpus-file', [], 'infile'),
    (['cost'], '--flops', [], 'number'),
    (['cost', '--tokens', '1T'], '--params', [], 'number'),
    (['cost', '--params', '7B'], '--tokens', [], 'number'),
    (['cost', '--flops', '1e20'], '--mfu', [], 'number'),
    (['cost', '--flops', '1e20'], '--scaling', [], 'number'),
    (['cost', '--flops', '1e20'], '--gpus', [], 'number'),
    (['cost', '--flops', '1e20'], '--top', [], 'number'),
    (['cost', '--params', '7B', '--tokens', '1T'], '--headroom', [], 'number'),
    (['cost', '--flops', '1e20'], '--gpu', [], 'name'),
    (['cost', '--flops', '1e20'], '--provider', [], 'name'),
    (['cost', '--flops', '1e20'], '--precision', [], 'name'),
    (['cost', '--params', '7B', '--tokens', '1T'], '--optimizer', [], 'name'),
    (['cost', '--flops', '1e20'], '--prices', [], 'infile'),
    (['cost', '--metrics', 'm.json'], '--samples', [], 'number'),
    (['predict', 'm', 'x.png'], '--batch-size', [], 'number'),
    (['cost', '--flops', '1e20'], '--deadline', [], 'number'),
    (['slurm'], '--nodes', [], 'number'),
    (['slurm'], '--gpus-per-node', [], 'number'),
    (['slurm'], '--nproc-per-node', [], 'number'),
    (['slurm'], '--cpus-per-task', [], 'number'),
    (['slurm'], '--max-restarts', [], 'number'),
    (['slurm'], '--time', [], 'name'),
    (['slurm'], '--job-name', [], 'text'),
    (['slurm'], '--partition', [], 'text'),
    (['slurm'], '--python', [], 'text'),
    (['slurm'], '--out', [], 'folder'),
    (['k8s'], '--name', [], 'dns'),
    (['k8s'], '--nodes', [], 'number'),
    (['k8s'], '--gpus-per-node', [], 'number'),
    (['k8s'], '--nproc-per-node', [], 'number'),
    (['k8s'], '--cpus', [], 'number'),
    (['k8s'], '--max-restarts', [], 'number'),
    (['k8s'], '--memory', [], 'name'),
    (['k8s'], '--image', [], 'image'),
    (['runs', 'runs'], '--mlflow', [], 'store'),
    (['runs', 'runs'], '--sort', [], 'column'),
    (['sweep', '--out', 's'], '--mlflow', [], 'folder'),
    (['sweep', '--out', 's'], '--trials', [], 'number'),
    (['train', '--out', 'd'], '--lr', [], 'number'),
    (['train', '--out', 'd'], '--head-lr', [], 'number'),
    (['train', '--out', 'd'], '--warmup', [], 'number'),
    (['train', '--out', 'd'], '--weight-decay', [], 'number'),
    (['train', '--out', 'd'], '--clip', [], 'number'),
    (['train', '--out', 'd'], '--val-fraction', [], 'number'),
    (['train', '--out', 'd'], '--epochs', [], 'number'),
    (['train', '--out', 'd'], '--batch-size', [], 'number'),
    (['train', '--out', 'd'], '--patience', [], 'number'),
    (['train', '--out', 'd'], '--image-size', [], 'number'),
    (['train', '--out', 'd'], '--max-length', [], 'number'),
    (['train', '--out', 'd'], '--num-workers', [], 'number'),
    (['train', '--out', 'd'], '--device', [], 'name'),
    (['train', '--out', 'd'], '--precision', [], 'name'),
]
# files in every generated case's folder: a file where a folder is expected, a metrics file, a folder of runs
GEN_SETUP = {'afile': '', 'm.json': '{"samples_per_s": 40, "gpu_name": "A100-SXM4-80GB"}',
             'runs/a/metrics.json': '{"val_accuracy": 0.9}'}
# a value of a kind that accepts it is skipped for commands that would start real work
STARTS_WORK = {'sweep', 'train'}


def _gen_cases():
    out = {}
    for pre, opt, post, kind in OPTIONS:
        for name, value in HOSTILE.items():
            ok = name in KINDS[kind]
            if ok and pre[0] in STARTS_WORK: continue
            out[f"gen:{' '.join(pre)} {opt}={name}"] = ([*pre, f'{opt}={value}', *post], 0 if ok else 2)
    return out

GENERATED = _gen_cases()

BASE_ENV = {'HF_HUB_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore', 'FSDL_DEV_TRACKER_TIMEOUT': '3'}


def _env(extra=None): return {**os.environ, **BASE_ENV, **(extra or {})}


def _in_folder(args, files, env=None):
    """`fsdl-dev ARGS` in a new temporary working folder holding `files`: exit code, stdout, stderr and what is left there.
    Through `run_cli`: forked from its zygote, or a fresh interpreter when the case sets environment variables"""
    from fsdl_dev.testing import run_cli
    cwd = Path(tempfile.mkdtemp(prefix='bad-input-'))
    for name, content in files.items():
        (cwd/name).parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO: os.mkfifo(cwd/name)
        elif isinstance(content, Link): (cwd/name).symlink_to(content)
        else: (cwd/name).write_bytes(content) if isinstance(content, bytes) else (cwd/name).write_text(content)
    try: r = run_cli(*args, cwd=cwd, env=env, timeout=120)
    except subprocess.TimeoutExpired:  # this case fails, alone: the others share the fixture and must still be judged
        r = Result(None, '', 'timed out after 120 s')
    left = sorted(str(Path(w, f).relative_to(cwd)) for w, ds, fs in os.walk(cwd) for f in ds + fs)  # links not followed
    shutil.rmtree(cwd, ignore_errors=True)
    return r.returncode, r.stdout, r.stderr, left


Result = namedtuple('Result', 'returncode stdout stderr')

def _run_all():
    "Every case: those with an environment of their own in fresh interpreters, beside the rest forked from one zygote"
    from fsdl_dev.cli import COMMANDS
    from fsdl_dev.testing import stop_zygote, PRELOAD
    forked = {cid: (c[0], c[1]) for cid, c in CASES.items() if len(c) == 3}
    forked.update({cid: (args, GEN_SETUP) for cid, (args, _) in GENERATED.items()})
    # the zygote imports each command's module when it first runs, with nothing preloaded, and the commands that need
    # no torch run first: forking a process that holds torch costs ~60 ms of kernel time, one without it a few
    light = {n for n, (mod, *_) in COMMANDS.items() if mod in ('fsdl_dev.compute', 'fsdl_dev.cluster', 'fsdl_dev.sweep', 'fsdl_dev.core')}
    forked = dict(sorted(forked.items(), key=lambda kv: kv[1][0][0] not in light))
    alone = [cid for cid, c in CASES.items() if len(c) > 3]
    old, preload = {k: os.environ.get(k) for k in BASE_ENV}, PRELOAD[:]
    os.environ.update(BASE_ENV)  # the zygote starts with the environment every case runs in
    PRELOAD[:] = []
    try:
        with ThreadPoolExecutor(max_workers=2) as ex:
            fresh = {cid: ex.submit(_in_folder, CASES[cid][0], CASES[cid][1], CASES[cid][3]) for cid in alone}
            res = {cid: _in_folder(args, files) for cid, (args, files) in forked.items()}
            res.update({cid: f.result() for cid, f in fresh.items()})
    finally:
        stop_zygote()
        PRELOAD[:] = preload
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    assert set(res) == set(CASES) | set(GENERATED), sorted(set(CASES) | set(GENERATED) - set(res))
    return res


@pytest.fixture(scope='module')
def results(request, tmp_path_factory):
    "Every case's (Result, files left), once per test run: under pytest-xdist the first worker runs them, the others wait"
    uid = getattr(request.config, 'workerinput', {}).get('testrunuid')
    if uid is None: res = _run_all()
    else:  # the workers share the parent of their temporary folders
        path = tmp_path_factory.getbasetemp().parent/f'bad-input-{uid}.json'
        with open(path.with_suffix('.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists(): res = json.loads(path.read_text())
            else:
                res = _run_all()
                path.write_text(json.dumps(res))
    return {cid: (Result(rc, out, err), left) for cid, (rc, out, err, left) in res.items()}


def _check(args, r, left, setup, code):
    what = f"fsdl-dev {' '.join(map(repr, args))}\nexit {r.returncode}\nstdout: {r.stdout[-500:]}\nstderr: {r.stderr[-2000:]}"
    assert r.returncode == code, what
    assert 'Traceback' not in r.stderr + r.stdout, what
    assert left == sorted(setup), f"left behind: {sorted(set(left) - set(setup))}\n{what}"
    if code == 2:
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f'fsdl-dev {args[0]}: error: '), what


def _with_parents(names):
    "The given relative paths and every folder above them"
    return {str(p) for name in names for p in [Path(name), *Path(name).parents] if str(p) != '.'}


@pytest.mark.parametrize('case', CASES)
def test_bad_input(case, results):
    args, setup, outputs, *_ = CASES[case]
    r, left = results[case]
    _check(args, r, left, _with_parents(setup), 2)
    for o in outputs:
        if Path(o).is_absolute(): assert not Path(o).exists(), f'{o} was written'


@pytest.mark.parametrize('case', GENERATED)
def test_hostile_value(case, results):
    args, code = GENERATED[case]
    r, left = results[case]
    _check(args, r, left, _with_parents(GEN_SETUP), code)


def test_generator_covers_every_value():
    "The generated cases, pinned by examples: every option meets every hostile value, except legitimate ones that would start work"
    assert all(f"gen:{' '.join(pre)} {opt}=empty" in GENERATED for pre, opt, _, _ in OPTIONS)  # no option takes ''
    assert GENERATED["gen:train --out d --lr=nan"] == (['train', '--out', 'd', '--lr=nan'], 2)
    assert GENERATED["gen:slurm --job-name=unicode"][1] == 0  # free text: a legitimate job name
    assert GENERATED["gen:slurm --job-name=newline"][1] == 2
    assert GENERATED["gen:k8s --name=file"][1] == 0  # 'afile' is a DNS-1035 label
    assert "gen:sweep --out s --mlflow=unicode" not in GENERATED  # a legitimate folder: it would start a sweep
    assert "gen:sweep --out s --mlflow=newline" in GENERATED
    assert len(GENERATED) == len(OPTIONS) * len(HOSTILE) - sum(len(KINDS[k]) for pre, _, _, k in OPTIONS if pre[0] in STARTS_WORK)


@pytest.fixture
def tmpfs():
    "Mount small tmpfs file systems (options as given) for the test; skip with the reason where mounting is not allowed"
    mounts = []
    def mount(opts):
        m = Path(tempfile.mkdtemp(prefix='bad-input-tmpfs-'))
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', opts, 'tmpfs', str(m)], capture_output=True, text=True)
        if r.returncode:
            m.rmdir()
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounts.append(m)
        return m
    if os.geteuid() != 0: pytest.skip("cannot mount a tmpfs here: not root")
    yield mount
    for m in mounts:
        subprocess.run(['umount', str(m)])
        m.rmdir()


@pytest.mark.parametrize('command', [['slurm'], ['k8s']])
def test_full_or_read_only_disk(command, tmpfs):
    "Writing to a full or a read-only file system is one line and exit 2, and leaves no temporary file"
    full, ro = tmpfs('size=64k'), tmpfs('size=64k,ro')
    with open(full/'filler', 'wb') as f:  # fill it to the last block
        try: f.write(b'\0' * 128 * 1024)
        except OSError: pass
    for folder, msg in [(full, 'no space left on device writing'), (ro, 'not writable: Read-only file system')]:
        cwd = Path(tempfile.mkdtemp(prefix='bad-input-disk-'))
        r = subprocess.run([sys.executable, '-m', 'fsdl_dev.cli', *command, '-o', str(folder/'job.out')], capture_output=True,
                           text=True, env=_env(), timeout=120, cwd=cwd)
        assert list(cwd.iterdir()) == [], list(cwd.rglob('*'))  # slurm's runs/JOB folder is taken back too
        cwd.rmdir()
        lines = r.stderr.splitlines()
        assert (r.returncode, len(lines)) == (2, 1) and msg in lines[0], (r.returncode, r.stderr)
        assert sorted(p.name for p in folder.iterdir()) == (['filler'] if folder == full else []), list(folder.iterdir())


def test_refusal_leaves_tmpdir_empty(tmp_path):
    "A refused command that imported torch and timm leaves nothing in the user's TMPDIR (torch's compile cache goes elsewhere)"
    tmpdir, cwd = tmp_path/'tmp', tmp_path/'work'
    tmpdir.mkdir(); cwd.mkdir()
    env = {k: v for k, v in _env({'TMPDIR': str(tmpdir), 'XDG_CACHE_HOME': str(tmp_path/'cache')}).items()
           if k != 'TORCHINDUCTOR_CACHE_DIR'}
    r = subprocess.run([sys.executable, '-m', 'fsdl_dev.cli', 'export', 'timm:resnet18', '-o', 'out/x.onnx', '--quantize', 'int8'],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert sorted(p.name for p in tmpdir.iterdir()) == [], r.stderr

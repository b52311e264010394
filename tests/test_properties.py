"""Property-based tests of the readers and number parsers: random and adversarial inputs, each ending in a result or in a
one-line `UsageError` (what the CLI turns into exit 2), never in another exception. Hypothesis draws the inputs; each
test is bounded by its number of examples and their sizes, not by the machine's speed (no deadline)."""
import json, os, tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fsdl_dev.core import UsageError

SET = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _result_or_usage_error(fn, *args):
    "Call `fn`; a `UsageError` must be one line"
    try: return fn(*args)
    except UsageError as e:
        assert '\n' not in str(e).strip(), str(e)
        return e


# text that looks like what people write, plus the characters that break naive parsers
_TEXTISH = st.lists(st.sampled_from(list('0123456789.eE+-_, kmbgtKMBGT') + ['\x00', '\n', 'inf', 'nan', '١', 'h', 'd', 'w', 'min']),
                    max_size=12).map(''.join)

@SET
@given(st.one_of(_TEXTISH, st.text(max_size=24), st.floats(allow_nan=True), st.integers()))
def test_parse_number(s):
    from fsdl_dev.core import parse_number
    import math
    r = _result_or_usage_error(parse_number, s)
    assert isinstance(r, UsageError) or (isinstance(r, float) and math.isfinite(r))


@SET
@given(st.one_of(_TEXTISH, st.text(max_size=24)))
def test_parse_duration(s):
    from fsdl_dev.core import parse_duration
    import math
    r = _result_or_usage_error(parse_duration, s)
    assert isinstance(r, UsageError) or (isinstance(r, float) and math.isfinite(r) and r > 0)


def _yaml_docs():
    "Random YAML-ish text, and alias trees of random width and depth (the 'billion laughs' family)"
    def laughs(wd):
        w, d = wd
        out = f'a0: &a0 [{", ".join(["x"] * w)}]\n'
        return out + ''.join(f'a{i+1}: &a{i+1} [{", ".join([f"*a{i}"] * w)}]\n' for i in range(d))
    return st.one_of(st.lists(st.sampled_from(list('ab:- &*[]{},\n"\'!') + ['  ', '&a ', '*a']), max_size=80).map(''.join),
                     st.tuples(st.integers(1, 12), st.integers(0, 10)).map(laughs))

@SET
@given(_yaml_docs())
def test_load_yaml(doc):
    from fsdl_dev.limits import load_yaml
    _result_or_usage_error(load_yaml, doc, 'doc.yaml')


@SET
@given(st.one_of(st.binary(max_size=300), st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=5),
                                                         lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
                                                         max_leaves=30).map(lambda o: json.dumps(o).encode())))
def test_load_json(tmp_path, data):
    from fsdl_dev.limits import load_json
    f = tmp_path/'x.json'
    f.write_bytes(data)
    _result_or_usage_error(load_json, f)


_CONFIG_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(), st.text(max_size=8),
                           st.lists(st.integers(-5, 5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=3))
_CONFIG_KEYS = st.sampled_from(['model_type', 'architecture', 'num_labels', 'num_classes', 'hidden_size', 'vocab_size',
                                'num_hidden_layers', 'id2label', 'label2id', 'label_names', 'auto_map', 'n_embd', 'd_model'])

@SET
@given(st.dictionaries(_CONFIG_KEYS, _CONFIG_VALUES, max_size=6))
def test_check_model_config(cfg):
    from fsdl_dev.hub import check_model_config
    _result_or_usage_error(check_model_config, cfg, 'config.json')


_CSV = st.one_of(
    st.binary(max_size=200),
    st.lists(st.tuples(st.text(max_size=12), st.sampled_from(['a', 'b', 'c', '', '1', '2.0', 'a\x00'])), max_size=12).map(
        lambda rows: ('text,label\n' + ''.join(f'"{t.replace(chr(34), "")}",{l}\n' for t, l in rows)).encode('utf-8', 'replace')))

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(_CSV)
def test_scan_text_table(tmp_path, monkeypatch, data):
    monkeypatch.setenv('HF_DATASETS_CACHE', str(tmp_path/'cache'))
    from fsdl_dev.data import scan_text_table
    f = Path(tempfile.mkdtemp(dir=tmp_path))/'t.csv'
    f.write_bytes(data)
    r = _result_or_usage_error(scan_text_table, f)
    if not isinstance(r, UsageError): assert len(r.labels) >= 2 and len(r.train) and len(r.val)


def _png(w, h):
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.new('L', (w, h), 7).save(buf, format='PNG')
    return buf.getvalue()

_IMAGE_BYTES = st.one_of(st.binary(max_size=64), st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(0, 80)).map(
    lambda t: _png(t[0], t[1])[:max(8, len(_png(t[0], t[1])) - t[2])]))  # whole, or cut short by up to 80 bytes

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(['a', 'b', 'c']), _IMAGE_BYTES), max_size=8), st.booleans())
def test_scan_image_folder(tmp_path, files, skip_bad):
    from fsdl_dev.data import scan_image_folder
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    for i, (cls, b) in enumerate(files):
        (root/cls).mkdir(exist_ok=True)
        (root/cls/f'{i}.png').write_bytes(b)
    r = _result_or_usage_error(scan_image_folder, root, None, 0.5, 0, skip_bad)
    if not isinstance(r, UsageError): assert len(r.labels) >= 2 and r.train


@SET
@given(st.lists(st.one_of(st.binary(max_size=80), st.dictionaries(st.sampled_from(['val_accuracy', 'val_f1_macro', 'lr', 'x']),
                                                                   st.one_of(st.floats(), st.text(max_size=4), st.none()),
                                                                   max_size=4).map(lambda d: json.dumps(d).encode())), max_size=4))
def test_runs_table(tmp_path, metrics):
    from fsdl_dev.sweep import runs_table
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    for i, m in enumerate(metrics):
        (root/f'r{i}').mkdir()
        (root/f'r{i}'/'metrics.json').write_bytes(m)
    _result_or_usage_error(runs_table, str(root))

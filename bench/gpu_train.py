"""GPU benchmark: fsdl-dev's default training configuration against the best plain PyTorch one.

Models (synthetic data, one training step repeated):
  ResNet-50 (timm, batch 256, 224x224), ViT-B/16 (timm, batch 128, 224x224), BERT-base (transformers, 64 x 128 tokens).
Variants:
  helper  fsdl-dev defaults: `prepare` (channels_last for conv models, fused AdamW, torch.compile) + `TrainStep`
          with `resolve_precision('auto')` (bf16-mixed on sm_80+) inside `policy.scope()` (TF32 for the fp32 rest)
  plain   the best hand-written loop: bf16 autocast + channels_last + torch.compile + fused AdamW + TF32,
          forward/backward/step/zero_grad with no host sync

How it measures (a figure that depends on run order is a bug in the bench):
  - each model runs in its own process (fresh CUDA context, allocator and dynamo state);
  - inside it both variants are built and compiled, then timed in alternating rounds (A B, B A, A B, ...),
    so drift (clocks, temperature, neighbours) hits both; each round is `--steps` steps between two syncs;
  - it reports per variant the median samples/s over the rounds and the spread (min-max), and the ratio
    helper/plain as the median of the per-round ratios with its min-max;
  - `--plain-first` builds, compiles and times the plain variant first; run both orders (bench/gpu_check.sh does).
Also prints MFU (FLOPs from torch.utils.flop_counter, peak from fsdl_dev.compute's catalogue), compile warm-up and peak memory.
Anchors (H100, torch 2.11, best plain): ResNet-50 5,652 img/s, ViT-B/16 3,121 img/s, BERT-base 2,356 seq/s.

    python bench/gpu_train.py                      # on a GPU machine
    python bench/gpu_train.py --plain-first        # the other order
    python bench/gpu_train.py --smoke              # tiny shapes on the CPU in seconds (CI): checks the script works
    python bench/gpu_train.py --models resnet50 --rounds 7 --steps 10 --json out.json
"""
import argparse, copy, gc, json, os, statistics, subprocess, sys, time, traceback

import torch
import torch.nn.functional as F

FULL = {'resnet50': dict(kind='timm', name='resnet50', batch=256, size=224),
        'vit_b16': dict(kind='timm', name='vit_base_patch16_224', batch=128, size=224),
        'bert_base': dict(kind='bert', batch=64, seq=128, layers=12, hidden=768, heads=12)}
SMOKE = {'resnet50': dict(kind='timm', name='resnet10t', batch=2, size=32),
         'vit_b16': dict(kind='timm', name='vit_tiny_patch16_224', batch=2, size=32, kw=dict(img_size=32, depth=2)),
         'bert_base': dict(kind='bert', batch=2, seq=16, layers=2, hidden=64, heads=2)}
ANCHOR = {'resnet50': 5652, 'vit_b16': 3121, 'bert_base': 2356}


def build(spec, seed=0):
    "A freshly initialized model and one synthetic batch on the CPU"
    torch.manual_seed(seed)
    if spec['kind'] == 'timm':
        import timm
        m = timm.create_model(spec['name'], pretrained=False, num_classes=1000, **spec.get('kw', {}))
        x = torch.randn(spec['batch'], 3, spec['size'], spec['size'])
        return m, (x, torch.randint(0, 1000, (spec['batch'],)))
    from transformers import BertConfig, BertForSequenceClassification
    cfg = BertConfig(num_hidden_layers=spec['layers'], hidden_size=spec['hidden'], num_attention_heads=spec['heads'],
                     intermediate_size=4 * spec['hidden'], num_labels=2)
    m = BertForSequenceClassification(cfg)
    b = dict(input_ids=torch.randint(0, cfg.vocab_size, (spec['batch'], spec['seq'])),
             attention_mask=torch.ones(spec['batch'], spec['seq'], dtype=torch.long),
             labels=torch.randint(0, 2, (spec['batch'],)))
    return m, b


def to_dev(batch, dev, channels_last):
    if isinstance(batch, dict): return {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
    x, y = batch
    x = x.to(dev, non_blocking=True)
    if channels_last: x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(dev, non_blocking=True)


def flops_per_step(model, batch, dev):
    "Training FLOPs of one step (forward + backward): counted on a meta copy, or on a real copy on `dev` when meta fails"
    from torch.utils.flop_counter import FlopCounterMode
    err = None
    for where in ('meta', dev):
        m = None
        try:
            m = copy.deepcopy(model).to(where).train()
            with FlopCounterMode(display=False) as fc:
                if isinstance(batch, dict): m(**{k: v.to(where) for k, v in batch.items()}).loss.backward()
                else: F.cross_entropy(m(batch[0].to(where)), batch[1].to(where)).backward()
            return fc.get_total_flops()
        except Exception as e: err = e  # HF models call .item() in forward, which meta tensors cannot do
        finally: del m
    print(f'  (FLOP count failed: {type(err).__name__}: {err})', file=sys.stderr)
    return None


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()


def make_helper(spec, dev, a):
    "fsdl-dev's default path: `prepare` + `TrainStep` with the auto policy, inside its scope; returns (step fn, info)"
    from fsdl_dev.amp import TrainStep, resolve_precision
    from fsdl_dev.train import prepare
    from fsdl_dev.finetune import TrainConfig
    model, batch = build(spec)
    pol = resolve_precision('auto', dev)
    cfg = TrainConfig(lr=1e-4, compile=False if a.no_compile else None, fused=True if a.smoke else None)
    p = prepare(model, cfg, dev)
    step = TrainStep(p['model'], p['optimizer'], pol, device=dev, channels_last=p['channels_last'])
    b = to_dev(batch, dev, p['channels_last'])
    def fn():
        with pol.scope(): step(b)
    info = dict(precision=pol.name, compiled=p['compiled'], channels_last=p['channels_last'], fused=p['fused'],
                device_skip=step.device_skip)
    return fn, info, step


def make_plain(spec, dev, a):
    "The best plain PyTorch loop: bf16 autocast + channels_last + compile + fused AdamW + TF32, no host sync"
    from fsdl_dev.train import _is_conv  # the same channels_last rule for both variants (conv-dominated models)
    model, batch = build(spec)
    conv = _is_conv(model)
    model = model.to(dev, memory_format=torch.channels_last if conv else torch.preserve_format)
    cuda = dev.type == 'cuda'
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **(dict(fused=True) if cuda or a.smoke else {}))
    cm = torch.compile(model) if not a.no_compile else model
    b = to_dev(batch, dev, conv)
    dt_ = torch.bfloat16 if (not cuda or torch.cuda.is_bf16_supported()) else torch.float16
    amp = cuda  # on the CPU (smoke) both variants run fp32, as the helper's auto policy does there
    def fn():
        old = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        torch.set_float32_matmul_precision('high')
        torch.backends.cudnn.allow_tf32 = True
        try:
            with torch.autocast(dev.type, dtype=dt_, enabled=amp):
                loss = cm(**b).loss if isinstance(b, dict) else F.cross_entropy(cm(b[0]), b[1])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        finally:
            torch.set_float32_matmul_precision(old[0])
            torch.backends.cudnn.allow_tf32 = old[1]
    info = dict(precision=(str(dt_).replace('torch.', '') + ' autocast') if amp else 'fp32', compiled=cm is not model,
                channels_last=conv, fused=cuda or a.smoke, device_skip=None)
    return fn, info, None


def peak_flops(dev):
    if dev.type != 'cuda': return None
    try:
        from fsdl_dev.gpus import peak_flops as pf
        return pf(torch.cuda.get_device_name(0), 'bf16-mixed')
    except Exception as e:
        print(f'  (peak FLOP/s unknown: {type(e).__name__}: {e})', file=sys.stderr)
        return None


def worker(key, spec, dev, a):
    "Build both variants of one model in this process, then time them in alternating rounds"
    model, batch = build(spec)
    fl = flops_per_step(model, batch, dev)
    del model
    order = ['plain', 'helper'] if a.plain_first else ['helper', 'plain']
    fns, info, warm = {}, {}, {}
    for v in order:
        t0 = time.perf_counter()
        fns[v], info[v], st = (make_helper if v == 'helper' else make_plain)(spec, dev, a)
        for _ in range(a.warmup): fns[v]()  # compile happens here
        sync(dev)
        warm[v] = time.perf_counter() - t0
        if st is not None: info[v]['skipped'] = st.skipped_steps
    rounds = {v: [] for v in order}
    for r in range(a.rounds):
        for v in (order if r % 2 == 0 else order[::-1]):
            sync(dev)
            t = time.perf_counter()
            for _ in range(a.steps): fns[v]()
            sync(dev)
            rounds[v].append(spec['batch'] * a.steps / (time.perf_counter() - t))
    pk = peak_flops(dev)
    res = {}
    for v in order:
        s = rounds[v]
        med = statistics.median(s)
        res[v] = dict(info[v], samples_per_s=med, min=min(s), max=max(s), rounds=s, warmup_s=warm[v],
                      mfu=(fl * med / spec['batch'] / pk) if fl and pk else None)
    ratios = [h / p for h, p in zip(rounds['helper'], rounds['plain'])]
    res['ratio'] = dict(median=statistics.median(ratios), min=min(ratios), max=max(ratios))
    res['order'] = order
    res['peak_mem_gib'] = torch.cuda.max_memory_allocated() / 2**30 if dev.type == 'cuda' else None
    return res


def fmt(v, f='{:.1f}'): return '-' if v is None else f.format(v)


def run_model_process(key, a, argv):
    "Run one model in a fresh Python process; return its result dict (or None when it failed)"
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', key] + argv
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=a.timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode or not lines:
        print(f'  {key}: the worker process failed (exit {p.returncode})', flush=True)
        return None
    return json.loads(lines[-1][len('RESULT '):])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--smoke', action='store_true', help='tiny shapes on the CPU; checks that the script works')
    p.add_argument('--models', default='resnet50,vit_b16,bert_base')
    p.add_argument('--rounds', type=int, default=None, help='timed rounds per variant, alternating (default 6, smoke 2)')
    p.add_argument('--steps', type=int, default=None, help='steps per round (default 10, smoke 1)')
    p.add_argument('--warmup', type=int, default=None, help='warm-up steps, compile included (default 8, smoke 1)')
    p.add_argument('--no-compile', action='store_true', help='both variants without torch.compile')
    p.add_argument('--plain-first', action='store_true', help='build, compile and time the plain variant first')
    p.add_argument('--in-process', action='store_true', help='run every model in this process (no subprocesses)')
    p.add_argument('--timeout', type=float, default=900, help='seconds allowed per model process')
    p.add_argument('--json', default=None, help='also write the results to this file')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if dev.type == 'cpu' and not a.smoke:
        if not a.worker: print('no GPU here: running the --smoke shapes on the CPU instead (numbers are not meaningful)')
        a.smoke = True
        argv = argv + ['--smoke']
    specs = SMOKE if a.smoke else FULL
    a.rounds = a.rounds or (2 if a.smoke else 6)
    a.steps = a.steps or (1 if a.smoke else 10)
    a.warmup = a.warmup or (1 if a.smoke else 8)
    if dev.type == 'cpu': a.no_compile = True
    if a.worker:
        torch.set_num_threads(min(torch.get_num_threads(), 2)) if a.smoke else None
        print('RESULT ' + json.dumps(worker(a.worker, specs[a.worker], dev, a)), flush=True)
        return 0
    card = torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'CPU'
    print(f'device: {card}; torch {torch.__version__}; {a.rounds} alternating rounds x {a.steps} steps, warm-up {a.warmup}; '
          f'compile {"off" if a.no_compile else "on"}; {"plain" if a.plain_first else "helper"} built first; '
          f'{"one process" if a.in_process else "a process per model"}', flush=True)
    t0 = time.perf_counter()
    res = {}
    for key in a.models.split(','):
        if key not in specs:
            print(f'unknown model {key!r}; choose from {", ".join(specs)}')
            return 2
        print(f'== {key}: {specs[key]}', flush=True)
        try: r = worker(key, specs[key], dev, a) if a.in_process else run_model_process(key, a, argv)
        except Exception as e:
            traceback.print_exc()
            print(f'  {key}: FAILED ({type(e).__name__}: {e})')
            r = None
        if r is None: continue
        res[key] = r
        for v in ('helper', 'plain'):
            x = r[v]
            print(f'  {v:<7} {x["samples_per_s"]:>9.1f} samples/s (median; min {x["min"]:.1f}, max {x["max"]:.1f})  '
                  f'warm-up {x["warmup_s"]:.1f}s  MFU {fmt(x["mfu"], "{:.1%}")}  [{x["precision"]}, compile={x["compiled"]}, '
                  f'cl={x["channels_last"]}, fused={x["fused"]}, device_skip={x["device_skip"]}]', flush=True)
    print(f'\n{"model":<10}{"helper/s":>11}{"plain/s":>11}{"ratio":>8}{"ratio min-max":>16}{"anchor":>9}'
          f'{"MFU helper":>12}{"MFU plain":>11}{"peak mem":>10}')
    ok = bool(res)
    for key, r in res.items():
        h, pl, q = r['helper'], r['plain'], r['ratio']
        ok &= q['median'] >= 1.0
        print(f'{key:<10}{h["samples_per_s"]:>11.1f}{pl["samples_per_s"]:>11.1f}{q["median"]:>8.3f}'
              f'{q["min"]:>9.3f}-{q["max"]:.3f}{ANCHOR[key] if not a.smoke else "-":>9}'
              f'{fmt(h["mfu"], "{:.1%}"):>12}{fmt(pl["mfu"], "{:.1%}"):>11}{fmt(r["peak_mem_gib"], "{:.1f}G"):>10}')
    first = 'plain' if a.plain_first else 'helper'
    print(f'total {time.perf_counter()-t0:.0f}s on {card} ({first} first); '
          f'target helper/plain >= 1.0 on every model: {"met" if ok else "NOT met"}'
          + (' (smoke: not a measurement)' if a.smoke else ''))
    if a.json:
        with open(a.json, 'w') as f: json.dump(dict(device=card, torch=torch.__version__, first=first, results=res), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""GPU benchmark: fsdl-dev's default training configuration against the best plain PyTorch one, in one process.

Models (synthetic data, one training step repeated):
  ResNet-50 (timm, batch 256, 224x224), ViT-B/16 (timm, batch 128, 224x224), BERT-base (transformers, 64 x 128 tokens).
Variants:
  helper  fsdl-dev defaults: `prepare` (channels_last for conv models, fused AdamW, torch.compile) + `TrainStep`
          with `resolve_precision('auto')` (bf16-mixed on sm_80+) inside `policy.scope()` (TF32 for the fp32 rest)
  plain   the best hand-written loop: bf16 autocast + channels_last + torch.compile + fused AdamW + TF32,
          forward/backward/step/zero_grad with no host sync
Prints throughput, the ratio helper/plain (target >= 1.0 on every model), MFU (FLOPs counted with
torch.utils.flop_counter, peak from fsdl_dev.compute's catalogue) and peak memory, plus compile warm-up.
Anchors (H100, torch 2.11, best plain): ResNet-50 5,652 img/s, ViT-B/16 3,121 img/s, BERT-base 2,356 seq/s.

    python bench/gpu_train.py                 # on a GPU machine, total < 6 min on an H100
    python bench/gpu_train.py --smoke         # tiny shapes on the CPU (no compile): checks the script runs
    python bench/gpu_train.py --models resnet50 --steps 30 --json out.json
"""
import argparse, copy, gc, json, math, sys, time, traceback

import torch
import torch.nn.functional as F

FULL = {'resnet50': dict(kind='timm', name='resnet50', batch=256, size=224),
        'vit_b16': dict(kind='timm', name='vit_base_patch16_224', batch=128, size=224),
        'bert_base': dict(kind='bert', batch=64, seq=128, layers=12, hidden=768, heads=12)}
SMOKE = {'resnet50': dict(kind='timm', name='resnet18', batch=4, size=64),
         'vit_b16': dict(kind='timm', name='vit_tiny_patch16_224', batch=2, size=224),
         'bert_base': dict(kind='bert', batch=2, seq=16, layers=2, hidden=64, heads=2)}
ANCHOR = {'resnet50': 5652, 'vit_b16': 3121, 'bert_base': 2356}


def build(spec, seed=0):
    "A freshly initialized model and one synthetic batch on the CPU"
    torch.manual_seed(seed)
    if spec['kind'] == 'timm':
        import timm
        m = timm.create_model(spec['name'], pretrained=False, num_classes=1000)
        x = torch.randn(spec['batch'], 3, spec['size'], spec['size'])
        return m, (x, torch.randint(0, 1000, (spec['batch'],)))
    from transformers import BertConfig, BertForSequenceClassification
    cfg = BertConfig(num_hidden_layers=spec['layers'], hidden_size=spec['hidden'], num_attention_heads=spec['heads'],
                     intermediate_size=4 * spec['hidden'], num_labels=2)
    m = BertForSequenceClassification(cfg)
    b = dict(input_ids=torch.randint(0, cfg.vocab_size, (spec['batch'], spec['seq'])),
             attention_mask=torch.ones(spec['batch'], spec['seq'], dtype=torch.long), labels=torch.randint(0, 2, (spec['batch'],)))
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
    for where in ('meta', dev):
        try:
            m = copy.deepcopy(model).to(where).train()
            with FlopCounterMode(display=False) as fc:
                if isinstance(batch, dict): m(**{k: v.to(where) for k, v in batch.items()}).loss.backward()
                else: F.cross_entropy(m(batch[0].to(where)), batch[1].to(where)).backward()
            return fc.get_total_flops()
        except Exception as e: err = e  # HF models call .item() in forward, which meta tensors cannot do
        finally: m = None
    print(f'  (FLOP count failed: {type(err).__name__}: {err})'); return None


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()


def timed(step_fn, dev, warmup, steps):
    "Warm up (compile happens here), then time `steps` steps; return (warm-up s, steady s per step)"
    t0 = time.perf_counter()
    for _ in range(warmup): step_fn()
    sync(dev); t1 = time.perf_counter()
    for _ in range(steps): step_fn()
    sync(dev); t2 = time.perf_counter()
    return t1 - t0, (t2 - t1) / steps


def run_helper(spec, dev, a):
    "fsdl-dev's default path: `prepare` + `TrainStep` with the auto policy, inside its scope"
    from fsdl_dev.amp import TrainStep, resolve_precision
    from fsdl_dev.train import prepare, TrainConfig
    model, batch = build(spec)
    pol = resolve_precision('auto', dev)
    p = prepare(model, TrainConfig(lr=1e-4, compile=None if not a.no_compile else False), dev)
    step = TrainStep(p['model'], p['optimizer'], pol, device=dev, channels_last=p['channels_last'])
    b = to_dev(batch, dev, p['channels_last'])
    with pol.scope():
        warm, dt = timed(lambda: step(b), dev, a.warmup, a.steps)
    return dict(precision=pol.name, compiled=p['compiled'], channels_last=p['channels_last'], fused=p['fused'],
                skipped=step.skipped_steps), warm, dt


def run_plain(spec, dev, a):
    "The best plain PyTorch loop: bf16 autocast + channels_last + compile + fused AdamW + TF32, no host sync"
    from fsdl_dev.train import _is_conv  # the same channels_last rule for both variants (conv-dominated models)
    model, batch = build(spec)
    conv = _is_conv(model)
    model = model.to(dev, memory_format=torch.channels_last if conv else torch.preserve_format)
    cuda = dev.type == 'cuda'
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **(dict(fused=True) if cuda else {}))
    cm = torch.compile(model) if cuda and not a.no_compile else model
    b = to_dev(batch, dev, conv)
    dt_ = torch.bfloat16 if (not cuda or torch.cuda.is_bf16_supported()) else torch.float16
    def step():
        with torch.autocast(dev.type, dtype=dt_):
            loss = cm(**b).loss if isinstance(b, dict) else F.cross_entropy(cm(b[0]), b[1])
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    old = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision('high'); torch.backends.cudnn.allow_tf32 = True
    try: warm, dt = timed(step, dev, a.warmup, a.steps)
    finally: torch.set_float32_matmul_precision(old[0]); torch.backends.cudnn.allow_tf32 = old[1]
    return dict(precision=str(dt_).replace('torch.', '') + ' autocast', compiled=cm is not model, channels_last=conv, fused=cuda), warm, dt


def peak(dev, name):
    if dev.type != 'cuda': return None
    try:
        from fsdl_dev.compute import peak_flops
        return peak_flops(torch.cuda.get_device_name(0), 'bf16-mixed')
    except Exception as e:
        print(f'  (peak FLOP/s unknown: {type(e).__name__}: {e})'); return None


def bench_model(key, spec, dev, a):
    rows = {}
    model, batch = build(spec)
    fl = flops_per_step(model, batch, dev); del model
    pk = peak(dev, key)
    n = spec['batch']
    order = ('plain', 'helper') if a.plain_first else ('helper', 'plain')
    for variant in order:
        gc.collect()
        if dev.type == 'cuda': torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        try:
            info, warm, dt = (run_helper if variant == 'helper' else run_plain)(spec, dev, a)
        except Exception as e:
            traceback.print_exc(); print(f'  {key} {variant}: FAILED ({type(e).__name__}: {e})'); continue
        mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == 'cuda' else None
        rows[variant] = dict(info, samples_per_s=n / dt, ms_per_step=dt * 1000, warmup_s=warm,
                             mfu=(fl / dt / pk) if fl and pk else None, peak_mem_gib=mem)
        if dev.type == 'cuda': torch._dynamo.reset()
    if 'helper' in rows and 'plain' in rows: rows['ratio'] = rows['helper']['samples_per_s'] / rows['plain']['samples_per_s']
    return rows


def fmt(v, f='{:.1f}'): return '-' if v is None else f.format(v)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--smoke', action='store_true', help='tiny shapes (runs on the CPU); checks that the script works')
    p.add_argument('--models', default='resnet50,vit_b16,bert_base')
    p.add_argument('--steps', type=int, default=None, help='timed steps per variant (default 30, smoke 2)')
    p.add_argument('--warmup', type=int, default=None, help='warm-up steps, compile included (default 10, smoke 1)')
    p.add_argument('--no-compile', action='store_true', help='both variants without torch.compile')
    p.add_argument('--plain-first', action='store_true', help='run the plain variant before the helper')
    p.add_argument('--json', default=None, help='also write the results to this file')
    a = p.parse_args(argv)
    specs = SMOKE if a.smoke else FULL
    a.steps = a.steps or (2 if a.smoke else 30); a.warmup = a.warmup or (1 if a.smoke else 10)
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if dev.type == 'cpu' and not a.smoke:
        print('no GPU here: running the --smoke shapes on the CPU instead (numbers are not meaningful)'); specs = SMOKE
    if dev.type == 'cpu': a.no_compile = True
    card = torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'CPU'
    print(f'device: {card}; torch {torch.__version__}; steps {a.steps}, warm-up {a.warmup}; compile {"off" if a.no_compile else "on"}')
    t0 = time.perf_counter(); res = {}
    for key in a.models.split(','):
        if key not in specs: print(f'unknown model {key!r}; choose from {", ".join(specs)}'); return 2
        print(f'== {key}: {specs[key]}', flush=True)
        res[key] = bench_model(key, specs[key], dev, a)
        for v in ('helper', 'plain'):
            r = res[key].get(v)
            if r: print(f'  {v:<7} {r["samples_per_s"]:>9.1f} samples/s  {r["ms_per_step"]:>8.2f} ms/step  warm-up {r["warmup_s"]:.1f}s  '
                        f'MFU {fmt(r["mfu"], "{:.1%}")}  peak {fmt(r["peak_mem_gib"], "{:.2f} GiB")}  [{r["precision"]}, compile={r["compiled"]}, cl={r["channels_last"]}]', flush=True)
    print(f'\n{"model":<10}{"helper/s":>11}{"plain/s":>11}{"ratio":>8}{"anchor":>9}{"MFU helper":>12}{"MFU plain":>11}{"mem helper":>12}{"mem plain":>11}')
    ok = True
    for key, r in res.items():
        h, pl = r.get('helper', {}), r.get('plain', {})
        ratio = r.get('ratio'); ok &= ratio is not None and ratio >= 1.0
        print(f'{key:<10}{fmt(h.get("samples_per_s")):>11}{fmt(pl.get("samples_per_s")):>11}{fmt(ratio, "{:.3f}"):>8}{ANCHOR[key] if not a.smoke else "-":>9}'
              f'{fmt(h.get("mfu"), "{:.1%}"):>12}{fmt(pl.get("mfu"), "{:.1%}"):>11}{fmt(h.get("peak_mem_gib"), "{:.1f}G"):>12}{fmt(pl.get("peak_mem_gib"), "{:.1f}G"):>11}')
    print(f'total {time.perf_counter()-t0:.0f}s on {card}; target ratio >= 1.0 on every model: {"met" if ok else "NOT met"}')
    if a.json:
        with open(a.json, 'w') as f: json.dump(dict(device=card, torch=torch.__version__, results=res), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())

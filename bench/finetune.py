"""Fine-tuning against the peers, in one run: fsdl-dev's `fit` vs the Hugging Face `Trainer` (text), and vs a plain
torchvision `ImageFolder` + timm loop written the way timm's `train.py` does it (images).

Same model and starting weights, same data, epochs, batch size, learning rates and schedule shape, same machine
and process. Each pipeline is timed from the call to the end of training (per-epoch validation included for all),
and the variants alternate over `--rounds` rounds (A B A B ...), so drift from other jobs hits each alike. It prints
samples/s (training samples / wall seconds), the final validation accuracy, and the ratio against the peer.

Text: a small pretrained-style BERT (`fsdl_dev.data.toy_text_model`) on a table of sport/food sentences. The Trainer
gets fsdl-dev's learning rates (3e-5 body, 1e-3 new head, 10% warmup, linear decay) through `optimizers=` so that the
accuracies are comparable; a second Trainer row with its own defaults (5e-5 everywhere, no warmup) shows what the
defaults give. Images: ResNet-18 from one saved set of weights on the digits written as PNG folders.

The Trainer needs `accelerate`, which fsdl-dev does not depend on: when it is missing, it is installed into
`~/.cache/fsdl-dev/bench-peers` (pip --target, no dependencies) and put on the path of this process only.

    python bench/finetune.py [--task text|image|both] [--device cpu|cuda] [--epochs 2] [--batch-size 32] [--rounds 2]
    python bench/finetune.py --smoke     # a few seconds per variant, for CI
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

PEERS = Path.home()/'.cache'/'fsdl-dev'/'bench-peers'


def ensure_peer(module, package=None):
    "Import `module`, installing its package without dependencies into this bench's own folder when it is missing"
    try: return __import__(module)
    except ImportError: pass
    PEERS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(PEERS), package or module], check=True)
    sys.path.insert(0, str(PEERS))
    return __import__(module)


def quiet():
    import transformers, datasets
    transformers.utils.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars(); datasets.logging.set_verbosity_error()
    os.environ['TQDM_DISABLE'] = '1'


# ---------------------------------------------------------------- text
def fsdl_text(enc, table, a, out):
    from fsdl_dev.train import fit
    t = time.perf_counter()
    m = fit(model=str(enc), data=str(table), epochs=a.epochs, batch_size=a.batch_size, max_length=64, out=str(out),
            progress=False, device=a.device, save_model=False)
    return m['data']['train'] * a.epochs / (time.perf_counter() - t), m['val_accuracy']


def trainer_text(enc, table, a, out, defaults=False):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, DataCollatorWithPadding
    from transformers import get_linear_schedule_with_warmup
    from fsdl_dev.data import scan_text_table
    src = scan_text_table(table, seed=0)  # the same split fsdl-dev makes
    tok = AutoTokenizer.from_pretrained(enc)
    enc_fn = lambda b: tok(b['text'], truncation=True, max_length=64)
    tr, va = (d.map(enc_fn, batched=True, remove_columns=['text']) for d in (src.train, src.val))
    torch.manual_seed(0)
    ix = dict(enumerate(src.labels))
    model = AutoModelForSequenceClassification.from_pretrained(enc, num_labels=len(ix), id2label=ix, label2id={v: k for k, v in ix.items()})
    steps = a.epochs * (len(tr) // a.batch_size)
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=a.batch_size,
                             num_train_epochs=a.epochs, eval_strategy='epoch', save_strategy='no', report_to=[], logging_strategy='no',
                             dataloader_drop_last=True, use_cpu=a.device == 'cpu', disable_tqdm=True, seed=0, weight_decay=0.01)
    opts = (None, None)
    if not defaults:
        head = [p for n, p in model.named_parameters() if n.startswith('classifier')]
        body = [p for n, p in model.named_parameters() if not n.startswith('classifier')]
        opt = torch.optim.AdamW([dict(params=body, lr=3e-5), dict(params=head, lr=1e-3)], weight_decay=0.01)
        opts = (opt, get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps))
    acc = lambda p: {'accuracy': float((p.predictions.argmax(-1) == p.label_ids).mean())}
    tr_ = Trainer(model=model, args=args, train_dataset=tr, eval_dataset=va, data_collator=DataCollatorWithPadding(tok),
                  compute_metrics=acc, optimizers=opts)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    for cb in (PrinterCallback, ProgressCallback): tr_.remove_callback(cb)  # no metric dicts printed mid-table
    t = time.perf_counter()
    tr_.train()
    dt = time.perf_counter() - t
    return len(tr) * a.epochs / dt, tr_.evaluate()['eval_accuracy']


# ---------------------------------------------------------------- images
def timm_loop(weights, digits, a, out):
    "A plain loop as timm's train.py writes it: ImageFolder, timm transforms, AdamW, cosine schedule with warmup, eval each epoch"
    import timm
    from timm.data import create_transform, resolve_data_config
    from timm.scheduler import CosineLRScheduler
    from torchvision.datasets import ImageFolder
    torch.manual_seed(0)
    model = timm.create_model(f'local-dir:{weights}', pretrained=True)
    model.reset_classifier(10)
    cfg = {**resolve_data_config(model=model), 'input_size': (3, 32, 32), 'crop_pct': 1.0}
    tf_tr = create_transform(cfg['input_size'], is_training=True, scale=(0.35, 1.0), color_jitter=None, interpolation=cfg['interpolation'],
                             mean=cfg['mean'], std=cfg['std'])
    tf_va = create_transform(cfg['input_size'], interpolation=cfg['interpolation'], mean=cfg['mean'], std=cfg['std'], crop_pct=1.0)
    tr, va = ImageFolder(digits/'train', tf_tr), ImageFolder(digits/'val', tf_va)
    dev = torch.device(a.device)
    kw = dict(batch_size=a.batch_size, num_workers=a.workers, pin_memory=dev.type == 'cuda', persistent_workers=a.workers > 0)
    tl = torch.utils.data.DataLoader(tr, shuffle=True, drop_last=True, **kw)
    vl = torch.utils.data.DataLoader(va, **kw)
    model = model.to(dev, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = CosineLRScheduler(opt, t_initial=a.epochs * len(tl), warmup_t=int(0.1 * a.epochs * len(tl)), t_in_epochs=False)
    t, n = time.perf_counter(), 0
    for epoch in range(a.epochs):
        model.train()
        for x, y in tl:
            x, y = x.to(dev, non_blocking=True, memory_format=torch.channels_last), y.to(dev, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
            n += 1
            sched.step_update(num_updates=n)
        model.eval(); correct = 0
        with torch.no_grad():
            for x, y in vl: correct += (model(x.to(dev, memory_format=torch.channels_last)).argmax(1).cpu() == y).sum().item()
    return len(tl) * a.batch_size * a.epochs / (time.perf_counter() - t), correct / len(va)


def fsdl_image(weights, digits, a, out):
    from fsdl_dev.train import fit
    t = time.perf_counter()
    m = fit(model=str(weights), data=str(digits), image_size=32, epochs=a.epochs, batch_size=a.batch_size, out=str(out),
            progress=False, device=a.device, save_model=False, num_workers=a.workers)
    return (m['data']['train'] // a.batch_size) * a.batch_size * a.epochs / (time.perf_counter() - t), m['val_accuracy']


# ---------------------------------------------------------------- main
def table(rows):
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(str(c).ljust(n) for c, n in zip(r, w)) for r in rows)


def compare(name, variants, a, tmp):
    "Run each variant `rounds` times, alternating; report median samples/s (min-max), last accuracy, ratio to the first peer"
    res = {k: [] for k in variants}
    for r in range(a.rounds):
        for k, fn in variants.items():
            sps, acc = fn(tmp/f'{k}-{r}')
            res[k].append((sps, acc))
            print(f'  round {r+1} {k}: {sps:.1f} samples/s, val accuracy {acc:.4f}', file=sys.stderr, flush=True)
    ours = statistics.median(s for s, _ in res['fsdl-dev'])
    rows = [('pipeline', 'samples/s (median)', 'min-max', 'val accuracy', 'fsdl-dev / this')]
    for k, v in res.items():
        s = [x for x, _ in v]
        rows.append((k, f'{statistics.median(s):.1f}', f'{min(s):.1f}-{max(s):.1f}', f'{v[-1][1]:.4f}', f'{ours / statistics.median(s):.2f}x'))
    print(f'\n{name}: {a.epochs} epochs, batch {a.batch_size}, device {a.device}, {a.rounds} rounds, {torch.get_num_threads()} threads')
    print(table(rows))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--task', default='both', choices=['text', 'image', 'both'])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--rows', type=int, default=1200, help='sentences in the text table')
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--workers', type=int, default=0, help='image loader workers (both pipelines)')
    p.add_argument('--smoke', action='store_true', help='tiny sizes, one round: checks that every variant runs')
    a = p.parse_args()
    if a.smoke: a.epochs, a.rows, a.rounds = 1, 200, 1
    if a.task in ('text', 'both'): ensure_peer('accelerate')  # before transformers is imported: it checks for it once
    quiet()
    from fsdl_dev.data import toy_text_model, write_topics_table, write_digits_folder
    tmp = Path(tempfile.mkdtemp(prefix='fsdl-bench-ft-'))
    try:
        if a.task in ('text', 'both'):
            enc, tbl = toy_text_model(tmp/'encoder'), write_topics_table(tmp/'topics.csv', n=a.rows)
            compare('text: toy BERT on sport/food sentences', {
                'fsdl-dev': lambda o: fsdl_text(enc, tbl, a, o),
                'HF Trainer (same lrs)': lambda o: trainer_text(enc, tbl, a, o),
                'HF Trainer (its defaults)': lambda o: trainer_text(enc, tbl, a, o, defaults=True)}, a, tmp)
        if a.task in ('image', 'both'):
            import timm
            from timm.models._hub import save_for_hf
            digits = write_digits_folder(tmp/'digits')
            torch.manual_seed(0)
            save_for_hf(timm.create_model('resnet18', pretrained=False), tmp/'resnet18', safe_serialization=True)
            compare('images: ResNet-18 on digits PNG folders, 32 px', {
                'fsdl-dev': lambda o: fsdl_image(tmp/'resnet18', digits, a, o),
                'ImageFolder + timm loop': lambda o: timm_loop(tmp/'resnet18', digits, a, o)}, a, tmp)
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()

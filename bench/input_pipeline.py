"""Input-pipeline benchmark: how close each way of feeding images (and text) gets to the synthetic ceiling.

Images (issue 13's table, in one run): ResNet-50, batch 256, 224 px, bf16 autocast + channels_last + torch.compile +
fused AdamW (the best plain step), fed from a folder of JPEGs this script writes (random 300-500 px, smooth content
plus noise, about 80 KiB each) with RandomResizedCrop(224) and a flip. Feeds:
  synthetic     one batch on the device, repeated (the ceiling)
  pil           PIL + torchvision transforms in DataLoader workers, fp32 to the device
  tvio          torchvision.io decode + v2 RandomResizedCrop/flip on uint8 in workers, uint8 to the device, normalize there
  nvjpeg_loop   the files' bytes from workers, nvjpeg batch decode on the device, then a per-image crop loop
  nvjpeg_roi    fsdl_dev.pipeline.GPUDecodeLoader: nvjpeg batch decode, then one roi_align for the batch
  fsdl          fsdl-dev's default: fsdl_dev.pipeline.image_dataset + loader_options + DeviceNormalize
For each: img/s, x synthetic, time to the first batch (iterator creation to a batch on the device, workers started
inside it) and the CPU utilisation of the whole machine while timing (from /proc/stat). The synthetic ceiling is timed
first and last; the table uses the better of the two.

Text (--text; item 5 of the issue): BERT-base training steps (bf16 autocast, eager: the shapes change every batch) on
sentences with a realistic length spread (log-normal, median about 27 tokens, at most 128). Feeds: padding to 128,
dynamic padding of random batches, length-grouped batches (fsdl_dev.pipeline.length_grouped_batches + pad_batch), and
synthetic fixed-length batches with the same token count as the real batches (no padding at all: the ceiling).
Reported as real (non-padding) tokens/s and x synthetic.

    python bench/input_pipeline.py                      # on a GPU machine: images and text, a few minutes
    python bench/input_pipeline.py --smoke              # tiny everything on the CPU, < 60 s: checks the script works
    python bench/input_pipeline.py --feeds synthetic,fsdl --images 2048 --json out.json
"""
import argparse, gc, json, math, os, random, statistics, sys, tempfile, time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fsdl_dev.pipeline import (image_dataset, DeviceNormalize, loader_options, default_workers, GPUDecodeLoader,
                               rrc_box, length_grouped_batches, pad_batch)

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FEEDS = ('synthetic', 'pil', 'tvio', 'nvjpeg_loop', 'nvjpeg_roi', 'fsdl')


def _write_one(args):
    "Write one random JPEG of 300-500 px: smooth content plus noise, so it compresses like a photo"
    path, seed, lo, hi = args
    from torchvision.io import encode_jpeg, write_file
    g = torch.Generator().manual_seed(seed)
    h, w = (int(torch.randint(lo, hi + 1, (1,), generator=g)) for _ in range(2))
    base = torch.rand(1, 3, h // 16 + 2, w // 16 + 2, generator=g)
    img = F.interpolate(base, size=(h, w), mode='bicubic', align_corners=False) + 0.08 * torch.randn(1, 3, h, w, generator=g)
    write_file(str(path), encode_jpeg((img.clamp(0, 1)[0] * 255).byte(), quality=90))


def make_folder(root, n, lo=300, hi=500, workers=None):
    "`n` JPEGs in `root` (written in parallel); returns `(path, label)` samples with 10 classes"
    from concurrent.futures import ProcessPoolExecutor
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(root / f'{i:05d}.jpg', i, lo, hi) for i in range(n)]
    with ProcessPoolExecutor(max(1, workers or default_workers())) as ex: list(ex.map(_write_one, jobs, chunksize=16))
    return [(p, i % 10) for p, i, _, _ in jobs]


def cpu_busy():
    "(busy, total) jiffies of the whole machine from /proc/stat (None where there is no /proc)"
    try:
        v = [int(x) for x in open('/proc/stat').readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v) - idle, sum(v)
    except OSError: return None


def util(a, b):
    if a is None or b is None or b[1] == a[1]: return None
    return (b[0] - a[0]) / (b[1] - a[1])


# ---------------------------------------------------------------- the model step (the same for every feed)
def make_step(a, dev):
    import timm
    torch.manual_seed(0)
    m = timm.create_model(a.model, pretrained=False, num_classes=10).to(dev, memory_format=torch.channels_last)
    cuda = dev.type == 'cuda'
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)
    cm = torch.compile(m) if cuda and not a.no_compile else m
    def step(x, y):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(cm(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()


# ---------------------------------------------------------------- the feeds: each yields (x normalized on dev, y on dev)
class _PIL(torch.utils.data.Dataset):
    def __init__(self, samples, size):
        from torchvision import transforms as T
        self.samples = samples
        self.tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    def __len__(self): return len(self.samples)
    def __getitem__(self, i):
        from PIL import Image
        p, y = self.samples[i]
        return self.tf(Image.open(p).convert('RGB')), y


class _TVIO(torch.utils.data.Dataset):
    "The plain recipe of the issue's third row: decode_image + v2 transforms on the uint8 tensor"
    def __init__(self, samples, size):
        from torchvision.transforms import v2
        self.samples = samples
        self.tf = v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])
    def __len__(self): return len(self.samples)
    def __getitem__(self, i):
        from torchvision.io import decode_image, read_file, ImageReadMode
        p, y = self.samples[i]
        return self.tf(decode_image(read_file(str(p)), mode=ImageReadMode.RGB)), y


class _Bytes(torch.utils.data.Dataset):
    def __init__(self, samples): self.samples = samples
    def __len__(self): return len(self.samples)
    def __getitem__(self, i):
        from torchvision.io import read_file
        p, y = self.samples[i]
        return read_file(str(p)), y


def _bytes_collate(items):  # one buffer per batch: a tensor per file would cost a shared-memory handle per file
    return torch.cat([b for b, _ in items]), torch.tensor([len(b) for b, _ in items]), torch.tensor([y for _, y in items])


def loader(ds, a, dev, collate=None, fsdl=False):
    "A DataLoader as people write it (`--workers`, pinned memory), or with fsdl-dev's `loader_options`"
    opts = loader_options(dev, a.workers) if fsdl else dict(num_workers=a.workers, pin_memory=dev.type == 'cuda')
    return torch.utils.data.DataLoader(ds, a.batch, shuffle=True, drop_last=True, collate_fn=collate, **opts)


def feed(name, samples, a, dev):
    "An endless iterator of device batches for feed `name`"
    size = a.size
    norm = DeviceNormalize(MEAN, STD, channels_last=True).to(dev)
    cl = torch.channels_last
    def forever(make_iter):
        while True: yield from make_iter()
    if name == 'synthetic':
        x = torch.randn(a.batch, 3, size, size, device=dev).contiguous(memory_format=cl)
        y = torch.randint(0, 10, (a.batch,), device=dev)
        return forever(lambda: iter([(x, y)] * 1000))
    if name == 'pil':
        dl = loader(_PIL(samples, size), a, dev)
        return forever(lambda: ((x.to(dev, non_blocking=True).contiguous(memory_format=cl), y.to(dev, non_blocking=True))
                                for x, y in dl))
    if name in ('tvio', 'fsdl'):
        ds = _TVIO(samples, size) if name == 'tvio' else image_dataset(samples, dict(input_size=(3, size, size), mean=MEAN,
                                                                                     std=STD, interpolation='bilinear'), True)
        dl = loader(ds, a, dev, fsdl=name == 'fsdl')
        return forever(lambda: ((norm(x.to(dev, non_blocking=True)), y.to(dev, non_blocking=True)) for x, y in dl))
    if name == 'nvjpeg_loop':
        from torchvision.io import decode_jpeg, ImageReadMode
        from torchvision.transforms.v2 import functional as TF
        dl = loader(_Bytes(samples), a, dev, collate=_bytes_collate)
        rng = random.Random(0)
        def batches():
            for data, lengths, y in dl:
                imgs = decode_jpeg(list(data.split(lengths.tolist())), mode=ImageReadMode.RGB, device=dev)
                out = []
                for im in imgs:  # the per-image loop the issue measured
                    c = TF.resized_crop(im, *rrc_box(*im.shape[-2:], rng=rng), size=[size, size], antialias=True)
                    out.append(c.flip(-1) if rng.random() < 0.5 else c)
                yield norm(torch.stack(out)), y.to(dev, non_blocking=True)
        return forever(batches)
    if name == 'nvjpeg_roi':
        cfg = dict(input_size=(3, size, size), mean=MEAN, std=STD)
        ld = GPUDecodeLoader(samples, cfg, True, a.batch, device=dev, workers=a.workers, channels_last=True)
        return forever(lambda: iter(ld))
    raise ValueError(name)


def measure(name, samples, step, a, dev):
    "Time-to-first-batch, then warm-up steps, then timed steps; returns a result row"
    t0 = time.perf_counter()
    it = feed(name, samples, a, dev)
    x, y = next(it)
    sync(dev)
    ttfb = time.perf_counter() - t0
    step(x, y)
    for _ in range(a.warmup): step(*next(it))
    sync(dev)
    c0, t1 = cpu_busy(), time.perf_counter()
    for _ in range(a.steps): step(*next(it))
    sync(dev)
    dt = time.perf_counter() - t1
    u = util(c0, cpu_busy())
    it.close()  # releases the DataLoader, whose workers then shut down
    gc.collect()
    return dict(feed=name, img_s=a.batch * a.steps / dt, ttfb_s=ttfb, cpu_util=u)


def images(a, dev):
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        samples = make_folder(tmp, a.images, a.min_px, a.max_px)
        kib = sum(os.path.getsize(p) for p, _ in samples) / len(samples) / 1024
        print(f'wrote {len(samples)} JPEGs ({a.min_px}-{a.max_px} px, mean {kib:.0f} KiB) in {time.perf_counter()-t:.1f}s',
              flush=True)
        step = make_step(a, dev)
        t = time.perf_counter()
        x = torch.randn(a.batch, 3, a.size, a.size, device=dev).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (a.batch,), device=dev)
        for _ in range(1 if a.smoke else 3): step(x, y)  # compile here, not inside the first feed
        sync(dev)
        print(f'model {a.model}, batch {a.batch}, {a.size} px: warm-up (compile) {time.perf_counter()-t:.1f}s', flush=True)
        names = [f for f in a.feeds.split(',') if f != 'synthetic']
        rows = [measure('synthetic', samples, step, a, dev)]
        for n in names:
            try: rows.append(measure(n, samples, step, a, dev))
            except Exception as e:
                print(f'  {n}: FAILED ({type(e).__name__}: {e})', flush=True)
                continue
            r = rows[-1]
            print(f'  {n:<12} {r["img_s"]:>8.1f} img/s  first batch {r["ttfb_s"]:.2f}s', flush=True)
        if 'synthetic' in a.feeds.split(','): rows.append(measure('synthetic', samples, step, a, dev))
    syn = [r for r in rows if r['feed'] == 'synthetic']
    ceil = max(r['img_s'] for r in syn)
    both = ' and '.join(f"{r['img_s']:.1f}" for r in syn)
    print(f'\nsynthetic ceiling: {both} img/s (first and last); using {ceil:.1f}')
    print(f'{"feed":<14}{"img/s":>10}{"x synthetic":>13}{"first batch s":>15}{"CPU util":>10}')
    out = [rows[0]] + [r for r in rows if r['feed'] != 'synthetic']
    for r in out:
        r['x_synthetic'] = r['img_s'] / ceil
        u = '-' if r['cpu_util'] is None else f'{r["cpu_util"]:.0%}'
        tag = '  <- fsdl-dev default' if r['feed'] == 'fsdl' else ''
        print(f'{r["feed"]:<14}{r["img_s"]:>10.1f}{r["x_synthetic"]:>13.3f}{r["ttfb_s"]:>15.2f}{u:>10}{tag}')
    best = max((r for r in out if r['feed'] != 'synthetic'), key=lambda r: r['img_s'], default=None)
    fs = next((r for r in out if r['feed'] == 'fsdl'), None)
    if fs: print(f'fsdl-dev default at {fs["x_synthetic"]:.3f}x the synthetic ceiling (target >= 0.95)'
                 + (f'; best feed: {best["feed"]} at {best["x_synthetic"]:.3f}x' if best else ''))
    return dict(ceiling=ceil, rows=out)


# ---------------------------------------------------------------- text
def text(a, dev):
    from transformers import BertConfig, BertForSequenceClassification
    rng = random.Random(0)
    n = a.text_batch * a.text_batches
    lengths = [min(a.seq, int(rng.lognormvariate(3.3, 0.6)) + 2) for _ in range(n)]
    seqs = [[101] + [rng.randrange(1000, 30000) for _ in range(L - 2)] + [102] for L in lengths]
    cfg = BertConfig(num_hidden_layers=a.text_layers, hidden_size=a.text_hidden, num_attention_heads=a.text_heads,
                     intermediate_size=4 * a.text_hidden, num_labels=2)
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    cuda = dev.type == 'cuda'
    def step(b):
        b = {k: v.to(dev, non_blocking=True) for k, v in b.items()}
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
            loss = model(**b, labels=torch.zeros(b['input_ids'].shape[0], dtype=torch.long, device=dev)).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    B = a.text_batch
    def pad_max(batch):  # what `tokenizer(padding='max_length')` gives: every row `a.seq` long
        b = pad_batch(batch + [[0] * a.seq])
        return {k: v[:-1] for k, v in b.items()}
    rand = [list(range(i, i + B)) for i in range(0, n, B)]
    feeds = {
        'pad to max': [pad_max([seqs[i] for i in b]) for b in rand],
        'dynamic': [pad_batch([seqs[i] for i in b]) for b in rand],
        'length-grouped': [pad_batch([seqs[i] for i in b]) for b in length_grouped_batches(lengths, B, seed=0)],
    }
    real = sum(lengths)
    L = max(8, round(real / len(rand) / B / 8) * 8)  # the same token count per batch, all real, one fixed shape
    syn = dict(input_ids=torch.randint(1000, 30000, (B, L)), attention_mask=torch.ones(B, L, dtype=torch.long))
    feeds['synthetic'] = [syn] * len(rand)
    res = {}
    for name in ('synthetic', 'pad to max', 'dynamic', 'length-grouped', 'synthetic'):
        bs = feeds[name]
        for b in bs[:2]: step(b)  # warm-up (kernel selection for the first shapes)
        sync(dev)
        t = time.perf_counter()
        for b in bs: step(b)
        sync(dev)
        tok = sum(int(b['attention_mask'].sum()) for b in bs)
        pad = sum(b['input_ids'].numel() for b in bs) / tok - 1
        r = dict(tokens_s=tok / (time.perf_counter() - t), padding=pad)
        res[name] = max(res.get(name, r), r, key=lambda q: q['tokens_s'])
    ceil = res['synthetic']['tokens_s']
    print(f'\ntext: BERT {a.text_layers}x{a.text_hidden}, batch {B}, {len(rand)} batches, real lengths median '
          f'{statistics.median(lengths)} (max {a.seq}); synthetic: {B}x{L} fixed, same token count')
    print(f'{"feed":<16}{"real tokens/s":>15}{"x synthetic":>13}{"padding":>10}')
    for name, r in res.items():
        r['x_synthetic'] = r['tokens_s'] / ceil
        print(f'{name:<16}{r["tokens_s"]:>15.0f}{r["x_synthetic"]:>13.3f}{r["padding"]:>10.0%}')
    print(f'length-grouped at {res["length-grouped"]["x_synthetic"]:.3f}x fixed-length synthetic batches (target >= 0.95)')
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--smoke', action='store_true', help='tiny everything on the CPU (< 60 s); checks that the script works')
    p.add_argument('--feeds', default=','.join(FEEDS))
    p.add_argument('--images', type=int, default=None, help='JPEGs to write (default 6144, smoke 24)')
    p.add_argument('--min-px', type=int, default=300)
    p.add_argument('--max-px', type=int, default=500)
    p.add_argument('--model', default=None, help='timm model (default resnet50, smoke resnet10t)')
    p.add_argument('--batch', type=int, default=None, help='images per batch (default 256, smoke 8)')
    p.add_argument('--size', type=int, default=None, help='crop size (default 224, smoke 64)')
    p.add_argument('--steps', type=int, default=None, help='timed steps per feed (default 20, smoke 2)')
    p.add_argument('--warmup', type=int, default=None, help='warm-up steps per feed (default 3, smoke 1)')
    p.add_argument('--workers', type=int, default=None, help='DataLoader workers (default: default_workers())')
    p.add_argument('--no-compile', action='store_true')
    p.add_argument('--text', action=argparse.BooleanOptionalAction, default=True, help='also the text batches')
    p.add_argument('--no-images', action='store_true')
    p.add_argument('--json', default=None)
    a = p.parse_args(argv)
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if dev.type == 'cpu' and not a.smoke:
        print('no GPU here: running the --smoke sizes on the CPU instead (numbers are not meaningful)')
        a.smoke = True
    sm = a.smoke
    a.images = a.images or (16 if sm else 6144)
    if sm: a.min_px, a.max_px = min(a.min_px, 120), min(a.max_px, 200)
    a.model = a.model or ('resnet10t' if sm else 'resnet50')
    a.batch = a.batch or (4 if sm else 256)
    a.size = a.size or (32 if sm else 224)
    a.steps = a.steps or (2 if sm else 20)  # 1 + 3 + 20 batches of 256 = one pass over 6,144 images
    a.warmup = a.warmup or (1 if sm else 3)
    a.workers = default_workers() if a.workers is None else a.workers
    a.seq, a.text_batch, a.text_batches = (32, 8, 3) if sm else (128, 64, 40)
    a.text_layers, a.text_hidden, a.text_heads = (2, 64, 2) if sm else (12, 768, 12)
    if sm: torch.set_num_threads(min(2, torch.get_num_threads()))
    card = torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'CPU'
    print(f'device: {card}; torch {torch.__version__}; {os.cpu_count()} CPUs, {a.workers} workers; '
          f'{a.steps} timed steps per feed' + (' (smoke: not a measurement)' if sm else ''), flush=True)
    t0 = time.perf_counter()
    out = dict(device=card, torch=torch.__version__, workers=a.workers)
    if not a.no_images: out['images'] = images(a, dev)
    if a.text: out['text'] = text(a, dev)
    print(f'total {time.perf_counter()-t0:.0f}s on {card}')
    if a.json:
        with open(a.json, 'w') as f: json.dump(out, f, indent=2, default=str)
    return 0


if __name__ == '__main__':
    sys.exit(main())

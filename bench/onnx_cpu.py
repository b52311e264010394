"""ONNX Runtime on a 2-core CPU vs torch eager, against the targets of issue 4 (all ratios measured in this run).

Model: a 6-layer BERT, hidden 384, 12 heads, intermediate 1536 (the all-MiniLM-L6 shape), random init; batch 1, sequence 128, 2 threads.
Runtimes, timed in interleaved rounds (a noisy neighbour slows all of them alike):
  torch eager (SDPA attention), ORT fp32 with a default session on the dynamo export, ORT fp32 optimized
  (TorchScript export of eager attention + ORT transformer optimizer, intra-op threads 2, graph optimization ALL),
  int8 dynamic per-channel (and per-tensor for contrast), with the mean-pooled embedding cosine against fp32.
Parity: the MiniLM-shape BERT over batch 1,2,4 x sequence 8,64,128 (dynamo export and optimized file), and timm resnet18.

Run: python bench/onnx_cpu.py [--iters 20] [--rounds 5] [--threads 2]
"""
import argparse, json, os, sys, tempfile, time, warnings
from pathlib import Path

import numpy as np
import torch

from fsdl_dev.core import text_table
from fsdl_dev.onnx import as_target, export_onnx, check_parity, ort_session, _feed
from fsdl_dev.ort import (optimize_onnx, quantize_int8, eager_attention, time_interleaved, torch_threads, cosines, pooled, _heads_hidden)


def ort_version():
    import onnxruntime
    return onnxruntime.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--iters', type=int, default=20); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    from transformers import BertConfig, BertModel
    import timm
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    model = BertModel(cfg).eval()
    vocab = cfg.vocab_size
    def text_inputs(batch_size=1, seq_len=128):
        g = torch.Generator().manual_seed(batch_size * 1000 + seq_len)
        return {'input_ids': torch.randint(0, vocab, (batch_size, seq_len), generator=g), 'attention_mask': torch.ones(batch_size, seq_len, dtype=torch.long),
                'token_type_ids': torch.zeros(batch_size, seq_len, dtype=torch.long)}
    t = as_target(model, text_inputs)
    d = Path(tempfile.mkdtemp())
    print(f'exporting to {d} ...', file=sys.stderr)
    dyn = export_onnx(t, d/'minilm_dynamo.onnx')
    with eager_attention(t): ts = export_onnx(t, d/'minilm_ts.onnx', exporter='torchscript')
    opt = optimize_onnx(d/'minilm_ts.onnx', d/'minilm_opt.onnx', 'bert', *_heads_hidden(cfg))
    q_pc = quantize_int8(d/'minilm_opt.onnx', d/'minilm_int8_pc.onnx', t, per_channel=True, shapes=[dict(batch_size=4, seq_len=128)])
    q_pt = quantize_int8(d/'minilm_opt.onnx', d/'minilm_int8_pt.onnx', t, per_channel=False, shapes=[dict(batch_size=4, seq_len=128)])

    # latency: batch 1, sequence 128, `threads` threads everywhere
    x = t.inputs(1, 128, pad=False)
    s_def = ort_session(d/'minilm_dynamo.onnx')            # a default session: ORT's own thread count and optimization level
    s_opt = ort_session(d/'minilm_opt.onnx', threads=a.threads, opt_level='all')
    s_pc = ort_session(d/'minilm_int8_pc.onnx', threads=a.threads)
    s_pt = ort_session(d/'minilm_int8_pt.onnx', threads=a.threads)
    s_dyn2 = ort_session(d/'minilm_dynamo.onnx', threads=a.threads)
    s_opt1, s_pc1 = ort_session(d/'minilm_opt.onnx', threads=1), ort_session(d/'minilm_int8_pc.onnx', threads=1)  # best-vs-best under load
    feeds = {k: _feed(s, x) for k, s in dict(def_=s_def, opt=s_opt, pc=s_pc, pt=s_pt, dyn2=s_dyn2, opt1=s_opt1, pc1=s_pc1).items()}
    def eager1():  # torch's OpenMP pool suffers most when other processes share the cores; 1 thread is the conservative baseline then
        with torch_threads(1): t.module(*x.values())
    fns = {'torch eager': lambda: t.module(*x.values()), 'torch eager, 1 thread': eager1,
           'ORT fp32, default session (dynamo export)': lambda: s_def.run(None, feeds['def_']),
           f'ORT fp32, dynamo export, {a.threads} threads': lambda: s_dyn2.run(None, feeds['dyn2']),
           'ORT fp32, optimized (fused)': lambda: s_opt.run(None, feeds['opt']),
           'ORT int8 per-channel': lambda: s_pc.run(None, feeds['pc']),
           'ORT int8 per-tensor': lambda: s_pt.run(None, feeds['pt']),
           'ORT fp32, optimized, 1 thread': lambda: s_opt1.run(None, feeds['opt1']),
           'ORT int8 per-channel, 1 thread': lambda: s_pc1.run(None, feeds['pc1'])}
    print('timing ...', file=sys.stderr); load0 = os.getloadavg()[0]
    with torch_threads(a.threads), torch.inference_mode(): lat = time_interleaved(fns, warmup=5, iters=a.iters, rounds=a.rounds)
    eager = min(lat['torch eager']['median_ms'], lat['torch eager, 1 thread']['median_ms'])  # ratios against the faster eager: conservative
    cos = {'ORT int8 per-channel': q_pc, 'ORT int8 per-tensor': q_pt, 'ORT int8 per-channel, 1 thread': q_pc}
    rows = [(k, f"{v['median_ms']:.2f}", f"{v['p90_ms']:.2f}", f"{eager / v['median_ms']:.2f}x",
             f"{cos[k].pooled_cosine:.5f}" if k in cos else '-', f"{cos[k].cosine:.5f}" if k in cos else '-', f"{cos[k].max_diff:.3g}" if k in cos else '-')
            for k, v in lat.items()]
    load = os.getloadavg()[0]
    print(f"\nMiniLM-shape BERT (6 x 384, 12 heads), batch 1, seq 128, {a.threads} threads; torch {torch.__version__}, onnxruntime {ort_version()}; "
          f"{os.cpu_count()} CPUs, 1-min load average {load0:.1f} before timing, {load:.1f} after (other processes make every number slower)")
    print(text_table(rows, ['runtime', 'median ms', 'p90 ms', 'vs eager', 'pooled cos vs fp32', 'token cos (min row)', 'max diff']))
    print(f"'vs eager' divides by the faster torch eager row ({eager:.2f} ms). fusions (TorchScript export, eager attention): {opt.fused}")

    # parity
    print('\nparity ...', file=sys.stderr)
    par_dyn = check_parity(t, d/'minilm_dynamo.onnx')
    par_opt = check_parity(t, d/'minilm_opt.onnx')
    r18 = as_target(timm.create_model('resnet18', pretrained=False), lambda batch_size=2, image_size=None: {'pixel_values': torch.randn(batch_size, 3, image_size or 224, image_size or 224)})
    export_onnx(r18, d/'r18.onnx')
    par_r18 = check_parity(r18, d/'r18.onnx', batch_sizes=(1, 2, 4))
    worst = lambda r: max((max(x['max_abs'] for x in r.rows if x.get(k) == v and x['batch_size'] == b) for b, k, v in
                          {(x['batch_size'], 'seq_len' if 'seq_len' in x else 'image_size', x.get('seq_len', x.get('image_size'))) for x in r.rows}), default=0)
    print(f"MiniLM dynamo export: {len(par_dyn.shapes)} shapes, max abs {par_dyn.max_abs:.2e}, {'pass' if par_dyn.passed else 'FAIL'}")
    print(f"MiniLM optimized:     {len(par_opt.shapes)} shapes, max abs {par_opt.max_abs:.2e}, {'pass' if par_opt.passed else 'FAIL'}")
    print(f"resnet18:             {len(par_r18.shapes)} shapes, max abs {par_r18.max_abs:.2e}, {'pass' if par_r18.passed else 'FAIL'}")

    best32 = min(lat['ORT fp32, optimized (fused)']['median_ms'], lat[f'ORT fp32, dynamo export, {a.threads} threads']['median_ms'])
    e2 = lat['torch eager']['median_ms']  # the specified baseline: torch eager at `threads` threads
    i8_2 = lat['ORT int8 per-channel']['median_ms']
    best32_any = min(best32, lat['ORT fp32, optimized, 1 thread']['median_ms'])  # conservative: each runtime at its best thread count
    i8 = min(i8_2, lat['ORT int8 per-channel, 1 thread']['median_ms'])
    r = lambda num, den: (num / den, e2 / den)
    fmt = lambda x: f'{x:.3g}'
    targets = [  # (name, ratio vs the faster eager (conservative), ratio vs eager at `threads` threads, target)
        ('ORT fp32 (best file) vs torch eager >= 1.5x', eager / best32_any, e2 / best32, 1.5),
        ('ORT fp32 default session vs torch eager (anchor 1.37x)', eager / lat['ORT fp32, default session (dynamo export)']['median_ms'],
         e2 / lat['ORT fp32, default session (dynamo export)']['median_ms'], None),
        ('int8 per-channel vs torch eager >= 2.5x', eager / i8, e2 / i8_2, 2.5),
    ]
    rows = [(n, fmt(c), fmt(s_), '-' if tg is None else f'>= {tg:g}', '-' if tg is None else ('MET' if c >= tg else 'NOT MET'), '-' if tg is None else ('MET' if s_ >= tg else 'NOT MET'))
            for n, c, s_, tg in targets]
    checks = [('int8 per-channel pooled cosine >= 0.99', q_pc.pooled_cosine, 0.99, q_pc.pooled_cosine >= 0.99),
              ('MiniLM parity max abs <= 1e-4, every grid shape (dynamo)', par_dyn.max_abs, 1e-4, par_dyn.max_abs <= 1e-4),
              ('MiniLM parity max abs <= 1e-4, every grid shape (optimized)', par_opt.max_abs, 1e-4, par_opt.max_abs <= 1e-4),
              ('resnet18 parity max abs <= 1e-5', par_r18.max_abs, 1e-5, par_r18.max_abs <= 1e-5)]
    rows += [(n, fmt(v), fmt(v), f'<= {tg:g}' if 'parity' in n else f'>= {tg:g}', 'MET' if ok else 'NOT MET', 'MET' if ok else 'NOT MET') for n, v, tg, ok in checks]
    print('\n' + text_table(rows, ['target', 'best vs best (1|2 thr)', f'vs eager {a.threads} thr', 'target', 'verdict (conservative)', f'verdict ({a.threads} thr)']))
    if load0 > (os.cpu_count() or 1): print(f"note: the load average ({load0:.1f}) exceeds the {os.cpu_count()} cores; torch's thread pool slows down most under contention, "
                                           "so the conservative column (each runtime at the faster of 1 and 2 threads) is the one to trust")
    targets = [(n, c, tg, None if tg is None else c >= tg) for n, c, _, tg in targets] + checks
    if a.json:
        Path(a.json).write_text(json.dumps(dict(latency=lat, fused=opt.fused, int8_pc=q_pc.to_dict(), int8_pt=q_pt.to_dict(),
                                                parity=dict(dynamo=par_dyn.max_abs, optimized=par_opt.max_abs, resnet18=par_r18.max_abs),
                                                targets=[dict(name=n, value=v, target=tg, met=ok) for n, v, tg, ok in targets]), indent=1))


if __name__ == '__main__':
    main()

"""int8 on a CNN: dynamic (ConvInteger) against static QDQ (QLinearConv), both against ORT fp32 and torch eager, in one run.

Model: timm resnet18, random init (latency does not depend on the weights), batch 1, 224 px, 2 threads.
Static int8 is calibrated on `--calib` batches of random images and its delta measured on other random images
of the same distribution (the tour measures accuracy on real digits; this script measures speed).
Runtimes are timed in interleaved rounds, so a noisy neighbour slows all of them alike; ratios are within this run.

Run: python bench/int8_cnn.py [--iters 20] [--rounds 5] [--threads 2] [--image-size 224]
"""
import argparse, os, sys, tempfile, warnings
from pathlib import Path

import torch

from fsdl_dev.core import text_table
from fsdl_dev.onnx import as_target, export_onnx, ort_session, feed_inputs
from fsdl_dev.optimize import op_counts
from fsdl_dev.quantize import quantize_int8
from fsdl_dev.benchmark import time_interleaved, torch_threads


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--iters', type=int, default=20); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--image-size', type=int, default=224)
    ap.add_argument('--calib', type=int, default=4, help='calibration batches of 4 images')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    import timm
    torch.manual_seed(0)
    s = a.image_size
    t = as_target(timm.create_model('resnet18', pretrained=False).eval(),
                  lambda batch_size=2, image_size=None: {'pixel_values': torch.randn(batch_size, 3, image_size or s, image_size or s)})
    d = Path(tempfile.mkdtemp())
    print(f'exporting and quantizing in {d} ...', file=sys.stderr)
    export_onnx(t, d/'r18.onnx')
    held_out = [t.inputs(4) for _ in range(2)]
    q_dyn = quantize_int8(d/'r18.onnx', d/'r18_dyn.onnx', t, op_types=['Conv', 'MatMul', 'Gemm'], inputs=held_out)
    q_st = quantize_int8(d/'r18.onnx', d/'r18_static.onnx', t, calibration=[t.inputs(4) for _ in range(a.calib)], inputs=held_out)
    x = t.inputs(1, image_size=s)
    sess = {'ORT fp32': ort_session(d/'r18.onnx', threads=a.threads), 'ORT int8 dynamic (ConvInteger)': ort_session(d/'r18_dyn.onnx', threads=a.threads),
            'ORT int8 static QDQ': ort_session(d/'r18_static.onnx', threads=a.threads)}
    feeds = {k: feed_inputs(v, x) for k, v in sess.items()}
    fns = {'torch eager': lambda: t.module(*x.values()), **{k: (lambda k=k: sess[k].run(None, feeds[k])) for k in sess}}
    load0 = os.getloadavg()[0]
    print('timing ...', file=sys.stderr)
    with torch_threads(a.threads), torch.inference_mode(): lat = time_interleaved(fns, warmup=5, iters=a.iters, rounds=a.rounds)
    q = {'ORT int8 dynamic (ConvInteger)': q_dyn, 'ORT int8 static QDQ': q_st}
    eager, fp32 = lat['torch eager']['median_ms'], lat['ORT fp32']['median_ms']
    rows = [(k, f"{v['median_ms']:.2f}", f"±{v['spread_pct']:.0f}%", f"{v['p90_ms']:.2f}", f"{eager / v['median_ms']:.2f}x", f"{fp32 / v['median_ms']:.2f}x",
             f"{q[k].cosine:.5f}" if k in q else '-', f"{q[k].size_mb:.1f}" if k in q else f"{q_st.fp32_size_mb:.1f}" if k == 'ORT fp32' else '-')
            for k, v in lat.items()]
    print(f"\nresnet18, batch 1, {s} px, {a.threads} threads; torch {torch.__version__}; {os.cpu_count()} CPUs, "
          f"1-min load {load0:.1f} before timing, {os.getloadavg()[0]:.1f} after")
    print(text_table(rows, ['runtime', 'median ms', 'spread', 'p90 ms', 'vs eager', 'vs ORT fp32', 'cosine vs fp32 (held out)', 'size MB']))
    noisy = [k for k, v in lat.items() if not v['spread_pct'] <= 25]
    if noisy: print(f"WARNING: noisy machine: the rounds of {', '.join(noisy)} differ by more than 25% of the median; rerun on a quiet machine")
    ops = op_counts(d/'r18_static.onnx')
    print(f"static file: {ops.get('QuantizeLinear', 0)} QuantizeLinear, {ops.get('DequantizeLinear', 0)} DequantizeLinear around {ops.get('Conv', 0)} Conv; "
          f"dynamic file: {op_counts(d/'r18_dyn.onnx').get('ConvInteger', 0)} ConvInteger")
    ok = fp32 / lat['ORT int8 static QDQ']['median_ms'] >= 1.0 and q_st.cosine >= 0.99
    print(f"target: static int8 at least as fast as ORT fp32 with cosine >= 0.99: {'MET' if ok else 'NOT MET'}")


if __name__ == '__main__':
    main()

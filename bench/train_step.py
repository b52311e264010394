"""CPU benchmark: the overhead of fsdl-dev's `TrainStep` over a raw PyTorch training loop.

Same model, same data, same optimizer, same process. The raw loop is the three lines everyone writes
(forward+loss, backward, step, zero_grad); the helper adds autocast handling, the non-finite guard (a gradient
norm and a flag per optimizer step: read on the host with a plain optimizer, decided on the device with `--fused`,
where the fused AdamW skips a bad step itself), GradScaler plumbing and scheduler bookkeeping.
The two are interleaved in rounds (A B A B ...) so that drift from other jobs on the machine hits both,
and per-step times are compared. Target: overhead <= 3%.

The clock is this process's CPU time by default (`time.process_time`), with one torch thread: on a machine
shared with other jobs, wall time measures the neighbours as much as the code (we saw p90s 10x the p10 on
2 shared cores), while CPU time counts only the cycles this process ran. `--clock wall --threads 2` gives
wall-clock numbers on a quiet machine. The headline ratio uses the 10th percentile of the step times
(the steps least disturbed); the median ratio is printed too.
Both precisions are timed (raw bf16 autocast loop vs TrainStep bf16-mixed too): the bf16/fp32 ratio is how `auto` on the CPU was decided.

    python bench/train_step.py [--model resnet10t] [--batch-size 64] [--rounds 7] [--steps 15] [--threads 2] [--fused]
"""
import argparse, statistics, sys, time

import torch
import torch.nn.functional as F


def make(name, seed=0):
    import timm
    torch.manual_seed(seed)
    m = timm.create_model(name, pretrained=False, num_classes=10, in_chans=1)
    return m.to(memory_format=torch.channels_last)


CLOCK = time.process_time


def raw_loop(model, opt, x, y, steps, bf16=False):
    "The plain loop: forward (under bf16 autocast if asked), loss, backward, step, zero_grad"
    ts = []
    for _ in range(steps):
        t = CLOCK()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): loss = F.cross_entropy(model(x), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        ts.append(CLOCK() - t)
    return ts


def helper_loop(step, x, y, steps):
    "The same steps through fsdl-dev's TrainStep"
    ts = []
    for _ in range(steps):
        t = CLOCK()
        step((x, y))
        ts.append(CLOCK() - t)
    return ts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', default='resnet10t')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--image-size', type=int, default=32)
    p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--steps', type=int, default=15, help='steps per round and variant')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--clock', choices=['cpu', 'wall'], default='cpu', help='process CPU time (robust on a shared machine) or wall time')
    p.add_argument('--no-bf16', action='store_true', help='skip the bf16-mixed variant')
    p.add_argument('--fused', action='store_true', help='fused AdamW in both loops (the helper then decides on the device)')
    a = p.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if a.clock == 'cpu' else time.perf_counter
    torch.set_num_threads(a.threads)
    from fsdl_dev.amp import TrainStep, resolve_precision
    pol = resolve_precision('auto', 'cpu')
    torch.manual_seed(0)
    x = torch.randn(a.batch_size, 1, a.image_size, a.image_size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (a.batch_size,))
    variants = {}
    for prec in ('32-true', 'bf16-mixed'):
        m_raw, m_help = make(a.model), make(a.model)
        o_raw = torch.optim.AdamW(m_raw.parameters(), lr=1e-3, fused=a.fused or None)
        o_help = torch.optim.AdamW(m_help.parameters(), lr=1e-3, fused=a.fused or None)
        step = TrainStep(m_help, o_help, resolve_precision(prec, 'cpu'), channels_last=True)
        bf = prec == 'bf16-mixed'
        variants[f'raw loop ({prec})'] = lambda n, m=m_raw, o=o_raw, bf=bf: raw_loop(m, o, x, y, n, bf)
        variants[f'TrainStep ({prec})'] = lambda n, st=step: helper_loop(st, x, y, n)
    if a.no_bf16: variants = {k: v for k, v in variants.items() if 'bf16' not in k}
    for fn in variants.values(): fn(5)  # warm-up (oneDNN primitive caches, allocator)
    times = {k: [] for k in variants}
    names = list(variants)
    for r in range(a.rounds):
        for k in (names if r % 2 == 0 else names[::-1]): times[k].extend(variants[k](a.steps))
    print(f'model {a.model}, batch {a.batch_size}x1x{a.image_size}x{a.image_size}; auto precision on this CPU: {pol.name} ({pol.reason})')
    print(f'threads {torch.get_num_threads()}, clock: {"process CPU time" if a.clock == "cpu" else "wall"}, {a.rounds} rounds x {a.steps} steps per variant, interleaved')
    print(f'{"variant":<26}{"p10 ms/step":>12}{"median":>10}{"p90":>10}{"samples/s (p10)":>17}')
    stat = {}
    for name, ts in times.items():
        q = statistics.quantiles([t * 1000 for t in ts], n=10)
        stat[name] = (q[0], statistics.median(ts) * 1000)
        print(f'{name:<26}{q[0]:>12.2f}{stat[name][1]:>10.2f}{q[-1]:>10.2f}{a.batch_size/q[0]*1000:>17.1f}')
    for prec in ('32-true', 'bf16-mixed'):
        if f'raw loop ({prec})' not in stat: continue
        raw, help_ = stat[f'raw loop ({prec})'], stat[f'TrainStep ({prec})']
        ratio = help_[0] / raw[0]
        print(f'overhead of TrainStep over the raw loop, {prec}: {100*(ratio-1):+.2f}% at p10 (ratio {ratio:.4f}; target <= +3%), '
              f'{100*(help_[1]/raw[1]-1):+.2f}% at the median' + ('   <- the auto policy here' if prec == pol.name else ''))
    if 'TrainStep (bf16-mixed)' in stat:
        print(f'bf16-mixed vs 32-true TrainStep on this CPU: {stat["TrainStep (bf16-mixed)"][0]/stat["TrainStep (32-true)"][0]:.3f}x the time per step (p10)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""Time PyTorch's optimizer steps on the CPU, in float32, for the host benchmark table.

The configurations are those of benches/optim.rs: one flat float32 parameter tensor of N
elements, gradients that alternate between g and -g step by step, and

    sgd       SGD(lr=1e-3, foreach=True)
    momentum  SGD(lr=1e-3, momentum=0.9, foreach=True)
    adam      Adam(lr=1e-3, foreach=True)
    adamw     AdamW(lr=1e-3, foreach=True)            (weight_decay 1e-2, torch's default)
    rmsprop   RMSprop(lr=1e-2, foreach=True)
    adagrad   Adagrad(lr=1e-2, foreach=True)
    lion      not in torch.optim: the authors' rule (lr 1e-4, betas 0.9/0.99, no decay) written
              as in-place tensor ops under no_grad, the way their reference code does it

Method: per (optimizer, N, thread count) a fresh parameter and optimizer, warm-up (at least 0.1 s
and 5 steps), then batches of k steps (k chosen so that a batch lasts about 5 ms, at least 1
step), 21 batches; the result is the median over batches of the time per step.  Each step sets
p.grad and calls opt.step(), which is what a training loop pays besides the backward pass.

Usage:
    python3 scripts/torch_bench.py [--threads 1] [--sizes 64,1024,...] [--json OUT]
Used as a module by scripts/bench-host.py (function `run`).
"""

import argparse
import json
import statistics
import sys
import time

OPTIMIZERS = ["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "lion"]
SIZES = [64, 1024, 65536, 1048576]


class Lion:
    """Lion (Chen et al. 2023) in torch tensor ops, from the rule in optimizer-spec.md."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        import torch

        self.params = list(params)
        self.lr, self.betas, self.wd = lr, betas, weight_decay
        self.exp_avg = [torch.zeros_like(p) for p in self.params]

    def step(self):
        import torch

        b1, b2 = self.betas
        with torch.no_grad():
            for p, m in zip(self.params, self.exp_avg):
                g = p.grad
                p.mul_(1 - self.lr * self.wd)
                c = m.mul(b1).add_(g, alpha=1 - b1)
                p.add_(torch.sign(c), alpha=-self.lr)
                m.mul_(b2).add_(g, alpha=1 - b2)


def make(name, params):
    import torch

    opt = torch.optim
    if name == "sgd":
        return opt.SGD(params, lr=1e-3, foreach=True)
    if name == "momentum":
        return opt.SGD(params, lr=1e-3, momentum=0.9, foreach=True)
    if name == "adam":
        return opt.Adam(params, lr=1e-3, foreach=True)
    if name == "adamw":
        return opt.AdamW(params, lr=1e-3, foreach=True)
    if name == "rmsprop":
        return opt.RMSprop(params, lr=1e-2, foreach=True)
    if name == "adagrad":
        return opt.Adagrad(params, lr=1e-2, foreach=True)
    if name == "lion":
        return Lion(params, lr=1e-4)
    raise ValueError(name)


def time_step(name, n, batch_seconds=5e-3, batches=21):
    """Median seconds per step of optimizer `name` over `n` float32 parameters."""
    import torch

    gen = torch.Generator().manual_seed(20261129)
    p = torch.nn.Parameter(torch.rand(n, generator=gen) * 2 - 1)
    g = torch.rand(n, generator=gen) - 0.5
    grads = [g, -g]
    opt = make(name, [p])
    k = 0

    def steps(count):
        nonlocal k
        for _ in range(count):
            k ^= 1
            p.grad = grads[k]
            opt.step()

    # Warm-up: lazy state creation, allocator, caches.
    start, count = time.perf_counter(), 0
    while count < 5 or time.perf_counter() - start < 0.1:
        steps(1)
        count += 1
    one = (time.perf_counter() - start) / count
    per_batch = max(1, int(batch_seconds / max(one, 1e-9)))
    samples = []
    for _ in range(batches):
        t0 = time.perf_counter()
        steps(per_batch)
        samples.append((time.perf_counter() - t0) / per_batch)
    if not torch.isfinite(p).all():
        raise RuntimeError(f"{name} N={n}: non-finite parameters")
    return statistics.median(samples)


def run(threads_list=(1,), sizes=SIZES, optimizers=OPTIMIZERS, log=None):
    """{"torch": version, "results": {"<threads>": {"<opt>/<N>": seconds per step}}}."""
    import torch

    default_threads = torch.get_num_threads()
    out = {"torch": torch.__version__, "default_threads": default_threads, "results": {}}
    for threads in threads_list:
        threads = default_threads if threads in (0, None) else threads
        torch.set_num_threads(threads)
        res = out["results"].setdefault(str(threads), {})
        for name in optimizers:
            for n in sizes:
                res[f"{name}/{n}"] = time_step(name, n)
                if log:
                    log(f"torch {threads}t {name}/{n}: {res[f'{name}/{n}'] * 1e6:.2f} us/step")
    torch.set_num_threads(default_threads)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1", help="comma-separated thread counts; 0 = torch's default")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    out = run(
        threads_list=[int(t) for t in args.threads.split(",")],
        sizes=[int(s) for s in args.sizes.split(",")],
        optimizers=args.optimizers.split(","),
        log=lambda s: print(s, file=sys.stderr),
    )
    text = json.dumps(out, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()

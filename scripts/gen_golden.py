#!/usr/bin/env python3
"""Generate (and verify) the optimizer golden file `tests/data/optim-golden.json`.

PyTorch (CPU, float64, single-tensor path `foreach=False`) is the reference for
sgd, adam, adamw, rmsprop and adagrad.  Lion is not part of torch.optim; it is
computed here in float64 with torch tensor ops from the update rule in
the project's optimizer spec (decoupled decay, c = b1*m + (1-b1)*g with the old m,
p -= lr*sign(c), then m = b2*m + (1-b2)*g).

Usage:
    python3 scripts/gen_golden.py [--seed S] [--cases K] [--out PATH] [--self-check]
    python3 scripts/gen_golden.py --check PATH        # verify only; needs numpy, not torch
    python3 scripts/gen_golden.py --f32-report PATH   # torch float32 drift vs the file

`--cases K` is the number of cases PER OPTIMIZER (six optimizers).

Every input (param0, every gradient, every float hyperparameter that is
written) is exactly representable in float32, so a float32 implementation
can be fed bit-identical inputs.  Floats are written with Python's shortest
round-trip repr (json.dumps of Python floats obtained via float64 .tolist()).

The self-check is an independent numpy float64 re-implementation of the six
rules; it re-runs every case of the file and compares every step's
parameters and the final state with |d| / (1 + |golden|) <= 1e-12.
"""

import argparse
import datetime
import json
import math
import os
import platform
import sys

import numpy as np

SCHEMA = "optim-golden/v1"
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "lion")
REGIMES = ("normal", "wide", "zeros", "decaying")
# `--corners`: regimes aimed at the corners of the error bounds (see `corner_case`).
CORNER_REGIMES = ("momentum_large", "alternating", "beta_edge", "amsgrad_maximize",
                  "eps_decay_extreme", "format_edge")
ALL_REGIMES = REGIMES + CORNER_REGIMES
DEFAULT_SEED = 20261129
DEFAULT_CASES = 50  # per optimizer
SELF_CHECK_TOL = 1e-12
F32_BAR = 1e-5

# torch's constructor defaults (torch 2.15); Lion: google/automl reference defaults.
# A hyperparameter absent from a case means "this default".
DEFAULTS = {
    "sgd": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
            "nesterov": False, "maximize": False},
    "adam": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
             "amsgrad": False, "maximize": False},
    "adamw": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2,
              "amsgrad": False, "maximize": False},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0,
                "momentum": 0.0, "centered": False, "maximize": False},
    "adagrad": {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0,
                "initial_accumulator_value": 0.0, "eps": 1e-10, "maximize": False},
    "lion": {"lr": 1e-4, "betas": [0.9, 0.99], "weight_decay": 0.0},
}

# Order in which hyperparameter and state keys are written.
HP_ORDER = ("lr", "betas", "alpha", "eps", "momentum", "dampening", "weight_decay",
            "nesterov", "centered", "lr_decay", "initial_accumulator_value", "amsgrad",
            "maximize")
STATE_ORDER = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer",
               "square_avg", "grad_avg", "sum")

# Shapes every optimizer gets first (n, steps), so the extremes are always covered.
EDGE_SHAPES = ((1, 1), (32, 1), (1, 200), (3, 200), (32, 12))


# ----------------------------------------------------------------------------
# Random inputs
# ----------------------------------------------------------------------------

def f32(x):
    """Round a Python float through float32 and return it as a Python float."""
    return float(np.float32(x))


def f32_array(a):
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


def loguniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def one_minus_loguniform(rng, lo, hi):
    """A beta-like value in [lo, hi): 1 - beta is log-uniform, so 0.9/0.99/0.999-like values all occur."""
    return 1.0 - loguniform(rng, 1.0 - hi, 1.0 - lo)


def pick_shape(rng):
    """(n, steps). Long runs get short vectors to keep the file small."""
    u = rng.random()
    if u < 0.30:
        return int(rng.integers(1, 33)), int(rng.integers(1, 11))
    if u < 0.75:
        return int(rng.integers(1, 9)), int(rng.integers(11, 61))
    return int(rng.integers(1, 4)), int(rng.integers(61, 201))


def make_param0(rng, n):
    scale = loguniform(rng, 0.01, 3.0)
    return f32_array(rng.normal(0.0, scale, n))


def make_grads(rng, regime, n, steps):
    shape = (steps, n)
    if regime == "normal":
        g = rng.normal(0.0, loguniform(rng, 1e-3, 10.0), shape)
    elif regime == "wide":
        mag = 10.0 ** rng.uniform(-8.0, 3.0, shape)
        g = mag * rng.choice(np.array([-1.0, 1.0]), shape)
    elif regime == "zeros":
        g = rng.normal(0.0, loguniform(rng, 1e-3, 10.0), shape)
        if rng.random() < 0.15:
            g[:, :] = 0.0  # every gradient zero
        else:
            # some elements are always zero
            if n >= 2:
                k = int(rng.integers(1, n))  # 1 .. n-1 elements
                g[:, rng.choice(n, size=k, replace=False)] = 0.0
            elif rng.random() < 0.5:
                g[:, :] = 0.0
            # some steps are entirely zero (often the first one)
            zero_steps = rng.random(steps) < 0.3
            if rng.random() < 0.4:
                zero_steps[0] = True
            if steps >= 2 and not zero_steps.any():
                zero_steps[int(rng.integers(0, steps))] = True
            g[zero_steps, :] = 0.0
            # and a few scattered zero entries
            g[rng.random(shape) < 0.1] = 0.0
    elif regime == "decaying":
        g = rng.normal(0.0, loguniform(rng, 1e-3, 10.0), shape)
        t = np.arange(steps, dtype=np.float64)
        if rng.random() < 0.5:
            factor = rng.uniform(0.85, 0.99) ** t  # geometric
        else:
            factor = 1.0 / (t + 1.0)  # 1/t
        g = g * factor[:, None]
    else:
        raise ValueError(regime)
    return f32_array(g)


def sample_hparams(rng, opt, sparse):
    """Random but sensible hyperparameters; all sampled floats rounded to float32.

    In a `sparse` case some hyperparameters are set to torch's default and then
    omitted from the written dict (for adamw weight_decay is always omitted there,
    so a reader must know that AdamW's default is 1e-2)."""
    flag = lambda p: bool(rng.random() < p)
    zero_or = lambda p_zero, sampler: 0.0 if flag(p_zero) else f32(sampler())
    h = {}
    if opt == "sgd":
        h["lr"] = f32(loguniform(rng, 1e-5, 0.5))
        h["momentum"] = zero_or(0.35, lambda: rng.uniform(0.1, 0.99))
        h["dampening"] = zero_or(0.5, lambda: rng.uniform(0.05, 0.9))
        h["weight_decay"] = zero_or(0.4, lambda: loguniform(rng, 1e-5, 1e-1))
        h["nesterov"] = False  # decided below, once momentum/dampening are final
        h["maximize"] = flag(0.3)
        nesterov_coin = flag(0.5)
    elif opt in ("adam", "adamw"):
        h["lr"] = f32(loguniform(rng, 1e-5, 1e-1))
        h["betas"] = [f32(one_minus_loguniform(rng, 0.5, 0.9999)),
                      f32(one_minus_loguniform(rng, 0.5, 0.9999))]
        h["eps"] = f32(loguniform(rng, 1e-10, 1e-3))
        h["weight_decay"] = zero_or(0.35, lambda: loguniform(rng, 1e-4, 0.2))
        h["amsgrad"] = flag(0.5)
        h["maximize"] = flag(0.3)
    elif opt == "rmsprop":
        h["lr"] = f32(loguniform(rng, 1e-5, 1e-1))
        h["alpha"] = f32(rng.uniform(0.5, 0.999))
        h["eps"] = f32(loguniform(rng, 1e-10, 1e-3))
        h["weight_decay"] = zero_or(0.4, lambda: loguniform(rng, 1e-4, 1e-1))
        h["momentum"] = zero_or(0.5, lambda: rng.uniform(0.1, 0.95))
        h["centered"] = flag(0.5)
        h["maximize"] = flag(0.3)
    elif opt == "adagrad":
        h["lr"] = f32(loguniform(rng, 1e-5, 1e-1))
        h["lr_decay"] = zero_or(0.5, lambda: loguniform(rng, 1e-4, 1e-1))
        h["weight_decay"] = zero_or(0.4, lambda: loguniform(rng, 1e-4, 1e-1))
        h["initial_accumulator_value"] = zero_or(0.5, lambda: loguniform(rng, 1e-3, 1.0))
        h["eps"] = f32(loguniform(rng, 1e-10, 1e-3))
        h["maximize"] = flag(0.3)
    elif opt == "lion":
        h["lr"] = f32(loguniform(rng, 1e-5, 1e-1))
        h["betas"] = [f32(one_minus_loguniform(rng, 0.5, 0.9999)),
                      f32(one_minus_loguniform(rng, 0.5, 0.9999))]
        h["weight_decay"] = zero_or(0.4, lambda: loguniform(rng, 1e-4, 1.0))
    else:
        raise ValueError(opt)

    defaults = DEFAULTS[opt]
    if sparse:
        for key in list(h):
            if key == "nesterov":
                continue
            if flag(0.6) or (opt == "adamw" and key == "weight_decay"):
                d = defaults[key]
                h[key] = list(d) if isinstance(d, list) else d
    if opt == "sgd":
        # nesterov requires momentum > 0 and dampening == 0
        h["nesterov"] = bool(h["momentum"] > 0 and h["dampening"] == 0 and nesterov_coin)
    if sparse:
        h = {k: v for k, v in h.items() if v != defaults[k]}
    return {k: h[k] for k in HP_ORDER if k in h}


def full_hparams(opt, h):
    """Hyperparameters with torch's defaults applied for absent keys."""
    out = {k: (list(v) if isinstance(v, list) else v) for k, v in DEFAULTS[opt].items()}
    for k, v in h.items():
        if k not in out:
            raise ValueError(f"{opt}: unknown hyperparameter {k!r}")
        out[k] = v
    return out


# ----------------------------------------------------------------------------
# Reference runs with torch
# ----------------------------------------------------------------------------

def torch_optimizer_class(torch, opt):
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
            "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[opt]


def check_torch_defaults(torch):
    """Make sure DEFAULTS (what an absent key means) agree with the installed torch."""
    import inspect
    for opt in OPTIMIZERS:
        if opt == "lion":
            continue
        sig = inspect.signature(torch_optimizer_class(torch, opt).__init__)
        for k, v in DEFAULTS[opt].items():
            d = sig.parameters[k].default
            d = list(d) if isinstance(d, tuple) else d
            if d != v:
                raise RuntimeError(f"{opt}.{k}: torch default {d!r} != table {v!r}")


def run_lion_torch(torch, h, p0, grads, dtype):
    lr, (b1, b2), wd = h["lr"], h["betas"], h["weight_decay"]
    p = torch.tensor(p0, dtype=dtype)
    m = torch.zeros_like(p)
    traj = []
    for g_list in grads:
        g = torch.tensor(g_list, dtype=dtype)
        p.mul_(1.0 - lr * wd)                   # decoupled decay first
        c = m * b1 + g * (1.0 - b1)             # interpolation with the old m
        p.add_(torch.sign(c), alpha=-lr)        # sign(0) == 0
        m.mul_(b2).add_(g, alpha=1.0 - b2)      # EMA after the step
        traj.append(p.double().tolist())
    return traj, {"step": len(grads), "exp_avg": m.double().tolist()}


def run_torch(torch, opt, h_written, p0, grads, dtype):
    """Run one case; returns (params trajectory, final_state) as Python floats."""
    if opt == "lion":
        return run_lion_torch(torch, full_hparams(opt, h_written), p0, grads, dtype)
    kw = dict(h_written)  # absent keys: let torch apply its own defaults
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    p = torch.nn.Parameter(torch.tensor(p0, dtype=dtype))
    o = torch_optimizer_class(torch, opt)([p], foreach=False, **kw)
    traj = []
    for g_list in grads:
        p.grad = torch.tensor(g_list, dtype=dtype)
        o.step()
        traj.append(p.detach().double().tolist())
    state = {}
    for k, v in o.state[p].items():
        if v is None:
            continue
        if k == "step":
            s = float(v.item()) if torch.is_tensor(v) else float(v)
            if s != int(s):
                raise RuntimeError(f"non-integral step {s}")
            state["step"] = int(s)
        elif torch.is_tensor(v):
            state[k] = v.detach().double().tolist()
        else:
            raise RuntimeError(f"unexpected state entry {k!r}: {v!r}")
    unknown = set(state) - set(STATE_ORDER)
    if unknown:
        raise RuntimeError(f"unexpected state keys {unknown}")
    return traj, {k: state[k] for k in STATE_ORDER if k in state}


def all_finite(traj, state):
    vals = [x for row in traj for x in row]
    for v in state.values():
        vals.extend(v if isinstance(v, list) else [v])
    return all(math.isfinite(x) for x in vals)


def beta_edge(rng):
    """A coefficient close to 0 or close to 1."""
    if rng.random() < 0.5:
        return rng.uniform(0.0, 0.05)
    return 1.0 - loguniform(rng, 1e-6, 1e-3)


def corner_case(rng, opt, regime, n, steps):
    """(hyperparameters, param0, grads) of one corner case: a random case pushed towards one
    corner of the bounds. The draws stay float32-exact and finite as in the plain regimes."""
    h = dict(sample_hparams(rng, opt, False))
    p0 = make_param0(rng, n)
    if regime == "momentum_large":
        # High momentum with large gradients: a momentum buffer tends to g / (1 - momentum).
        g = rng.normal(0.0, loguniform(rng, 1.0, 50.0), (steps, n))
        if opt == "sgd":
            h["momentum"] = f32(rng.uniform(0.9, 0.999))
            h["dampening"] = 0.0 if rng.random() < 0.6 else f32(rng.uniform(0.0, 0.5))
            h["nesterov"] = bool(h["dampening"] == 0 and rng.random() < 0.5)
            h["lr"] = f32(loguniform(rng, 1e-5, 1e-3))
        elif opt == "rmsprop":
            h["momentum"] = f32(rng.uniform(0.9, 0.99))
        elif opt in ("adam", "adamw", "lion"):
            h["betas"][0] = f32(rng.uniform(0.95, 0.999))
    elif regime == "alternating":
        # The sign of every gradient flips each step, around a fixed magnitude.
        base = rng.normal(0.0, loguniform(rng, 1e-3, 10.0), n)
        sign = np.where(np.arange(steps) % 2 == 0, 1.0, -1.0)[:, None]
        g = sign * base[None, :] * rng.uniform(0.8, 1.2, (steps, n))
    elif regime == "beta_edge":
        g = rng.normal(0.0, loguniform(rng, 1e-3, 10.0), (steps, n))
        if opt in ("adam", "adamw", "lion"):
            h["betas"] = [f32(beta_edge(rng)), f32(beta_edge(rng))]
        elif opt == "rmsprop":
            h["alpha"] = f32(beta_edge(rng))
        elif opt == "sgd":
            h["momentum"] = f32(beta_edge(rng))
            h["nesterov"] = bool(h["dampening"] == 0 and rng.random() < 0.5)
        elif opt == "adagrad":
            h["lr_decay"] = f32(loguniform(rng, 1e-1, 10.0))
    elif regime == "amsgrad_maximize":
        g = make_grads(rng, "decaying" if rng.random() < 0.5 else "normal", n, steps)
        if opt in ("adam", "adamw"):
            h["amsgrad"] = True
        if opt != "lion":
            h["maximize"] = True
        if opt == "rmsprop":
            h["centered"] = True
    elif regime == "eps_decay_extreme":
        g = rng.normal(0.0, loguniform(rng, 1e-3, 10.0), (steps, n))
        if "eps" in DEFAULTS[opt]:
            h["eps"] = f32(loguniform(rng, 1e-12, 1e-10) if rng.random() < 0.5
                           else loguniform(rng, 1e-2, 1.0))
        if rng.random() < 0.5:
            h["weight_decay"] = f32(loguniform(rng, 1e-8, 1e-6))
        else:
            # Large decay, kept below 1 / lr so that plain L2 descent does not oscillate away.
            h["weight_decay"] = f32(min(loguniform(rng, 0.5, 5.0), 0.9 / h["lr"]))
    elif regime == "format_edge":
        # Parameters near I8F24's edge (±128) pushed outward by descent.
        p0 = f32_array(rng.choice(np.array([-1.0, 1.0]), n) * rng.uniform(60.0, 120.0, n))
        g = -np.sign(p0)[None, :] * np.abs(rng.normal(0.0, loguniform(rng, 1e-2, 10.0), (steps, n)))
        h["lr"] = f32(loguniform(rng, 1e-4, 1e-1))
        if opt != "lion":
            h["maximize"] = False
    else:
        raise ValueError(regime)
    if opt == "sgd" and h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
        h["nesterov"] = False
    h = {k: h[k] for k in HP_ORDER if k in h}
    return h, p0, f32_array(g)


def generate(seed, cases_per_opt, corners=False):
    import torch
    torch.set_default_dtype(torch.float64)
    check_torch_defaults(torch)
    cases = []
    retries = 0
    for oi, opt in enumerate(OPTIMIZERS):
        # balanced regimes, shuffled deterministically
        order_rng = np.random.default_rng([seed, oi, 1_000_000])
        pool = CORNER_REGIMES if corners else REGIMES
        regimes = [pool[i % len(pool)] for i in range(cases_per_opt)]
        order_rng.shuffle(regimes)
        for i in range(cases_per_opt):
            rng = np.random.default_rng([seed, oi, i])  # one stream per case
            regime = regimes[i]
            sparse = (i % 7 == 5)
            while True:
                n, steps = EDGE_SHAPES[i] if i < len(EDGE_SHAPES) else pick_shape(rng)
                if corners:
                    h, p0, grads = corner_case(rng, opt, regime, n, steps)
                else:
                    h = sample_hparams(rng, opt, sparse)
                    p0 = make_param0(rng, n)
                    grads = make_grads(rng, regime, n, steps)
                traj, state = run_torch(torch, opt, h, p0.tolist(), grads.tolist(), torch.float64)
                if all_finite(traj, state):
                    break
                retries += 1
            # torch's own float32 run on the same (float32-exact) inputs: the harness derives
            # each case's f32 bar from its drift. Omitted if float32 overflows.
            traj32, _ = run_torch(torch, opt, h, p0.tolist(), grads.tolist(), torch.float32)
            extra = {"params_f32": traj32} if all_finite(traj32, {}) else {}
            cases.append({
                "id": len(cases),
                "optimizer": opt,
                "grad_regime": regime,
                "n": n,
                "steps": steps,
                "hyperparams": h,
                "param0": p0.tolist(),
                "grads": grads.tolist(),
                "params": traj,
                "final_state": state,
                **extra,
            })
    return cases, retries, torch.__version__


def write_golden(path, generator, cases):
    """One case per line, compact; floats via json (shortest round-trip repr)."""
    dumps = lambda o: json.dumps(o, separators=(",", ":"), allow_nan=False)
    parts = ['{"schema":' + dumps(SCHEMA) + ',\n"generator":' + dumps(generator) + ',\n"cases":[\n']
    parts.append(",\n".join(dumps(c) for c in cases))
    parts.append("\n]}\n")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    os.replace(tmp, path)


# ----------------------------------------------------------------------------
# Independent numpy float64 re-implementation (self-check)
# ----------------------------------------------------------------------------

def np_run(opt, h, p0, grads):
    """Return (trajectory as 2-D array, final state dict) in float64 numpy."""
    h = full_hparams(opt, h)
    p = np.array(p0, dtype=np.float64)
    T = len(grads)
    traj = np.empty((T, p.size))
    st = {}
    if opt == "sgd":
        lr, mu, tau, wd = h["lr"], h["momentum"], h["dampening"], h["weight_decay"]
        buf = None
        for t in range(T):
            d = np.array(grads[t], dtype=np.float64)
            if h["maximize"]:
                d = -d
            if wd != 0:
                d = d + wd * p
            if mu != 0:
                buf = d.copy() if buf is None else mu * buf + (1.0 - tau) * d
                d = d + mu * buf if h["nesterov"] else buf
            p = p - lr * d
            traj[t] = p
        if mu != 0 and buf is not None:
            st["momentum_buffer"] = buf
    elif opt in ("adam", "adamw"):
        lr, (b1, b2), eps, wd = h["lr"], h["betas"], h["eps"], h["weight_decay"]
        m = np.zeros_like(p)
        v = np.zeros_like(p)
        vmax = np.zeros_like(p)
        for t in range(1, T + 1):
            d = np.array(grads[t - 1], dtype=np.float64)
            if h["maximize"]:
                d = -d
            if wd != 0:
                if opt == "adamw":
                    p = p * (1.0 - lr * wd)
                else:
                    d = d + wd * p
            m = b1 * m + (1.0 - b1) * d
            v = b2 * v + (1.0 - b2) * d * d
            bc1 = 1.0 - b1 ** t
            bc2 = 1.0 - b2 ** t
            if h["amsgrad"]:
                vmax = np.maximum(vmax, v)
                denom = np.sqrt(vmax) / math.sqrt(bc2) + eps
            else:
                denom = np.sqrt(v) / math.sqrt(bc2) + eps
            p = p - (lr / bc1) * m / denom
            traj[t - 1] = p
        st.update(step=T, exp_avg=m, exp_avg_sq=v)
        if h["amsgrad"]:
            st["max_exp_avg_sq"] = vmax
    elif opt == "rmsprop":
        lr, a, eps, wd, mu = h["lr"], h["alpha"], h["eps"], h["weight_decay"], h["momentum"]
        v = np.zeros_like(p)
        gbar = np.zeros_like(p)
        buf = np.zeros_like(p)
        for t in range(T):
            d = np.array(grads[t], dtype=np.float64)
            if h["maximize"]:
                d = -d
            if wd != 0:
                d = d + wd * p
            v = a * v + (1.0 - a) * d * d
            if h["centered"]:
                gbar = a * gbar + (1.0 - a) * d
                avg = np.sqrt(v - gbar * gbar) + eps
            else:
                avg = np.sqrt(v) + eps
            if mu > 0:
                buf = mu * buf + d / avg
                p = p - lr * buf
            else:
                p = p - lr * d / avg
            traj[t] = p
        st.update(step=T, square_avg=v)
        if mu > 0:
            st["momentum_buffer"] = buf
        if h["centered"]:
            st["grad_avg"] = gbar
    elif opt == "adagrad":
        lr, lrd, wd, eps = h["lr"], h["lr_decay"], h["weight_decay"], h["eps"]
        acc = np.full_like(p, h["initial_accumulator_value"])
        for t in range(1, T + 1):
            d = np.array(grads[t - 1], dtype=np.float64)
            if h["maximize"]:
                d = -d
            if wd != 0:
                d = d + wd * p
            clr = lr / (1.0 + (t - 1) * lrd)
            acc = acc + d * d
            p = p - clr * d / (np.sqrt(acc) + eps)
            traj[t - 1] = p
        st.update(step=T, sum=acc)
    elif opt == "lion":
        lr, (b1, b2), wd = h["lr"], h["betas"], h["weight_decay"]
        m = np.zeros_like(p)
        for t in range(T):
            d = np.array(grads[t], dtype=np.float64)
            p = p * (1.0 - lr * wd)
            c = b1 * m + (1.0 - b1) * d
            p = p - lr * np.sign(c)
            m = b2 * m + (1.0 - b2) * d
            traj[t] = p
        st.update(step=T, exp_avg=m)
    else:
        raise ValueError(opt)
    return traj, st


def mixed_err(a, ref):
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - ref) / (1.0 + np.abs(ref))))


def is_f32_exact(x):
    x = np.asarray(x, dtype=np.float64)
    return bool(np.all(x.astype(np.float32).astype(np.float64) == x))


def load_golden(path):
    def no_constants(name):
        raise ValueError(f"non-JSON constant {name} in {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f, parse_constant=no_constants)


def self_check(path, tol=SELF_CHECK_TOL):
    doc = load_golden(path)
    problems = []
    if doc.get("schema") != SCHEMA:
        problems.append(f"schema is {doc.get('schema')!r}")
    max_p = {o: 0.0 for o in OPTIMIZERS}
    max_s = {o: 0.0 for o in OPTIMIZERS}
    counts = {}
    ids = set()
    for c in doc["cases"]:
        cid, opt, n, T = c["id"], c["optimizer"], c["n"], c["steps"]
        where = f"case {cid} ({opt})"
        if cid in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(cid)
        if opt not in OPTIMIZERS or c["grad_regime"] not in ALL_REGIMES:
            problems.append(f"{where}: bad optimizer/regime")
            continue
        counts[(opt, c["grad_regime"])] = counts.get((opt, c["grad_regime"]), 0) + 1
        if not (len(c["param0"]) == n and len(c["grads"]) == T and len(c["params"]) == T
                and all(len(r) == n for r in c["grads"]) and all(len(r) == n for r in c["params"])):
            problems.append(f"{where}: shape mismatch")
            continue
        if not is_f32_exact(c["param0"]) or (T and not is_f32_exact(c["grads"])):
            problems.append(f"{where}: inputs not float32-representable")
        h = full_hparams(opt, c["hyperparams"])
        eps = h.get("eps")
        if eps is not None and not eps > 0:
            problems.append(f"{where}: eps must be > 0")
        if opt == "sgd" and h["nesterov"] and not (h["momentum"] > 0 and h["dampening"] == 0):
            problems.append(f"{where}: invalid nesterov")
        traj, st = np_run(opt, c["hyperparams"], c["param0"], c["grads"])
        e = mixed_err(traj, c["params"])
        max_p[opt] = max(max_p[opt], e)
        if not e <= tol:
            problems.append(f"{where}: params mixed error {e:.3g} > {tol:g}")
        fs = c["final_state"]
        if set(fs) != set(st):
            problems.append(f"{where}: final_state keys {sorted(fs)} != expected {sorted(st)}")
            continue
        for k, v in st.items():
            if k == "step":
                if fs[k] != v:
                    problems.append(f"{where}: step {fs[k]} != {v}")
                continue
            e = mixed_err(v, fs[k])
            max_s[opt] = max(max_s[opt], e)
            if not e <= tol:
                problems.append(f"{where}: state {k} mixed error {e:.3g} > {tol:g}")
    print(f"self-check of {path}: {len(doc['cases'])} cases, tolerance {tol:g}")
    for o in OPTIMIZERS:
        per = ", ".join(f"{r}={counts.get((o, r), 0)}" for r in ALL_REGIMES if (o, r) in counts)
        total = sum(counts.get((o, r), 0) for r in ALL_REGIMES)
        print(f"  {o:8s} cases={total:3d} ({per})  max params err={max_p[o]:.3g}  max state err={max_s[o]:.3g}")
    for p in problems[:50]:
        print("  PROBLEM:", p)
    print("self-check:", "OK" if not problems else f"FAILED ({len(problems)} problems)")
    return not problems


# ----------------------------------------------------------------------------
# Diagnostic: how far torch run in float32 drifts from the float64 golden values
# ----------------------------------------------------------------------------

def f32_report(path):
    import torch
    torch.set_default_dtype(torch.float64)
    doc = load_golden(path)
    worst = {o: (0.0, None) for o in OPTIMIZERS}
    over = []
    for c in doc["cases"]:
        opt = c["optimizer"]
        traj, _ = run_torch(torch, opt, c["hyperparams"], c["param0"], c["grads"], torch.float32)
        e = mixed_err(traj, c["params"]) if c["steps"] else 0.0
        if e > worst[opt][0]:
            worst[opt] = (e, c["id"])
        if e > F32_BAR:
            over.append((c["id"], opt, c["grad_regime"], e))
    print(f"torch float32 vs golden float64 ({path}), mixed error |d|/(1+|p64|):")
    for o in OPTIMIZERS:
        print(f"  {o:8s} max={worst[o][0]:.3g} (case {worst[o][1]})")
    print(f"cases over {F32_BAR:g}: {len(over)}")
    for cid, opt, reg, e in over:
        print(f"  case {cid} {opt} {reg}: {e:.3g}")


# ----------------------------------------------------------------------------

def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "tests", "data", "optim-golden.json")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--cases", type=int, default=DEFAULT_CASES,
                    help=f"cases per optimizer (default {DEFAULT_CASES})")
    ap.add_argument("--out", default=default_out, help="output path (default: tests/data/optim-golden.json)")
    ap.add_argument("--date", default=None,
                    help="date recorded in the generator object (default: today, UTC)")
    ap.add_argument("--corners", action="store_true",
                    help="draw from the corner regimes (" + ", ".join(CORNER_REGIMES) + ") instead")
    ap.add_argument("--self-check", action="store_true",
                    help="after generating, verify the file with the numpy re-implementation")
    ap.add_argument("--check", metavar="PATH",
                    help="only verify an existing golden file (numpy only, no torch needed)")
    ap.add_argument("--f32-report", metavar="PATH",
                    help="only report how far torch float32 drifts from the file's float64 params")
    args = ap.parse_args(argv)

    if args.check:
        return 0 if self_check(args.check) else 1
    if args.f32_report:
        f32_report(args.f32_report)
        return 0
    if args.cases < 1:
        ap.error("--cases must be >= 1")

    cases, retries, torch_version = generate(args.seed, args.cases, args.corners)
    generator = {
        "script": "scripts/gen_golden.py",
        "command": f"python3 scripts/gen_golden.py --seed {args.seed} --cases {args.cases}"
                   + (" --corners" if args.corners else ""),
        "seed": args.seed,
        "cases_per_optimizer": args.cases,
        "torch_version": torch_version,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "machine": platform.machine(),
        "date": args.date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "dtype": "float64 (torch.set_default_dtype(torch.float64)); step state is float64",
        "torch_options": "foreach=False (single-tensor path), CPU",
        "lion": "not in torch.optim: float64 torch ops following google/automl lion_pytorch semantics "
                "(decay first, c=b1*m+(1-b1)*g with old m, p-=lr*sign(c) with sign(0)=0, m=b2*m+(1-b2)*g)",
        "inputs": "param0, grads and every written float hyperparameter are exactly representable in float32",
        "absent_hyperparams": "an absent hyperparameter means torch's default (adamw weight_decay=1e-2; "
                              "lion lr=1e-4, betas=[0.9,0.99], weight_decay=0)",
        "params": "params[t] = parameters after step t+1",
        "params_f32": "torch's own float32 run on the same inputs (foreach=False), same layout as params; "
                      "absent if float32 overflowed",
        "rejected_nonfinite_draws": retries,
    }
    write_golden(args.out, generator, cases)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: {len(cases)} cases, {size} bytes ({size / 1e6:.2f} MB), "
          f"torch {torch_version}, non-finite redraws {retries}")
    if args.self_check:
        return 0 if self_check(args.out) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

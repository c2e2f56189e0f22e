#!/usr/bin/env python3
"""Golden forward and backward values of edgetune's convolution, pooling and batch-norm layers,
computed by PyTorch (torch.nn.functional, autograd) in float64 on the CPU.

Writes tests/data/conv-golden.json (schema "conv-golden/v1"), read by tests/conv_golden.rs.

Every input, weight and output gradient is drawn on a grid of 2^-6 with |value| <= 2, so it is
exact in f32, I16F16 and I8F24: each number type computes from the same operands, and the Rust test
bounds only its own arithmetic. Tensors are written channels-last ([H][W][C], 1-D [L][C]) and
convolution weights OHWI ([C_out][KH][KW][C_in/groups]), edgetune's layouts: torch's NCHW / OIHW
are converted here with permute (this is the conversion the exporter applies). Asymmetric padding
(TF SAME) is applied with F.pad before an unpadded torch convolution.

Usage: python3 scripts/gen_conv_golden.py [--seed 20261202] [--out tests/data/conv-golden.json]
"""

import argparse
import json
import platform

import torch
import torch.nn.functional as F

GRID = 64.0  # values are multiples of 1/64


def grid(gen, shape, amp=2.0):
    """Uniform multiples of 1/GRID in [-amp, amp]."""
    n = int(amp * GRID)
    return torch.randint(-n, n + 1, shape, generator=gen, dtype=torch.int64).double() / GRID


def distinct(gen, shape):
    """Distinct multiples of 1/GRID (no ties for max pooling), randomly placed."""
    count = 1
    for s in shape:
        count *= s
    perm = torch.randperm(count, generator=gen).double()
    return ((perm - count / 2) / GRID).reshape(shape)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def nhwc(t):  # [1, C, H, W] -> [H][W][C]
    return flat(t[0].permute(1, 2, 0))


def nlc(t):  # [1, C, L] -> [L][C]
    return flat(t[0].permute(1, 0))


def same(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv2d_case(gen, name, in_h, in_w, in_c, out_c, kh, kw, sh, sw, pad, groups, layer="conv2d"):
    (pt, pb), (pl, pr) = pad
    x = grid(gen, (1, in_c, in_h, in_w)).requires_grad_()
    w = grid(gen, (out_c, in_c // groups, kh, kw), 1.0).requires_grad_()
    b = grid(gen, (out_c,), 1.0).requires_grad_()
    y = F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b, stride=(sh, sw), groups=groups)
    dy = grid(gen, y.shape, 1.0)
    (y * dy).sum().backward()
    return {
        "layer": layer, "name": name,
        "shape": dict(in_h=in_h, in_w=in_w, in_c=in_c, out_c=out_c, kh=kh, kw=kw,
                      stride_h=sh, stride_w=sw, pad_top=pt, pad_bottom=pb, pad_left=pl,
                      pad_right=pr, groups=groups),
        "w": flat(w.permute(0, 2, 3, 1)), "b": flat(b), "x": nhwc(x), "dy": nhwc(dy),
        "y": nhwc(y), "dx": nhwc(x.grad), "dw": flat(w.grad.permute(0, 2, 3, 1)),
        "db": flat(b.grad),
    }


def conv1d_case(gen, name, length, in_c, out_c, k, s, pad, groups):
    pb, pa = pad
    x = grid(gen, (1, in_c, length)).requires_grad_()
    w = grid(gen, (out_c, in_c // groups, k), 1.0).requires_grad_()
    b = grid(gen, (out_c,), 1.0).requires_grad_()
    y = F.conv1d(F.pad(x, (pb, pa)), w, b, stride=s, groups=groups)
    dy = grid(gen, y.shape, 1.0)
    (y * dy).sum().backward()
    return {
        "layer": "conv1d", "name": name,
        "shape": dict(len=length, in_c=in_c, out_c=out_c, k=k, stride=s, pad_before=pb,
                      pad_after=pa, groups=groups),
        "w": flat(w.permute(0, 2, 1)), "b": flat(b), "x": nlc(x), "dy": nlc(dy), "y": nlc(y),
        "dx": nlc(x.grad), "dw": flat(w.grad.permute(0, 2, 1)), "db": flat(b.grad),
    }


def pool2d_case(gen, name, kind, in_h, in_w, c, kh, kw, sh, sw, ph, pw, include_pad=True,
                ties=False):
    if ties:
        x = torch.randint(0, 3, (1, c, in_h, in_w), generator=gen).double()
    else:
        x = distinct(gen, (1, c, in_h, in_w))
    x.requires_grad_()
    if kind == "max_pool2d":
        y = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw))
    else:
        y = F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), count_include_pad=include_pad)
    dy = grid(gen, y.shape, 1.0)
    (y * dy).sum().backward()
    return {
        "layer": kind, "name": name, "count_include_pad": include_pad,
        "shape": dict(in_h=in_h, in_w=in_w, c=c, kh=kh, kw=kw, stride_h=sh, stride_w=sw,
                      pad_h=ph, pad_w=pw),
        "x": nhwc(x), "dy": nhwc(dy), "y": nhwc(y), "dx": nhwc(x.grad),
    }


def pool1d_case(gen, name, kind, length, c, k, s, p, include_pad=True):
    x = distinct(gen, (1, c, length)).requires_grad_()
    if kind == "max_pool1d":
        y = F.max_pool1d(x, k, s, p)
    else:
        y = F.avg_pool1d(x, k, s, p, count_include_pad=include_pad)
    dy = grid(gen, y.shape, 1.0)
    (y * dy).sum().backward()
    return {
        "layer": kind, "name": name, "count_include_pad": include_pad,
        "shape": dict(len=length, c=c, k=k, stride=s, pad=p),
        "x": nlc(x), "dy": nlc(dy), "y": nlc(y), "dx": nlc(x.grad),
    }


def gap_case(gen, name, h, w, c):
    x = grid(gen, (1, c, h, w)).requires_grad_()
    y = F.adaptive_avg_pool2d(x, 1)
    dy = grid(gen, y.shape, 1.0)
    (y * dy).sum().backward()
    return {"layer": "global_avg_pool", "name": name, "pixels": h * w, "channels": c,
            "x": nhwc(x), "dy": flat(dy), "y": flat(y), "dx": nhwc(x.grad)}


def relu6_case(gen):
    x = (torch.randint(-2 * 16, 8 * 16 + 1, (40,), generator=gen).double() / 16)
    x = torch.cat([x, torch.tensor([0.0, 6.0, -0.0, 5.9375, 6.0625])]).requires_grad_()
    y = F.relu6(x)
    dy = grid(gen, y.shape, 1.0)
    (y * dy).sum().backward()
    return {"layer": "relu6", "name": "relu6 incl. 0 and 6", "x": flat(x), "dy": flat(dy),
            "y": flat(y), "dx": flat(x.grad)}


def bn_params(gen, c):
    gamma = grid(gen, (c,), 1.0)
    beta = grid(gen, (c,), 1.0)
    mean = grid(gen, (c,), 1.0)
    var = torch.randint(8, 3 * 64, (c,), generator=gen).double() / 64
    return gamma, beta, mean, var


def bn_eval_case(gen, name, h, w, c, eps):
    x = grid(gen, (1, c, h, w))
    gamma, beta, mean, var = bn_params(gen, c)
    y = F.batch_norm(x, mean, var, gamma, beta, training=False, eps=eps)
    return {"layer": "batch_norm_eval", "name": name, "eps": eps, "gamma": flat(gamma),
            "beta": flat(beta), "mean": flat(mean), "var": flat(var), "x": nhwc(x), "y": nhwc(y)}


def conv_bn_case(gen, name, eps):
    base = conv2d_case(gen, name, 6, 5, 3, 4, 3, 3, 1, 1, ((1, 1), (1, 1)), 1, "conv_bn_fold")
    c = 4
    gamma, beta, mean, var = bn_params(gen, c)
    x = torch.tensor(base["x"]).reshape(6, 5, 3).permute(2, 0, 1).unsqueeze(0)
    w = torch.tensor(base["w"]).reshape(4, 3, 3, 3).permute(0, 3, 1, 2)
    b = torch.tensor(base["b"])
    z = F.conv2d(x, w, b, padding=1)
    y = F.batch_norm(z, mean, var, gamma, beta, training=False, eps=eps)
    return {"layer": "conv_bn_fold", "name": name, "shape": base["shape"], "w": base["w"],
            "b": base["b"], "x": base["x"], "eps": eps, "gamma": flat(gamma), "beta": flat(beta),
            "mean": flat(mean), "var": flat(var), "y": nhwc(y)}


def affine_case(gen, name, h, w, c):
    x = grid(gen, (1, c, h, w)).requires_grad_()
    scale = grid(gen, (c,), 1.0).requires_grad_()
    shift = grid(gen, (c,), 1.0).requires_grad_()
    y = x * scale.view(1, c, 1, 1) + shift.view(1, c, 1, 1)
    dy = grid(gen, y.shape, 1.0)
    (y * dy).sum().backward()
    return {"layer": "scale_shift", "name": name, "scale": flat(scale), "shift": flat(shift),
            "x": nhwc(x), "dy": nhwc(dy), "y": nhwc(y), "dx": nhwc(x.grad),
            "dscale": flat(scale.grad), "dshift": flat(shift.grad)}


def bn_stats_case(gen, name, momentum, batches, n, h, w, c):
    rm = grid(gen, (c,), 1.0)
    rv = torch.randint(16, 128, (c,), generator=gen).double() / 64
    case = {"layer": "bn_stats", "name": name, "momentum": momentum, "channels": c,
            "running_mean0": flat(rm), "running_var0": flat(rv), "batches": []}
    bn = torch.nn.BatchNorm2d(c, momentum=momentum, dtype=torch.float64).train()
    bn.running_mean.copy_(rm)
    bn.running_var.copy_(rv)
    for _ in range(batches):
        x = grid(gen, (n, c, h, w))
        with torch.no_grad():
            bn(x)
        case["batches"].append({"x": flat(x.permute(0, 2, 3, 1)),
                                "running_mean": flat(bn.running_mean),
                                "running_var": flat(bn.running_var),
                                "num_batches_tracked": int(bn.num_batches_tracked)})
    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--out", default="tests/data/conv-golden.json")
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(args.seed)
    cases = [
        conv2d_case(gen, "3x3 pad 1", 5, 6, 3, 4, 3, 3, 1, 1, ((1, 1), (1, 1)), 1),
        conv2d_case(gen, "3x2 stride 2 SAME groups 2", 7, 8, 4, 6, 3, 2, 2, 2,
                    (same(7, 3, 2), same(8, 2, 2)), 2),
        conv2d_case(gen, "depthwise 3x3 SAME", 6, 5, 4, 4, 3, 3, 1, 1,
                    (same(6, 3, 1), same(5, 3, 1)), 4),
        conv2d_case(gen, "depthwise multiplier 2, stride (2,1), asymmetric pad", 5, 4, 3, 6, 2,
                    3, 2, 1, ((0, 1), (1, 0)), 3),
        conv2d_case(gen, "DS-CNN-like first layer 4x3 stride 2 SAME", 11, 6, 1, 4, 4, 3, 2, 2,
                    (same(11, 4, 2), same(6, 3, 2)), 1),
        conv2d_case(gen, "pointwise 1x1", 3, 4, 5, 3, 1, 1, 1, 1, ((0, 0), (0, 0)), 1,
                    "pointwise"),
        conv1d_case(gen, "k3 stride 2 pad 1", 10, 3, 4, 3, 2, (1, 1), 1),
        conv1d_case(gen, "depthwise x2 k4 SAME", 9, 3, 6, 4, 1, same(9, 4, 1), 3),
        pool2d_case(gen, "3x3 stride 2 pad 1", "max_pool2d", 6, 6, 2, 3, 3, 2, 2, 1, 1),
        pool2d_case(gen, "2x2", "max_pool2d", 4, 6, 3, 2, 2, 2, 2, 0, 0),
        pool2d_case(gen, "3x3 stride 1 with ties", "max_pool2d", 5, 5, 2, 3, 3, 1, 1, 1, 1,
                    ties=True),
        pool1d_case(gen, "k3 stride 2 pad 1", "max_pool1d", 9, 2, 3, 2, 1),
        pool2d_case(gen, "3x3 stride 2 pad 1 include pad", "avg_pool2d", 6, 5, 2, 3, 3, 2, 2, 1,
                    1, True),
        pool2d_case(gen, "3x3 stride 2 pad 1 exclude pad", "avg_pool2d", 6, 5, 2, 3, 3, 2, 2, 1,
                    1, False),
        pool2d_case(gen, "2x3 stride (1,2) pad (1,1) exclude pad", "avg_pool2d", 4, 7, 3, 2, 3, 1,
                    2, 1, 1, False),
        pool1d_case(gen, "k3 stride 1 pad 1 include pad", "avg_pool1d", 8, 3, 3, 1, 1, True),
        pool1d_case(gen, "k3 stride 1 pad 1 exclude pad", "avg_pool1d", 8, 3, 3, 1, 1, False),
        gap_case(gen, "5x4x3", 5, 4, 3),
        relu6_case(gen),
        bn_eval_case(gen, "eval eps 1e-5", 4, 3, 5, 1e-5),
        bn_eval_case(gen, "eval eps 1e-3", 3, 3, 4, 1e-3),
        conv_bn_case(gen, "conv 3x3 then BN folded", 1e-5),
        affine_case(gen, "scale and shift", 4, 3, 5),
        bn_stats_case(gen, "momentum 0.1", 0.1, 3, 2, 3, 4, 3),
        bn_stats_case(gen, "cumulative (momentum None)", None, 4, 1, 4, 4, 3),
    ]
    out = {
        "schema": "conv-golden/v1",
        "generator": {
            "script": "scripts/gen_conv_golden.py", "seed": args.seed,
            "torch_version": torch.__version__, "python_version": platform.python_version(),
            "notes": "float64 CPU; layouts channels-last, weights OHWI; inputs on a 1/64 grid",
        },
        "cases": cases,
    }
    with open(args.out, "w") as f:
        f.write('{"schema": "conv-golden/v1",\n "generator": ' + json.dumps(out["generator"])
                + ',\n "cases": [\n')
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()

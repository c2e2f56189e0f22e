#!/usr/bin/env python3
"""Write the torch -> edgetune CNN round-trip data that tests/cnn_roundtrip.rs checks.

Two seeded models, batch norm in eval mode with random (non-trivial) running statistics:

    1-D, input [32, 6]: Conv1d(6, 16, 5, 'same') + BatchNorm1d + ReLU, MaxPool1d(2),
         depthwise Conv1d(16, 16, 3, padding 1, groups 16) + ReLU6 (weights scaled so that some
         activations pass 6), pointwise Conv1d(16, 24, 1), AdaptiveAvgPool1d(1), Flatten,
         Linear(24, 4)
    2-D, input [8, 8, 1]: Conv2d(1, 8, 3, 'same') + BatchNorm2d + ReLU, Conv2d(8, 16, 3,
         stride 2, padding 1, groups 4, no bias), AvgPool2d(2), Flatten (of a 2x2x16 map, so the
         Linear's columns are permuted), Dropout, Linear(64, 10)

exported by scripts/export_model.py as

    tests/data/cnn-roundtrip-1d-full.{etw,rs}    mode full (batch norm folded)   Roundtrip1dFull
    tests/data/cnn-roundtrip-1d-affine.{etw,rs}  mode affine (batch_norm line)   Roundtrip1dAffine
    tests/data/cnn-roundtrip-2d-full.{etw,rs}    mode full (batch norm folded)   Roundtrip2dFull

and tests/data/cnn-roundtrip.json (schema `cnn-roundtrip/v1`), per model:

    inputs           [n][INPUTS] float32-exact inputs, channels-last flat ([L][C] or [H][W][C])
    logits_f32       torch float32, the original model (unfolded, as a user runs it)
    logits_f64       torch float64 on the exported weights: a copy of the model whose parameters
                     are read back from the .etw (OHWI and the flatten permutation undone, folded
                     batch norms replaced by nn.Identity, a kept one set to scale/shift with
                     mean 0, var 1, eps 0), so it computes with exactly the operands edgetune reads
    logits_orig_f64  torch float64, the original model (unfolded, unrounded batch norm)
    magnitude        the absolute-value network's outputs (Export.reference(magnitude=True)):
                     |error| of an evaluation with unit roundoff u is <= gamma(chain, u) * magnitude
    chain, param_layers, folded_bn, shapes, params, input_shape, outputs, struct, mode

Usage:
    python3 scripts/gen_cnn_roundtrip.py              # writes the seven files under tests/data
    python3 scripts/gen_cnn_roundtrip.py --check      # decode the three .etw files (no torch)
"""

import argparse
import copy
import datetime
import json
import math
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import etwf  # noqa: E402

SEED = 20261202
SAMPLES = 6
DATA = os.path.join(os.path.dirname(HERE), "tests", "data")
CASES = (
    # (name, builder, input shape, mode, struct, {Linear module index: (H, W, C) it flattens})
    ("1d-full", "model_1d", (32, 6), "full", "Roundtrip1dFull", {}),
    ("1d-affine", "model_1d", (32, 6), "affine", "Roundtrip1dAffine", {}),
    ("2d-full", "model_2d", (8, 8, 1), "full", "Roundtrip2dFull", {7: (2, 2, 16)}),
)


def _random_bn(bn, g):
    import torch

    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
        bn.running_var.copy_(torch.rand(c, generator=g) * 3.75 + 0.25)
        bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(c, generator=g) * 0.5)


def model_1d(seed=SEED):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    m = nn.Sequential(
        nn.Conv1d(6, 16, 5, padding="same"),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(16, 16, 3, padding=1, groups=16),
        nn.ReLU6(),
        nn.Conv1d(16, 24, 1),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(24, 4),
    )
    g = torch.Generator().manual_seed(seed + 1)
    _random_bn(m[1], g)
    with torch.no_grad():
        m[4].weight.mul_(6.0)  # so that relu6 clips some activations
    return m.eval()


def model_2d(seed=SEED):
    import torch
    from torch import nn

    torch.manual_seed(seed + 10)
    m = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding="same"),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4, bias=False),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64, 10),
    )
    g = torch.Generator().manual_seed(seed + 11)
    _random_bn(m[1], g)
    return m.eval()


def deployed(model, values, fold, linear_perm):
    """A float64 copy of `model` whose parameters are read back from the flat .etw `values`
    (edgetune layout -> torch layout, independently of export_model.py's forward direction)."""
    import torch
    from torch import nn

    m = copy.deepcopy(model).double().eval()
    pos = 0

    def take(n):
        nonlocal pos
        t = torch.tensor(values[pos : pos + n], dtype=torch.float64)
        pos += n
        return t

    skip = set()
    for k, mod in enumerate(m):
        if k in skip:
            m[k] = nn.Identity()
        elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            shape = mod.weight.shape  # [O, I/G, (KH,) KW]
            o, ig, ks = shape[0], shape[1], tuple(shape[2:])
            w = take(o * math.prod(ks) * ig).reshape(o, *ks, ig)  # OHWI / OKI
            mod.weight = nn.Parameter(w.permute(0, w.dim() - 1, *range(1, w.dim() - 1)).contiguous())
            mod.bias = nn.Parameter(take(o))
            if fold and k + 1 < len(m) and isinstance(m[k + 1], (nn.BatchNorm1d, nn.BatchNorm2d)):
                skip.add(k + 1)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(take(c))
                mod.bias.copy_(take(c))
                mod.running_mean.zero_()
                mod.running_var.fill_(1.0)
            mod.eps = 0.0
        elif isinstance(mod, nn.Linear):
            o, i = mod.weight.shape
            w = take(o * i).reshape(o, i)
            if k in linear_perm:
                h, wd, c = linear_perm[k]
                idx = torch.arange(c * h * wd).reshape(c, h, wd).permute(1, 2, 0).reshape(-1)
                back = torch.empty_like(w)
                back[:, idx] = w  # torch column (c*H + h)*W + w <- edgetune column (h*W + w)*C + c
                w = back
            mod.weight = nn.Parameter(w)
            mod.bias = nn.Parameter(take(o))
    if pos != len(values):
        raise SystemExit(f"deployed: {pos} of {len(values)} values used")
    return m


def _dumps(v, indent=""):
    """JSON with one line per matrix row (shortest round-trip floats, Python repr)."""
    inner = indent + " "
    if isinstance(v, dict):
        items = [f"{inner}{json.dumps(k)}: {_dumps(x, inner)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(v, list) and v and isinstance(v[0], (dict, list)) and not (
        isinstance(v[0], list) and len(v[0]) <= 2
    ):
        return "[\n" + ",\n".join(inner + _dumps(x, inner) for x in v) + "\n" + indent + "]"
    return json.dumps(v)


def generate(out_dir):
    import torch

    import export_model as em

    doc = {
        "schema": "cnn-roundtrip/v1",
        "generator": {
            "script": "scripts/gen_cnn_roundtrip.py",
            "command": "python3 scripts/gen_cnn_roundtrip.py",
            "seed": SEED,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "date": datetime.date.today().isoformat(),
            "notes": "inputs channels-last; see the script docstring for each field",
        },
        "models": [],
    }
    for name, builder, input_shape, mode, struct_name, linear_perm in CASES:
        model = globals()[builder]()
        exp = em.convert(model, input_shape, mode)
        diff, bound = em.verify(model, exp)
        etw = os.path.join(out_dir, f"cnn-roundtrip-{name}.etw")
        rs = os.path.join(out_dir, f"cnn-roundtrip-{name}.rs")
        exp.write_etw(etw)
        text = exp.declaration(
            struct_name,
            doc=f"Round-trip model `{name}` (`scripts/gen_cnn_roundtrip.py`, mode `{mode}`).",
            header=(
                f"@generated by scripts/gen_cnn_roundtrip.py ({builder}, mode {mode}, seed {SEED}); do not edit.",
                "Regenerate: python3 scripts/gen_cnn_roundtrip.py",
            ),
        )
        with open(rs, "w") as f:
            f.write(text)
        _, shapes, values = etwf.decode(open(etw, "rb").read())

        g = torch.Generator().manual_seed(SEED + 100 + len(doc["models"]))
        x = (torch.randn((SAMPLES,) + tuple(input_shape), generator=g) * 1.5).to(torch.float32)
        xt = em.torch_input(x, exp.dims)
        folded = sum(1 for ln in exp.lines if "+" in ln.source)
        with torch.no_grad():
            logits_f32 = model.float()(xt).reshape(SAMPLES, -1)
            logits_orig_f64 = copy.deepcopy(model).double()(xt.double()).reshape(SAMPLES, -1)
            dep = deployed(model, values, mode != "affine", linear_perm)
            logits_f64 = dep(xt.double()).reshape(SAMPLES, -1)
            ref = exp.reference(x.double())
            magnitude = exp.reference(x.double(), magnitude=True)
        # Self-checks: the read-back torch model and the exporter's interpreter compute the same
        # function with the same operands (both float64), and the bounds the test uses hold for
        # torch's own float32 run.
        if not bool(((logits_f64 - ref).abs() <= 2 * em.gamma(exp.chain, 2.0**-53) * magnitude).all()):
            raise SystemExit(f"{name}: read-back torch model and Export.reference disagree")
        tol32 = 2 * em.gamma(exp.chain + exp.param_layers + 2 * folded) * magnitude
        if not bool(((logits_f32.double() - logits_f64).abs() <= tol32).all()):
            raise SystemExit(f"{name}: torch float32 is outside the f32 bound")
        clipped = ""
        if builder == "model_1d":
            with torch.no_grad():
                pre = copy.deepcopy(model).double()[:5](xt.double())
            clipped = f", relu6 clips {int((pre > 6).sum())} of {pre.numel()}"
        print(
            f"{name}: {len(values)} params, chain {exp.chain}, export vs torch f64 {diff:.2g} (bound {bound:.2g}), "
            f"torch f32 vs f64 {(logits_f32.double() - logits_f64).abs().max().item():.2g}, "
            f"|logit| <= {logits_f64.abs().max().item():.3g}{clipped}"
        )
        doc["models"].append(
            {
                "name": name,
                "struct": struct_name,
                "mode": mode,
                "etw": os.path.basename(etw),
                "rs": os.path.basename(rs),
                "input_shape": list(input_shape),
                "outputs": exp.outputs,
                "params": len(values),
                "shapes": [list(s) for s in shapes],
                "chain": exp.chain,
                "param_layers": exp.param_layers,
                "folded_bn": folded,
                "inputs": x.reshape(SAMPLES, -1).double().tolist(),
                "logits_f32": logits_f32.double().tolist(),
                "logits_f64": logits_f64.tolist(),
                "logits_orig_f64": logits_orig_f64.tolist(),
                "magnitude": magnitude.tolist(),
            }
        )
    path = os.path.join(out_dir, "cnn-roundtrip.json")
    with open(path, "w") as f:
        f.write(_dumps(doc) + "\n")
    print(f"{path}: {len(doc['models'])} models")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=DATA, help="default %(default)s")
    ap.add_argument("--check", action="store_true", help="only decode the .etw files (no torch)")
    args = ap.parse_args()
    if args.check:
        for name, *_ in CASES:
            etwf.check(os.path.join(args.out_dir, f"cnn-roundtrip-{name}.etw"))
        return 0
    generate(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

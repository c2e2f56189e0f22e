"""Federated fine-tuning of a fleet of simulated edgetune devices on Flower.

A 64-32-10 MLP is pretrained in f32 on the first 1,000 of scikit-learn's 8x8 digits
(tests/data/digits.bin) through the edgetune bindings. The other 797 digits are the fleet's world:
they are dealt to N devices, every device sees them through the fleet's changed sensor (gain 0.55,
offset +0.3, one-pixel shift right, as in the adapt demo) and its own variation (its own gain,
offset, an extra shift and noise, drawn from the seed), and splits them into local training data
and held-out data.

Each round every device fine-tunes the whole MLP locally in I16F16 with the library's Adam and
layers (the device's own arithmetic, bit for bit) and sends its parameters as the device's weight
file (edgetune.weights.encode: the exact bytes the firmware's io::weights writer produces). A
Flower server (ServerApp + FedAvg, Flower's simulation engine on Ray) decodes those bytes with
edgetune.weights.decode and averages them. Reported per round: the global model's accuracy on
every device's held-out data (mean and minimum), against local-only fine-tuning (each device
alone, same budget) and centralised training on all devices' pooled local data (same total
budget), the bytes each device sends, and a plot.

    python fleet.py --devices 20 --rounds 10 --out fleet-out
    python fleet.py --ci          # the same run, exit 1 unless federated beats local-only

--ci is the default fleet (20 devices, 10 rounds, about 25 s on two cores): with 5 devices and 3
rounds local-only fine-tuning measured as good as or better than federated (3 seeds), because
each device then holds enough data of its own; federation pays when local data is scarce and
rounds are several.
"""

import argparse
import json
import os
import pathlib
import struct
import sys
import time
import zlib

import numpy as np

import edgetune
from edgetune import weights

HERE = pathlib.Path(__file__).resolve().parent
DIGITS = HERE.parent.parent.parent / "tests" / "data" / "digits.bin"
SHAPES = [(64, 32), (32, 10)]  # (in, out) per dense layer
DT = "I16F16"  # the devices' number type


# ------------------------------------------------------------------------------------------------
# Data


def load_digits(path=DIGITS):
    """The ETDG file (examples/digits-data/src/lib.rs) parsed with numpy: pixels / 16, labels."""
    raw = path.read_bytes()
    magic, version, reserved, n = struct.unpack_from("<4sHHI", raw, 0)
    if magic != b"ETDG" or version != 1 or reserved != 0 or len(raw) != 12 + 65 * n + 4:
        raise ValueError(f"{path}: not an ETDG v1 file")
    (crc,) = struct.unpack_from("<I", raw, 12 + 65 * n)
    if crc != zlib.crc32(raw[: 12 + 65 * n]):
        raise ValueError(f"{path}: CRC mismatch")
    s = np.frombuffer(raw, np.uint8, 65 * n, 12).reshape(n, 65)
    return s[:, :64].astype(np.float64) / 16.0, s[:, 64].astype(np.int64)


def sensor(x, gain, offset, shift, noise, rng):
    """A sensor seeing 8x8 images `x` (rows of 64): shifted right by `shift` pixels (zeros
    enter), scaled by `gain`, raised by `offset`, with Gaussian noise, clipped to [0, 1]."""
    img = x.reshape(-1, 8, 8)
    out = np.zeros_like(img)
    out[:, :, shift:] = img[:, :, : 8 - shift] if shift else img
    out = gain * out + offset + noise * rng.standard_normal(out.shape)
    return np.clip(out, 0.0, 1.0).reshape(-1, 64)


def make_world(n_devices, seed, holdout=0.4):
    """The pretraining set and the fleet: per device its sensor, local and held-out data."""
    x, y = load_digits()
    rng = np.random.default_rng(seed)
    pre = (x[:1000], y[:1000])
    order = 1000 + rng.permutation(len(x) - 1000)
    devices = []
    for d, idx in enumerate(np.array_split(order, n_devices)):
        # The fleet's change (gain 0.55, offset +0.3, shift 1) and this device's own variation.
        s = dict(gain=0.55 * rng.uniform(0.8, 1.2), offset=0.3 + rng.uniform(-0.1, 0.1),
                 shift=1 + int(rng.integers(0, 2)), noise=rng.uniform(0.0, 0.08))
        xd = sensor(x[idx], rng=rng, **s)
        k = int(round(len(idx) * (1 - holdout)))
        devices.append(dict(sensor=s, x_train=xd[:k], y_train=y[idx][:k], x_test=xd[k:],
                            y_test=y[idx][k:]))
    return pre, devices


# ------------------------------------------------------------------------------------------------
# The model through the bindings: layers as [(w, b), ...], w of shape (out, in)


def init_model(seed):
    """torch.nn.Linear's default initialisation, U(-1/sqrt(in), 1/sqrt(in)), in float32."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(-i**-0.5, i**-0.5, (o, i)).astype(np.float32),
             rng.uniform(-i**-0.5, i**-0.5, o).astype(np.float32)) for i, o in SHAPES]


def size():
    return sum(i * o + o for i, o in SHAPES)


def flatten(layers):
    return np.concatenate([np.concatenate([w.ravel(), b]) for w, b in layers])


def unflatten(flat):
    out, at = [], 0
    for i, o in SHAPES:
        out.append((flat[at:at + i * o].reshape(o, i), flat[at + i * o:at + i * o + o]))
        at += i * o + o
    return out


def to_device(layers_f):
    """Float layers as the device's I16F16 raw bits (round to nearest)."""
    return [(edgetune.quantize(np.asarray(w, np.float64), DT, saturate=True),
             edgetune.quantize(np.asarray(b, np.float64), DT, saturate=True)) for w, b in layers_f]


def from_device(layers_q):
    return [(edgetune.dequantize(w, DT), edgetune.dequantize(b, DT)) for w, b in layers_q]


def inputs(x, dtype):
    return x.astype(np.float32) if dtype == "f32" else edgetune.quantize(x, dtype)


def logits(layers, x, dtype):
    (w1, b1), (w2, b2) = layers
    h = edgetune.relu(edgetune.dense_forward(w1, b1, x, dtype), dtype)
    return edgetune.dense_forward(w2, b2, h, dtype)


def accuracy(layers, x, y, dtype):
    z = logits(layers, inputs(x, dtype), dtype)
    return float(np.mean(np.argmax(z, axis=1) == y))


def train(layers, x, y, steps, batch, lr, dtype, seed, opt=None):
    """`steps` mini-batch steps of Adam on (x, y): forward, softmax cross-entropy, backward and
    the optimizer step all run in edgetune (the batch's gradients summed, as a device
    accumulates them). Returns the new layers (the arrays of `layers` are not changed)."""
    flat = flatten(layers).copy()
    if opt is None:
        opt = edgetune.Adam(flat.size, lr=lr, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    xq = inputs(x, dtype)
    for _ in range(steps):
        idx = rng.choice(len(x), size=min(batch, len(x)), replace=False)
        xb, yb = xq[idx], y[idx]
        (w1, b1), (w2, b2) = unflatten(flat)
        h = edgetune.relu(edgetune.dense_forward(w1, b1, xb, dtype), dtype)
        z = edgetune.dense_forward(w2, b2, h, dtype)
        _, dz = edgetune.softmax_cross_entropy(z, yb.tolist(), dtype)
        dw2, db2, dh = edgetune.dense_backward(w2, h, dz, dtype)
        dh = edgetune.relu_backward(h, dh, dtype)
        dw1, db1, _ = edgetune.dense_backward(w1, xb, dh, dtype, need_dx=False)
        opt.step(flat, flatten([(dw1, db1), (dw2, db2)]))
    return unflatten(flat)


# ------------------------------------------------------------------------------------------------
# Flower: the devices (ClientApp) and the server (ServerApp + FedAvg over the devices' bytes)

_WORLD = {}


def world(path):
    """The fleet's data and settings, loaded once per simulation worker."""
    if path not in _WORLD:
        with np.load(path, allow_pickle=False) as z:
            _WORLD[path] = {k: z[k] for k in z.files}
    return _WORLD[path]


def make_client_app(world_path):
    from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train()
    def fine_tune(msg, context):
        d = int(context.node_config["partition-id"])
        w = world(world_path)
        rnd = int(msg.content["config"]["server-round"])
        # The device receives the global model and stores it in its own number type.
        glob = unflatten(np.concatenate([a.ravel() for a in msg.content["arrays"].to_numpy_ndarrays()]))
        local = train(to_device(glob), w[f"x_train_{d}"], w[f"y_train_{d}"], int(w["steps"]),
                      int(w["batch"]), float(w["lr"]), DT, seed=1000 * rnd + d)
        # What the device sends: its weight file, byte for byte what the firmware writes.
        payload = weights.encode(local, DT)
        content = RecordDict({
            "arrays": ArrayRecord({"etw": Array(np.frombuffer(payload, np.uint8).copy())}),
            "metrics": MetricRecord({"num-examples": len(w[f"y_train_{d}"]),
                                     "bytes-sent": len(payload)}),
        })
        return Message(content=content, reply_to=msg)

    return app


def make_server_app(world_path, n_devices, rounds, init_flat, log):
    from flwr.app import ArrayRecord, MetricRecord, RecordDict
    from flwr.serverapp import ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    class EtwFedAvg(FedAvg):
        """FedAvg over what devices send: each reply's weight file is decoded by edgetune (the
        library's parse: CRC, shapes, number type checked) and its exact values averaged,
        weighted by the device's number of local examples."""

        def aggregate_train(self, server_round, replies):
            valid, _ = self._check_and_log_replies(replies, is_train=True, validate=False)
            if not valid:
                return None, None
            decoded, sizes = [], []
            for m in valid:
                payload = m.content["arrays"]["etw"].numpy().tobytes()
                sizes.append(len(payload))
                dtype, layers = weights.decode_with_dtype(payload)
                vals = [edgetune.dequantize(a, dtype) if dtype != "f32" else a.astype(np.float64)
                        for wb in layers for a in wb]
                decoded.append(RecordDict({
                    "arrays": ArrayRecord([np.asarray(v) for v in vals]),
                    "metrics": m.content["metrics"],
                }))
            log["bytes"].append(sizes)
            arrays = aggregate_arrayrecords(decoded, self.weighted_by_key)
            return arrays, MetricRecord({"devices": len(valid)})

    def evaluate(server_round, arrays):
        # The global model as each device would run it (I16F16), on every held-out set.
        w = world(world_path)
        glob = to_device(unflatten(np.concatenate([a.ravel() for a in arrays.to_numpy_ndarrays()])))
        accs = [accuracy(glob, w[f"x_test_{d}"], w[f"y_test_{d}"], DT) for d in range(n_devices)]
        log["fed"].append(accs)
        return MetricRecord({"mean-acc": float(np.mean(accs)), "min-acc": float(np.min(accs))})

    app = ServerApp()

    @app.main()
    def main(grid, context):
        strategy = EtwFedAvg(fraction_train=1.0, fraction_evaluate=0.0,
                             min_train_nodes=n_devices, min_available_nodes=n_devices)
        init = ArrayRecord([a.astype(np.float32) for wb in unflatten(init_flat) for a in wb])
        strategy.start(grid=grid, initial_arrays=init, num_rounds=rounds, evaluate_fn=evaluate)

    return app


# ------------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20, help="local Adam steps per round")
    ap.add_argument("--batch", type=int, default=16, help="local mini-batch size")
    ap.add_argument("--lr", type=float, default=1e-2, help="local Adam learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="fleet-out")
    ap.add_argument("--ci", action="store_true",
                    help="20 devices, 10 rounds; exit 1 unless federated beats local-only")
    args = ap.parse_args(argv)
    if args.ci:
        args.devices, args.rounds = 20, 10
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    # Pretraining, f32, through the bindings (Adam, the library's layers).
    (xp, yp), devices = make_world(args.devices, args.seed)
    pre = init_model(args.seed)
    for epoch in range(30):
        pre = train(pre, xp, yp, steps=len(xp) // 32, batch=32, lr=3e-3, dtype="f32",
                    seed=epoch)
    x_all = np.concatenate([d["x_test"] for d in devices])
    y_all = np.concatenate([d["y_test"] for d in devices])
    pre_plain = accuracy(pre, load_digits()[0][1000:], load_digits()[1][1000:], "f32")
    print(f"pretrained (f32) on 1000 digits: {100 * pre_plain:.1f} % on the other 797 (unchanged "
          f"sensor), {100 * accuracy(pre, x_all, y_all, 'f32'):.1f} % through the devices' sensors")

    world_path = str(out / "world.npz")
    arrays = dict(steps=args.steps, batch=args.batch, lr=args.lr)
    for d, dev in enumerate(devices):
        for k in ("x_train", "y_train", "x_test", "y_test"):
            arrays[f"{k}_{d}"] = dev[k]
    np.savez(world_path, **arrays)
    pre_flat = flatten(pre).astype(np.float64)

    def per_device(models):
        return [accuracy(m, dev["x_test"], dev["y_test"], DT) for m, dev in zip(models, devices)]

    # Local-only: each device alone, the same steps per round, from the same pretrained model.
    local = [to_device(pre) for _ in devices]
    local_log = [per_device(local)]
    for r in range(1, args.rounds + 1):
        local = [train(m, dev["x_train"], dev["y_train"], args.steps, args.batch, args.lr, DT,
                       seed=1000 * r + d) for d, (m, dev) in enumerate(zip(local, devices))]
        local_log.append(per_device(local))

    # Centralised: one I16F16 model on all devices' pooled local data, the fleet's total budget
    # per round (devices x steps mini-batches of the same size).
    xc = np.concatenate([d["x_train"] for d in devices])
    yc = np.concatenate([d["y_train"] for d in devices])
    central = to_device(pre)
    central_log = [per_device([central] * len(devices))]
    for r in range(1, args.rounds + 1):
        central = train(central, xc, yc, args.steps * len(devices), args.batch, args.lr, DT,
                        seed=r)
        central_log.append(per_device([central] * len(devices)))
    t_base = time.time()

    # Federated, on Flower's simulation engine.
    from flwr.simulation import run_simulation

    log = {"fed": [], "bytes": []}
    run_simulation(
        server_app=make_server_app(world_path, args.devices, args.rounds, pre_flat, log),
        client_app=make_client_app(world_path),
        num_supernodes=args.devices,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                        "init_args": {"num_cpus": os.cpu_count() or 1, "log_to_driver": False}},
    )
    t_fed = time.time()
    if len(log["fed"]) != args.rounds + 1:
        print(f"federated run incomplete: {len(log['fed'])} evaluations", file=sys.stderr)
        return 2

    # Report.
    rows = []
    print(f"\n{args.devices} devices, {args.rounds} rounds, {args.steps} local Adam steps of "
          f"{args.batch} per round, trainable: the whole MLP ({size()} parameters), {DT}")
    print("accuracy on every device's held-out data, % (mean / min over devices)")
    print(f"{'round':>5}  {'federated':>13}  {'local-only':>13}  {'centralised':>13}  "
          f"{'bytes sent/device':>17}")
    for r in range(args.rounds + 1):
        f, l, c = log["fed"][r], local_log[r], central_log[r]
        sent = sorted(set(log["bytes"][r - 1])) if r else []
        rows.append(dict(round=r, fed_mean=np.mean(f), fed_min=np.min(f), local_mean=np.mean(l),
                         local_min=np.min(l), central_mean=np.mean(c), central_min=np.min(c),
                         bytes=sent))
        print(f"{r:>5}  {100 * np.mean(f):6.1f} / {100 * np.min(f):4.1f}  "
              f"{100 * np.mean(l):6.1f} / {100 * np.min(l):4.1f}  "
              f"{100 * np.mean(c):6.1f} / {100 * np.min(c):4.1f}  "
              f"{','.join(map(str, sent)) if sent else '-':>17}")
    print(f"baselines {t_base - t0:.1f} s, Flower simulation {t_fed - t_base:.1f} s, "
          f"total {t_fed - t0:.1f} s")
    (out / "fleet.json").write_text(json.dumps(dict(args=vars(args), rows=rows), indent=1,
                                               default=float))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        rs = [row["round"] for row in rows]
        for key, label in (("fed", "federated (FedAvg)"), ("local", "local-only"),
                           ("central", "centralised")):
            ax.plot(rs, [100 * row[f"{key}_mean"] for row in rows], marker="o", label=label)
        ax.set_xlabel("round")
        ax.set_ylabel("held-out accuracy, mean over devices (%)")
        ax.set_title(f"{args.devices} devices, {DT} fine-tuning")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "fleet.png", dpi=100)
        print(f"plot: {out / 'fleet.png'}")
    except ImportError:
        print("matplotlib not installed: no plot")

    last = rows[-1]
    if args.ci and not last["fed_mean"] > last["local_mean"]:
        print(f"CI: federated {100 * last['fed_mean']:.1f} % does not beat local-only "
              f"{100 * last['local_mean']:.1f} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

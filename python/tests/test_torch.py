"""edgetune.torch.DeviceOptimizer in a PyTorch loop (skipped where torch is not installed)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgetune  # noqa: E402
import edgetune.torch as et  # noqa: E402


def model_and_data(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    x = torch.randn(64, 6)
    y = torch.stack([x[:, 0] - 0.5 * x[:, 1], x[:, 2] * 0.3 + 0.1], dim=1)
    return model, x, y


def train(model, opt, x, y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name,kwargs", [
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adam", dict(lr=1e-2, amsgrad=True)),
    ("adamw", dict(lr=1e-2)),
    ("rmsprop", dict(lr=1e-3, centered=True, momentum=0.5)),
    ("adagrad", dict(lr=0.05, lr_decay=1e-3)),
])
def test_f32_device_steps_follow_torch_optim(name, kwargs):
    model, x, y = model_and_data()
    twin, _, _ = model_and_data()
    opt = et.DeviceOptimizer(model.parameters(), name, **kwargs)
    ref = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[name](
        twin.parameters(), **kwargs)
    train(model, opt, x, y, 20)
    train(twin, ref, x, y, 20)
    for a, b in zip(model.parameters(), twin.parameters()):
        err = ((a - b).abs() / (1 + b.abs())).max().item()
        assert err <= 1e-5, (name, err)


def test_adapter_is_the_numpy_bindings_bit_for_bit():
    model, x, y = model_and_data(1)
    opt = et.DeviceOptimizer(model.parameters(), "adam", dtype="I16F16", lr=1e-2, seed=9)
    twin = [p.detach().clone() for p in model.parameters()]
    manual = []
    for i, p in enumerate(twin):
        manual.append((edgetune.Adam(p.numel(), lr=1e-2, dtype="I16F16",
                                     seed=(9 + 0x9E3779B9 * i) % 2**32),
                       edgetune.quantize(p.double().reshape(-1).numpy(), "I16F16")))
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        grads = [p.grad.double().reshape(-1).numpy() for p in model.parameters()]
        opt.step()
        for (o, bits), g in zip(manual, grads):
            o.step(bits, edgetune.quantize(g, "I16F16", saturate=True))
    for p, (o, bits) in zip(model.parameters(), manual):
        assert opt.state[p]["device_params"].tolist() == bits.tolist()
        expect = torch.from_numpy(edgetune.dequantize(bits, "I16F16")).float().view_as(p)
        assert torch.equal(p.detach(), expect)


@pytest.mark.parametrize("dtype", ["I16F16", "I8F24"])
def test_fixed_point_training_lowers_the_loss_on_the_format_grid(dtype):
    model, x, y = model_and_data(2)
    opt = et.DeviceOptimizer(model.parameters(), "adam", dtype=dtype, lr=1e-2)
    losses = train(model, opt, x, y, 60)
    assert losses[-1] < 0.5 * losses[0]
    frac = {"I16F16": 16, "I8F24": 24}[dtype]
    for p in model.parameters():
        scaled = p.detach().double() * 2.0**frac
        if dtype == "I16F16":
            assert torch.equal(scaled, scaled.round())


def test_scheduler_lr_reaches_the_device_and_errors_are_edgetune_errors():
    model, x, y = model_and_data(3)
    opt = et.DeviceOptimizer(model.parameters(), "sgd", lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    train(model, opt, x, y, 1)
    sched.step()
    train(model, opt, x, y, 1)
    p = next(iter(model.parameters()))
    assert opt.state[p]["device"].lr == 0.05
    p.grad.fill_(float("nan"))
    before = p.detach().clone()
    with pytest.raises(edgetune.EdgetuneError, match="NaN or infinite"):
        opt.step()
    assert torch.equal(p.detach(), before)
    with pytest.raises(edgetune.EdgetuneError, match="unknown optimizer"):
        et.DeviceOptimizer(model.parameters(), "adamax")
    with pytest.raises(edgetune.EdgetuneError, match="no hyperparameter"):
        et.DeviceOptimizer(model.parameters(), "lion", momentum=0.9)

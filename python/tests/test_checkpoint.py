"""The device's checkpoints from Python (edgetune.checkpoint) against the Rust path and against
an independent reading of the documented format:

- every optimizer case of data/expect.json (each class and option set, every dtype) carries the
  record the library's static `Store::save` wrote for its final state; the bindings, replaying
  the case, must write the same bytes, and restoring the fixture's record into a fresh optimizer
  must give the fixture's parameters and state bits;
- a parser written here from the format table of the library's `checkpoint` module docs (words,
  tags, CRC-32 by zlib) reads every record and finds the parameters and state where the table
  says they are;
- damage, foreign records and misuse raise EdgetuneError and change nothing."""

import json
import pathlib
import struct
import zlib

import numpy as np
import pytest

import edgetune
from edgetune import checkpoint

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "expect.json").read_text())
CLASSES = {c: getattr(edgetune, c) for c in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion")}
HEADER_WORDS = 20
#: The state buffers in the order the optimizers declare (and save) them.
DECLARED = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "momentum_buffer",
            "grad_avg", "sum")


def as_array(bits, dtype):
    if dtype == "f32":
        return np.array(bits, dtype=np.uint32).view(np.float32)
    return np.array(bits, dtype=np.int16 if dtype == "I4F12" else np.int32)


def raw(a):
    return a.view(np.uint16 if a.itemsize == 2 else np.uint32).tolist()


def case_id(case):
    return f"{case['class']}-{case['dtype']}-{json.dumps(case['kwargs'], sort_keys=True)}"


def replay(case):
    """The case's optimizer and parameters after its steps, through the bindings."""
    dtype = case["dtype"]
    params = as_array(case["param0"], dtype)
    opt = CLASSES[case["class"]](params.size, **case["kwargs"], dtype=dtype,
                                 rounding=case["rounding"], seed=case["seed"])
    for g in case["grads"]:
        opt.step(params, as_array(g, dtype))
    return opt, params


def fresh(case):
    """An optimizer of the case's class, variant, dtype and size with other hyperparameters."""
    kwargs = dict(case["kwargs"], lr=0.5)
    return CLASSES[case["class"]](len(case["param0"]), **kwargs, dtype=case["dtype"])


def progress_of(case):
    epoch, step, user = case["checkpoint"]["progress"]
    return checkpoint.Progress(epoch, step, tuple(user))


def geometry(case):
    c = case["checkpoint"]
    return dict(slot_size=c["slot_size"], write_size=c["write_size"])


def fixture_image(case):
    """The fixture's record at the start of an erased two-slot region."""
    record = bytes.fromhex(case["checkpoint"]["record"])
    return record + b"\xff" * (2 * case["checkpoint"]["slot_size"] - len(record))


def parse(region, slot_size, write_size):
    """Slot 0's record, read by the format table alone: header words, the three parts' tags and
    payload words, after checking the magic, the version and the CRC."""
    words = lambda b: list(struct.unpack(f"<{len(b) // 4}I", b))
    head = words(region[: 4 * HEADER_WORDS])
    assert head[0] == int.from_bytes(b"ETCK", "little") and head[1] == 1
    assert head[2] == HEADER_WORDS and head[5] == 3 and head[6:8] == [0, 0]
    end = 4 * (HEADER_WORDS + head[3])
    crc_at = -(-end // write_size) * write_size
    assert struct.unpack("<I", region[crc_at : crc_at + 4])[0] == zlib.crc32(region[:end])
    assert crc_at + 4 <= slot_size
    tags = [head[8 + 4 * i : 12 + 4 * i] for i in range(3)]
    payload = words(region[4 * HEADER_WORDS : end])
    parts, at = [], 0
    for _, _, _, n in tags:
        parts.append(payload[at : at + n])
        at += n
    return head, tags, parts


@pytest.mark.parametrize("case", DATA["cases"], ids=case_id)
def test_the_bindings_write_the_static_optimizers_record(case):
    opt, params = replay(case)
    image = checkpoint.save(params, opt, progress_of(case), **geometry(case))
    assert image == fixture_image(case)


@pytest.mark.parametrize("case", DATA["cases"], ids=case_id)
def test_the_static_record_restores_into_the_bindings(case):
    dtype = case["dtype"]
    opt, params = fresh(case), np.zeros_like(as_array(case["param0"], dtype))
    got = checkpoint.restore(fixture_image(case), params, opt, **geometry(case))
    assert got == checkpoint.Restored(0, 1, progress_of(case))
    assert raw(params) == raw(as_array(case["params"], dtype))
    bits = opt.state_bits()
    assert {k: v.tolist() for k, v in bits.items()} == case["state"]
    assert opt.step_count == case["step"]
    assert opt.lr == case["kwargs"].get("lr", opt.lr) and opt.hyperparams["lr"] == opt.lr
    if dtype != "f32":
        assert list(opt.rounding) == case["aux"]
    # It steps on exactly as the optimizer it was saved from.
    original, p2 = replay(case)
    g = as_array(case["grads"][0], dtype)
    opt.step(params, g)
    original.step(p2, g)
    assert raw(params) == raw(p2)
    assert {k: v.tolist() for k, v in opt.state_bits().items()} == {
        k: v.tolist() for k, v in original.state_bits().items()}


@pytest.mark.parametrize("case", DATA["cases"], ids=case_id)
def test_an_independent_parser_finds_everything_where_the_format_says(case):
    c = case["checkpoint"]
    head, tags, (p_words, o_words, g_words) = parse(fixture_image(case), c["slot_size"],
                                                   c["write_size"])
    assert head[4] == 1  # the first save's sequence number
    n = len(case["param0"])
    assert tags[0][0] == 1 and tags[0][2] == n  # Kind::Params, N
    assert tags[2] == [2, 0, 0, 7]  # Kind::Progress: 7 words
    width = 16 if case["dtype"] == "I4F12" else 32
    params = [w & ((1 << width) - 1) for w in p_words]
    assert params == raw(as_array(case["params"], case["dtype"]))
    epoch, step, user = c["progress"]
    assert g_words == [epoch, step & 0xFFFFFFFF, step >> 32, *user]
    # The optimizer: its step counter, then (after the rounding state for fixed point) every
    # state buffer in declaration order.
    buffers = [case["state"][name] for name in DECLARED if name in case["state"]]
    assert len(buffers) == len(case["state"])
    flat = [w for b in buffers for w in b]
    assert o_words[len(o_words) - len(flat) :] == flat
    aux = 0 if case["dtype"] == "f32" else 2
    step_at = len(o_words) - len(flat) - aux - 1
    assert o_words[step_at] == case["step"]
    lr_bits = struct.unpack("<Q", struct.pack("<d", case["kwargs"].get("lr")))[0]
    assert o_words[0] | o_words[1] << 32 == lr_bits


def test_saves_alternate_slots_and_restore_takes_the_newest_complete_one():
    p = np.array([0.5, -0.25, 1.0], np.float32)
    opt = edgetune.Adam(3, lr=1e-2)
    geo = dict(slot_size=512, write_size=4)
    image = checkpoint.save(p, opt, checkpoint.Progress(step=1), **geo)
    opt.step(p, np.array([0.1, -0.2, 0.3], np.float32))
    image = checkpoint.save(p, opt, checkpoint.Progress(step=2), image=image, **geo)
    q = np.zeros(3, np.float32)
    assert checkpoint.restore(image, q, edgetune.Adam(3), **geo)[:2] == (1, 2)
    assert raw(q) == raw(p)
    # A power cut before the second record's CRC was written: the first one comes back.
    torn = bytearray(image)
    record = 4 * (HEADER_WORDS + 3 + 11 + 1 + 6 + 7)
    torn[512 + record : 512 + record + 4] = b"\xff" * 4
    r = np.zeros(3, np.float32)
    assert checkpoint.restore(bytes(torn), r, edgetune.Adam(3), **geo).progress.step == 1
    assert raw(r) == raw(np.array([0.5, -0.25, 1.0], np.float32))


def test_parameters_alone_and_every_write_unit():
    p = edgetune.quantize(np.linspace(-1, 1, 5), "I16F16")
    for w in (1, 2, 4, 8, 16, 32, 64, 128):
        image = checkpoint.save(p, None, slot_size=1024, write_size=w, dtype="I16F16")
        head, tags, parts = parse(image, 1024, w)
        assert tags[1] == [0, 0, 0, 0] and parts[0] == raw(p)
        q = np.zeros_like(p)
        checkpoint.restore(image, q, None, slot_size=1024, write_size=w, dtype="I16F16")
        assert raw(q) == raw(p)


def unchanged(opt, params):
    """A snapshot of everything restore could write."""
    return (raw(params.copy()), {k: v.tolist() for k, v in opt.state_bits().items()},
            opt.step_count, opt.hyperparams)


def test_foreign_or_damaged_records_raise_and_change_nothing():
    p = edgetune.quantize(np.linspace(-1, 1, 6), "I16F16")
    opt = edgetune.Adam(6, lr=0.01, amsgrad=True, dtype="I16F16")
    opt.step(p, edgetune.quantize(np.full(6, 0.1), "I16F16"))
    geo = dict(slot_size=1024, write_size=8)
    image = checkpoint.save(p, opt, **geo)

    def refused(image, params, dest, match, **kw):
        before = unchanged(dest, params)
        with pytest.raises(edgetune.EdgetuneError, match=match):
            checkpoint.restore(image, params, dest, **{**geo, **kw})
        assert unchanged(dest, params) == before

    q = np.ones(6, np.int32)
    refused(image, q, edgetune.Adam(6, dtype="I16F16"), "kind")  # no AMSGrad
    refused(image, q, edgetune.AdamW(6, amsgrad=True, dtype="I16F16"), "decoupled_weight_decay")
    refused(image, q, edgetune.Adam(6, amsgrad=True, dtype="I8F24"), "number type")
    refused(image, np.ones(5, np.int32), edgetune.Adam(5, amsgrad=True, dtype="I16F16"), "6 elements in the checkpoint, 5 expected")
    refused(image, q, edgetune.SGD(6, dtype="I16F16"), "kind")
    for at in (3, 4 * 9, 4 * HEADER_WORDS + 1, 4 * HEADER_WORDS + 40):
        damaged = bytearray(image)
        damaged[at] ^= 0x04
        refused(bytes(damaged), q, edgetune.Adam(6, amsgrad=True, dtype="I16F16"), "CRC|checkpoint|magic")
    refused(b"\xff" * 2048, q, edgetune.Adam(6, amsgrad=True, dtype="I16F16"), "checkpoint")
    refused(image[:-1], q, edgetune.Adam(6, amsgrad=True, dtype="I16F16"), "bytes")
    refused(image, q, edgetune.Adam(6, amsgrad=True, dtype="I16F16"), "write_size", write_size=3)
    # An image of another write unit puts the CRC elsewhere: refused, not misread.
    refused(image, q, edgetune.Adam(6, amsgrad=True, dtype="I16F16"), "CRC|checkpoint",
            write_size=64)
    read_only = np.ones(6, np.int32)
    read_only.flags.writeable = False
    refused(image, read_only, edgetune.Adam(6, amsgrad=True, dtype="I16F16"), "params")


def test_misuse_of_save_raises():
    p = np.zeros(4, np.float32)
    opt = edgetune.SGD(4)
    with pytest.raises(edgetune.EdgetuneError, match="elements"):
        checkpoint.save(np.zeros(5, np.float32), opt, slot_size=512)
    with pytest.raises(edgetune.EdgetuneError, match="float32"):
        checkpoint.save(np.zeros(4, np.int32), opt, slot_size=512)
    with pytest.raises(edgetune.EdgetuneError, match="dtype"):
        checkpoint.save(p, None, slot_size=512)
    with pytest.raises(edgetune.EdgetuneError, match="checkpoint needs 48160 bytes, a slot has 512"):
        checkpoint.save(np.zeros(4000, np.float32), edgetune.Adam(4000), slot_size=512)
    with pytest.raises(edgetune.EdgetuneError, match="slot_size|ERASE|multiple"):
        checkpoint.save(p, opt, slot_size=510)

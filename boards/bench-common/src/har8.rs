//! On-device fine-tuning of a head on a frozen int8 backbone, shared by every QEMU board's
//! `har8` firmware: the TFLite-converted imu1d CNN (int8, TFLite's arithmetic, constants in
//! flash) under its dense head (first layer frozen in flash, last layer trained), BasicMotions
//! recordings through the `cnn` firmware's rotated, gain-drifted sensor. The run itself is
//! [`har8_core`](crate::har8_core), which the host simulation (`boards/tools/har-pretrain`,
//! binary `har8`) runs too; this module adds the defmt log, the verdict and the instruction
//! counts.
//!
//! - **Verdict**: PASS only if the held-out accuracies (clean sensor, new sensor, after
//!   fine-tuning), the fine-tuning loss before and after and the hash of the trained parameters
//!   all **equal** the host simulation's (`boards/common-data/har8_finetune.rs`), and accuracy
//!   rose.
//! - **Instruction counts** (SysTick under `-icount shift=0`), three regions each:
//!   `Int8HeadStep<T, 4>` = the first three mini-batch steps (4 recordings converted from
//!   levels, quantised, through the backbone, the head's forward and backward; mean gradient;
//!   Adam over 52 parameters), per recording; `Int8HeadAccumulate<T, 1>` = one `accumulate` of
//!   one recording; `Int8HeadForward<T, 1>` = one inference; `Int8Backbone<i8, MACs>` = the
//!   backbone alone on one quantised recording, per MAC.
use core::hint::black_box;

use edgetune::nn::network::{FrozenParams, Network};
use edgetune::nn::Scalar;
use edgetune::optim::{AdamNum, Optimizer};
use edgetune::Error;

pub use crate::har8_core::*;
use crate::{finetune::row, measure, Board};

/// The device recordings (the `cnn` firmware's) and the host's figures.
pub mod data {
    pub use crate::har::data::{LABELS, RECORDINGS};
    include!("../../common-data/har8_finetune.rs");
}

pub use crate::har::{pct, Expected};

/// The host's figures for an f32 head.
pub const EXPECTED_F32: Expected = Expected {
    clean: data::EXPECTED_CLEAN_X10_F32,
    before: data::EXPECTED_BEFORE_X10_F32,
    after: data::EXPECTED_AFTER_X10_F32,
    loss_before: data::EXPECTED_LOSS_BEFORE_X1000_F32,
    loss_after: data::EXPECTED_LOSS_AFTER_X1000_F32,
    hash: data::EXPECTED_PARAMS_HASH_F32,
};
/// The host's figures for an I16F16 head.
pub const EXPECTED_I16F16: Expected = Expected {
    clean: data::EXPECTED_CLEAN_X10_I16F16,
    before: data::EXPECTED_BEFORE_X10_I16F16,
    after: data::EXPECTED_AFTER_X10_I16F16,
    loss_before: data::EXPECTED_LOSS_BEFORE_X1000_I16F16,
    loss_after: data::EXPECTED_LOSS_AFTER_X1000_I16F16,
    hash: data::EXPECTED_PARAMS_HASH_I16F16,
};

/// The device's recordings.
pub const DATA: Data<'static> = Data {
    recs: &data::RECORDINGS,
    labels: &data::LABELS,
};

#[inline(never)]
fn accumulate_once<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &mut Net<S, F>,
    x: &[S; INPUTS],
    label: usize,
) -> Result<S, Error> {
    net.accumulate(x, &label)
}

#[inline(never)]
fn predict_once<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &Net<S, F>,
    x: &[S; INPUTS],
) -> Result<usize, Error> {
    net.predict(x)
}

#[inline(never)]
fn backbone_once<'b>(
    x: &[i8; INPUTS],
    a: &'b mut [i8; BUFFER],
    b: &'b mut [i8; BUFFER],
) -> Result<&'b [i8], Error> {
    model::BACKBONE.run(x, a, b)
}

/// The whole run on `net` (head's frozen part in place) and `trainer`; `init` are the trained
/// layer's initial parameters. Returns the verdict.
pub fn run<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    board: &Board,
    ty: &'static str,
    expected: &Expected,
    net: &mut Net<S, F>,
    init: &[S; TRAINABLE],
    trainer: &mut Train<S>,
) -> bool {
    net.trainable_mut().copy_from_slice(init);
    let lut = lut::<S>();
    defmt::info!(
        "network: int8 backbone imu1d (TFLite-converted, bit-exact kernels): conv 6->8 k5 s2 relu, depthwise x2 k3 relu6, max pool 2, conv 16->16 k3 dilation 2 relu, avg pool 3 s2, flatten -> 176 features; {=usize} MACs, {=usize} B of constants in flash; head {=str}: dense 176->12 relu (frozen, in flash), dense 12->4 (train): {=usize} parameters, {=usize} trained",
        BACKBONE_MACS, model::BACKBONE.constant_bytes(), ty, PARAMS, TRAINABLE
    );
    defmt::info!(
        "data: BasicMotions, {=usize} recordings (100 x 6) for fine-tuning, {=usize} held out; new sensor rotated 120 deg about z, accelerometer gain x1.5, gyroscope x0.5; Adam lr 0.01, batches of {=usize}, {=usize} epochs x {=usize} steps",
        FT_RECS, HELD_RECS, BATCH, EPOCHS, STEPS_PER_EPOCH
    );
    defmt::info!(
        "RAM of the training state: network {=usize} B (int8 buffers 2 x {=usize} B, {=usize} features, head; frozen weights in flash), trainer (Adam) {=usize} B; one recording of inputs {=usize} B on the stack",
        core::mem::size_of::<Net<S, F>>(),
        BUFFER,
        FEATURES,
        core::mem::size_of::<Train<S>>(),
        core::mem::size_of::<[S; INPUTS]>()
    );
    let (clean_acc, _) = tryf!(evaluate(net, &DATA, &lut, true, false), "evaluation");
    let (before, _) = tryf!(evaluate(net, &DATA, &lut, true, true), "evaluation");
    let (_, loss_before) = tryf!(evaluate(net, &DATA, &lut, false, true), "evaluation");
    let (c, b, h, hb) = (
        pct(clean_acc),
        pct(before),
        pct(expected.clean),
        pct(expected.before),
    );
    defmt::info!(
        "imported: held-out accuracy {=u32}.{=u32} % through the clean sensor, {=u32}.{=u32} % through the new one (host: {=u32}.{=u32} %, {=u32}.{=u32} %); fine-tuning loss {=u32}.{=u32:03}",
        c.0, c.1, b.0, b.1, h.0, h.1, hb.0, hb.1, loss_before / 1000, loss_before % 1000
    );

    let mut step_ticks = [0u32; 3];
    let r = fine_tune(
        net,
        trainer,
        &DATA,
        &lut,
        |k, f| {
            let (t, r) = measure(f);
            if let Some(s) = step_ticks.get_mut(k) {
                *s = t;
            }
            r
        },
        |epoch, loss| {
            if epoch % 5 == 4 {
                defmt::info!(
                    "epoch {=usize}/{=usize}: training loss {=u32}.{=u32:03}",
                    epoch + 1,
                    EPOCHS,
                    loss / 1000,
                    loss % 1000
                )
            }
        },
    );
    tryf!(r, "fine-tuning");
    let (after, _) = tryf!(evaluate(net, &DATA, &lut, true, true), "evaluation");
    let (_, loss_after) = tryf!(evaluate(net, &DATA, &lut, false, true), "evaluation");
    let got = Expected {
        clean: clean_acc,
        before,
        after,
        loss_before,
        loss_after,
        hash: params_hash(net.trainable()),
    };
    let verdict = expected.check("har8", &got, trainer.optimizer().step_count());

    // Instruction counts after the verdict's figures (the gradients are not used afterwards).
    let mut acc_ticks = [0u32; 3];
    let mut fwd_ticks = [0u32; 3];
    let mut bb_ticks = [0u32; 3];
    let (mut a8, mut b8) = ([0i8; BUFFER], [0i8; BUFFER]);
    for k in 0..3 {
        let mut x = [S::ZERO; INPUTS];
        let label = tryf!(sample(&DATA, &lut, k, false, true, &mut x), "sample");
        let (t, r) = measure(|| accumulate_once(black_box(&mut *net), black_box(&x), label));
        tryf!(r, "accumulate");
        acc_ticks[k] = t;
        let (t, r) = measure(|| predict_once(black_box(&*net), black_box(&x)));
        tryf!(r, "forward");
        fwd_ticks[k] = t;
        let mut q = [0i8; INPUTS];
        tryf!(
            edgetune::nn::int8::quantize(&model::INPUT, &x, &mut q),
            "quantize"
        );
        let (t, r) = measure(|| backbone_once(black_box(&q), &mut a8, &mut b8).map(|y| y.len()));
        tryf!(r, "backbone");
        bb_ticks[k] = t;
    }
    defmt::info!(
        "instructions per sample (or per MAC) = ticks * 1e9 / {=u32} / N; regions 1 / 2 / 3",
        board.cpu_hz
    );
    defmt::info!("| step | type | N | ticks | instr/N | check |");
    defmt::info!("|---|---|---|---|---|---|");
    row("Int8HeadStep", ty, BATCH, &step_ticks, board.cpu_hz);
    row("Int8HeadAccumulate", ty, 1, &acc_ticks, board.cpu_hz);
    row("Int8HeadForward", ty, 1, &fwd_ticks, board.cpu_hz);
    row("Int8Backbone", "i8", BACKBONE_MACS, &bb_ticks, board.cpu_hz);
    verdict
}

/// The `#[entry]` body of a board's `har8` firmware, after its statics are borrowed.
pub fn main<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    board: &Board,
    ty: &'static str,
    expected: &Expected,
    net: &mut Net<S, F>,
    init: &[S; TRAINABLE],
    trainer: &mut Train<S>,
) -> ! {
    let mut ok = crate::start(board, "edgetune on-device fine-tuning on an int8 backbone");
    ok &= run(board, ty, expected, net, init, trainer);
    ok &= crate::memory_report(board);
    crate::exit("har8", ok)
}

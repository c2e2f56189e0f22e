//! On-device fine-tuning of a 1-D CNN (`cnn!`), shared by every QEMU board's `cnn` firmware:
//! BasicMotions activity windows seen through a rotated, gain-drifted sensor; batch norms and
//! head fine-tuned, convolutions frozen in flash. The run itself (network, data, sensor, batches,
//! optimizer) is [`har_core`](crate::har_core), which the host simulation
//! (`boards/tools/har-pretrain`) runs too; this module adds the defmt log, the verdict and the
//! instruction counts.
//!
//! - **Verdict**: PASS only if, for the board's number type, the held-out accuracy of the
//!   pretrained network through the clean sensor and through the new one, the held-out accuracy
//!   after fine-tuning, the mean loss over the fine-tuning windows before and after, and the
//!   hash of the trained parameters all **equal** the host simulation's (`EXPECTED_*` in
//!   `boards/common-data/har_finetune.rs`), and accuracy rose. Bit-identical training, so no
//!   threshold.
//! - **Instruction counts** (SysTick under `-icount shift=0`), three regions each, printed as
//!   table rows `| name | type | MACs | ticks | instr per MAC | ok |`:
//!   `CnnStep8` = the first three mini-batch steps of the fine-tuning (8 windows converted from
//!   levels, checked, accumulated; mean gradient; Adam over 68 parameters) per MAC
//!   ([`MACS_ACCUMULATE`] · [`BATCH`]); `CnnAccumulate` = one `accumulate` (forward, loss,
//!   backward in this mode) of one converted window, per MAC ([`MACS_ACCUMULATE`]);
//!   `CnnForward` = one `forward` (inference) per MAC ([`MACS_FORWARD`]).
use core::hint::black_box;

use edgetune::nn::network::FrozenParams;
use edgetune::nn::Scalar;
use edgetune::num::fixed::I16F16;
use edgetune::optim::{AdamNum, Optimizer};
use edgetune::Error;

pub use crate::har_core::*;
use crate::{finetune::row, measure, Board};

/// The pretrained weights, the device's recordings and the host's figures, written by
/// `boards/tools/har-pretrain`.
pub mod data {
    include!("../../common-data/har_finetune.rs");
}

/// What the host's simulation of this run reached (`boards/tools/har-pretrain`).
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    /// Held-out accuracy of the pretrained network, clean sensor, tenths of a percent.
    pub clean: u32,
    /// The same through the new sensor.
    pub before: u32,
    /// The same after fine-tuning.
    pub after: u32,
    /// Mean loss over the fine-tuning windows (new sensor) before, thousandths.
    pub loss_before: u32,
    /// The same after.
    pub loss_after: u32,
    /// [`params_hash`] of the trained parameters after fine-tuning.
    pub hash: u32,
}

impl Expected {
    /// Logs `got`, a run's figures, against these (the host's) and returns the verdict: every
    /// figure equal (the training bit-identical) and held-out accuracy above the starting one.
    pub fn check(&self, tag: &str, got: &Expected, steps: u32) -> bool {
        let (b, a, ha) = (pct(got.before), pct(got.after), pct(self.after));
        let (lb, la) = (got.loss_before, got.loss_after);
        defmt::info!(
            "{=str} result: held-out shifted accuracy {=u32}.{=u32} % -> {=u32}.{=u32} % (host: {=u32}.{=u32} %), fine-tuning loss {=u32}.{=u32:03} -> {=u32}.{=u32:03}, {=u32} Adam steps, parameter hash {=u32:#010x} (host {=u32:#010x})",
            tag, b.0, b.1, a.0, a.1, ha.0, ha.1, lb / 1000, lb % 1000, la / 1000, la % 1000, steps,
            got.hash, self.hash
        );
        let same = got.clean == self.clean
            && got.before == self.before
            && got.after == self.after
            && got.loss_before == self.loss_before
            && got.loss_after == self.loss_after;
        let bits = got.hash == self.hash;
        let improved = got.after > got.before;
        defmt::info!(
            "checks: accuracies and losses = host's {=bool}, trained parameters bit-identical to host's {=bool}, accuracy rose {=bool}",
            same, bits, improved
        );
        same && bits && improved
    }
}

/// The host's figures for an f32 run.
pub const EXPECTED_F32: Expected = Expected {
    clean: data::EXPECTED_CLEAN_X10_F32,
    before: data::EXPECTED_BEFORE_X10_F32,
    after: data::EXPECTED_AFTER_X10_F32,
    loss_before: data::EXPECTED_LOSS_BEFORE_X1000_F32,
    loss_after: data::EXPECTED_LOSS_AFTER_X1000_F32,
    hash: data::EXPECTED_PARAMS_HASH_F32,
};
/// The host's figures for an I16F16 run.
pub const EXPECTED_I16F16: Expected = Expected {
    clean: data::EXPECTED_CLEAN_X10_I16F16,
    before: data::EXPECTED_BEFORE_X10_I16F16,
    after: data::EXPECTED_AFTER_X10_I16F16,
    loss_before: data::EXPECTED_LOSS_BEFORE_X1000_I16F16,
    loss_after: data::EXPECTED_LOSS_AFTER_X1000_I16F16,
    hash: data::EXPECTED_PARAMS_HASH_I16F16,
};

/// The pretrained parameters in f32, at compile time.
pub const fn pretrained_f32() -> [f32; PARAMS] {
    let mut out = [0.0f32; PARAMS];
    let mut i = 0;
    while i < PARAMS {
        out[i] = f32::from_bits(data::PRETRAINED_F32_BITS[i]);
        i += 1;
    }
    out
}

/// The pretrained parameters in I16F16, at compile time.
pub const fn pretrained_i16f16() -> [I16F16; PARAMS] {
    let mut out = [I16F16::ZERO; PARAMS];
    let mut i = 0;
    while i < PARAMS {
        out[i] = I16F16::from_bits(data::PRETRAINED_I16F16_BITS[i]);
        i += 1;
    }
    out
}

/// The device's recordings.
pub const DATA: Data<'static> = Data {
    recs: &data::RECORDINGS,
    labels: &data::LABELS,
};

/// One `accumulate` of one converted window.
#[inline(never)]
fn accumulate_once<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &mut Har<S, F>,
    x: &[S; INPUTS],
    label: usize,
) -> Result<S, Error> {
    net.accumulate(x, label)
}

/// One inference of one converted window.
#[inline(never)]
fn predict_once<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &Har<S, F>,
    x: &[S; INPUTS],
) -> Result<usize, Error> {
    net.predict(x)
}

/// Tenths of a percent as (whole, tenth).
pub fn pct(v: u32) -> (u32, u32) {
    (v / 10, v % 10)
}

/// The whole run on `net` (frozen part already in place) and `trainer` (statics of the board);
/// `init` are the pretrained trainable parameters. Returns the verdict.
pub fn run<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    board: &Board,
    ty: &'static str,
    expected: &Expected,
    net: &mut Har<S, F>,
    init: &[S; TRAINABLE],
    trainer: &mut Train<S>,
) -> bool {
    net.trainable_mut().copy_from_slice(init);
    let lut = lut::<S>();
    defmt::info!(
        "network: 1-D CNN (cnn!), {=str}, input 40 x 6; conv1d 6->8 k5 s2 same (frozen), batch_norm + relu (train), conv1d 8->8 k3 s2 same (frozen), batch_norm + relu (train), global_avg_pool, dense 8->4 (train); {=usize} parameters, {=usize} frozen in flash, {=usize} trained; {=usize} MACs forward",
        ty, PARAMS, FROZEN, TRAINABLE, MACS_FORWARD
    );
    defmt::info!(
        "data: BasicMotions, {=usize} windows of {=usize} recordings for fine-tuning, {=usize} held out; new sensor rotated 120 deg about z, accelerometer gain x1.5, gyroscope x0.5; Adam lr 0.02, batches of {=usize}, {=usize} epochs x {=usize} steps",
        FT_WINDOWS, FT_RECS, HELD_WINDOWS, BATCH, EPOCHS, STEPS_PER_EPOCH
    );
    defmt::info!(
        "RAM of the training state: network {=usize} B (frozen weights in flash), trainer (Adam) {=usize} B; one window of inputs {=usize} B on the stack",
        core::mem::size_of::<Har<S, F>>(),
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
        "pretrained: held-out accuracy {=u32}.{=u32} % through the clean sensor, {=u32}.{=u32} % through the new one (host: {=u32}.{=u32} %, {=u32}.{=u32} %); fine-tuning loss {=u32}.{=u32:03}",
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
            defmt::info!(
                "epoch {=usize}/{=usize}: training loss {=u32}.{=u32:03}",
                epoch + 1,
                EPOCHS,
                loss / 1000,
                loss % 1000
            )
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
    let verdict = expected.check("cnn", &got, trainer.optimizer().step_count());

    // Instruction counts after the verdict's figures: three accumulates and three inferences of
    // fine-tuning windows through the new sensor (the gradients are not used afterwards).
    let mut acc_ticks = [0u32; 3];
    let mut fwd_ticks = [0u32; 3];
    for k in 0..3 {
        let mut x = [S::ZERO; INPUTS];
        let label = tryf!(sample(&DATA, &lut, k, false, true, &mut x), "sample");
        let (t, r) = measure(|| accumulate_once(black_box(&mut *net), black_box(&x), label));
        tryf!(r, "accumulate");
        acc_ticks[k] = t;
        let (t, r) = measure(|| predict_once(black_box(&*net), black_box(&x)));
        tryf!(r, "forward");
        fwd_ticks[k] = t;
    }
    defmt::info!(
        "instructions per MAC = ticks * 1e9 / {=u32} / MACs; regions 1 / 2 / 3",
        board.cpu_hz
    );
    defmt::info!("| step | type | MACs | ticks | instr/MAC | check |");
    defmt::info!("|---|---|---|---|---|---|");
    row(
        "CnnStep8",
        ty,
        MACS_ACCUMULATE * BATCH,
        &step_ticks,
        board.cpu_hz,
    );
    row(
        "CnnAccumulate",
        ty,
        MACS_ACCUMULATE,
        &acc_ticks,
        board.cpu_hz,
    );
    row("CnnForward", ty, MACS_FORWARD, &fwd_ticks, board.cpu_hz);
    verdict
}

/// The `#[entry]` body of a board's `cnn` firmware, after its statics are borrowed.
pub fn main<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    board: &Board,
    ty: &'static str,
    expected: &Expected,
    net: &mut Har<S, F>,
    init: &[S; TRAINABLE],
    trainer: &mut Train<S>,
) -> ! {
    let mut ok = crate::start(board, "edgetune on-device 1-D CNN fine-tuning");
    ok &= run(board, ty, expected, net, init, trainer);
    ok &= crate::memory_report(board);
    crate::exit("cnn", ok)
}

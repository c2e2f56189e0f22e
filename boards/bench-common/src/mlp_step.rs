//! The AIfES comparison row: instructions of one whole f32 training step of a 64-32-10 MLP
//! (`mlp!`: dense 64 → 32, ReLU; dense 32 → 10; softmax cross-entropy; every layer trained,
//! 2,410 parameters), batch 1, Adam (lr 1e-3, default betas 0.9 / 0.999, eps 1e-8): the
//! configuration for which AIfES 2.2 publishes 2,929,400 instructions per training step on a
//! Cortex-M4F (gcc -O2, QEMU; see /work/shared/field-notes.md, "AIfES").
//!
//! One timed region = one step as a training loop does it: `zero_grad`, `accumulate` (forward,
//! loss, backward, input and target checks included) of one sample, `Adam::step` over the
//! trainable arena. Three steps on the same sample (Xavier-uniform weights from a fixed seed, a
//! deterministic input in [0, 1), label 3). Row line `| MlpAdamStep | f32 | 64-32-10 batch 1 |
//! t1 / t2 / t3 | i1 / i2 / i3 | ok |` with i = instructions per step (not per parameter), gated
//! on step 2 like every row; the `aifes comparison:` line gives step 2 against AIfES's figure.
//! The row fails unless every loss is finite and the loss fell from step 1 to step 3.
//!
//! RAM: the network (parameters, gradients, activations) and Adam's two moments, about 40 KB, on
//! the stack, where the row's frame (with the moved constructor results) peaks at about 70 KB:
//! the M3 and M4F benches' stack peak went from about 17 KB to about 69 / 89 KB of their 4 MiB.
//! Boards with a few KiB of RAM (the Cortex-M0's 16 KiB) do not run it.
use edgetune::nn::init::Init;
use edgetune::nn::network::Network;
use edgetune::optim::{Adam, AdamConfig, Optimizer};

use crate::measure;

edgetune::mlp! {
    /// AIfES's benchmark network: 64-32-10, ReLU, softmax cross-entropy, every layer trained.
    pub struct AifesMlp {
        dense 64 -> 32, relu;
        dense 32 -> 10;
        loss softmax_cross_entropy;
    }
}

/// AIfES 2.2's published instructions for this step (Cortex-M4F, gcc -O2, QEMU).
pub const AIFES_INSTR_PER_STEP: u64 = 2_929_400;
const STEPS: usize = 3;
const LABEL: usize = 3;
const N: usize = AifesMlp::<f32>::TRAINABLE;

/// Runs the row on f32; `true` if it passed.
#[inline(never)]
pub fn row() -> bool {
    let mut net = AifesMlp::<f32>::zeroed();
    if Network::init(&mut net, Init::XavierUniform { gain: 1.0 }, 7).is_err() {
        defmt::error!("MlpAdamStep: init failed");
        return false;
    }
    let mut opt = match Adam::<f32, N>::new(AdamConfig::adam(1e-3)) {
        Ok(o) => o,
        Err(e) => {
            defmt::error!("MlpAdamStep: Adam::new failed: {}", defmt::Debug2Format(&e));
            return false;
        }
    };
    let mut x = [0f32; AifesMlp::<f32>::INPUTS];
    let mut s: u32 = 0x2545_f491;
    for v in x.iter_mut() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = (s >> 8) as f32 / (1u32 << 24) as f32;
    }

    let mut ticks = [0u32; STEPS];
    let mut losses = [f32::NAN; STEPS];
    let mut ok = true;
    for k in 0..STEPS {
        let (dt, res) = measure(|| -> Result<f32, edgetune::Error> {
            net.zero_grad();
            let loss = net.accumulate(&x, LABEL)?;
            let (p, g) = net.trainable_and_grads();
            opt.step(p, g)?;
            Ok(loss)
        });
        ticks[k] = dt;
        match res {
            Ok(l) => losses[k] = l,
            Err(e) => {
                defmt::error!("MlpAdamStep: step failed: {}", defmt::Debug2Format(&e));
                ok = false;
            }
        }
    }
    ok &= losses.iter().all(|l| l.is_finite()) && losses[2] < losses[0];

    let instr = ticks.map(|t| t as u64 * crate::INSTR_PER_SEC / crate::cpu_hz());
    defmt::info!(
        "| MlpAdamStep | f32 | 64-32-10 batch 1 | {=u32} / {=u32} / {=u32} | {=u64}.00 / {=u64}.00 / {=u64}.00 | {=str} |",
        ticks[0], ticks[1], ticks[2], instr[0], instr[1], instr[2],
        if ok { "ok" } else { "FAILED" }
    );
    // AIfES / edgetune, in hundredths: how many times fewer instructions than AIfES.
    let ratio_x100 = AIFES_INSTR_PER_STEP * 100 / instr[1].max(1);
    defmt::info!(
        "aifes comparison: MlpAdamStep<f32, 64-32-10 batch 1> ({=usize} parameters, Adam, batch 1): {=u64} instructions per step at step 2 vs AIfES 2.2's published 2929400 (Cortex-M4F, gcc -O2): AIfES / edgetune = {=u64}.{=u64:02}; losses {=f32} / {=f32} / {=f32}",
        N, instr[1], ratio_x100 / 100, ratio_x100 % 100, losses[0], losses[1], losses[2]
    );
    ok
}

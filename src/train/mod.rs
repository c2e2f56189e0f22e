//! What a training loop needs around the optimizer: gradient clipping, learning-rate schedules,
//! a sample buffer for mini-batches and replay, and mean-reduced gradient accumulation.
//!
//! | item | torch equivalent | RAM | file |
//! |---|---|---|---|
//! | [`clip_grad_norm`], [`clip_grad_norm_parts`], [`grad_norm`] | `clip_grad_norm_(…, error_if_nonfinite=True)` | none (two read passes) | `clip.rs` |
//! | [`clip_grad_value`], [`clip_grad_value_parts`] | `clip_grad_value_` | none | `clip.rs` |
//! | [`StepLr`], [`ExponentialLr`], [`CosineAnnealingLr`], [`LinearLr`] | the `lr_scheduler` of the same name | 16–32 bytes | `schedule.rs` |
//! | [`SequentialLr`] | `SequentialLR` with one milestone | the two schedules + 4 | `schedule.rs` |
//! | [`Scheduler`], [`base_lrs`] | the scheduler object's `last_epoch` and `step()`, over the optimizer or over parameter groups (each from its own `initial_lr`) | schedule + 4, padded | `schedule.rs` |
//! | [`SampleBuffer`] | (a replay buffer; `DataLoader(shuffle=True)` over it) | `CAP·size_of::<T>()` + about 40 (exact formula on the type) | `buffer.rs` |
//! | [`Pcg32`] | (a seedable generator) | 16 bytes | `rng.rs` |
//! | [`GradAccumulator`] | `reduction="mean"` over a mini-batch | 4 bytes | `accumulate.rs` |
//! | [`Trainer`], [`evaluate`] | one mini-batch: `zero_grad`, forward/backward per sample, mean, clip, `step`, `scheduler.step()`; an eval loop | the optimizer + schedule + 16 | `trainer.rs` |
//! | [`DivergenceGuard`] | (a loss watchdog with rollback) | snapshot of params + optimizer + `8W` | `guard.rs` |
//!
//! Everything is generic over the number type through [`nn::Scalar`](crate::nn::Scalar) (`f32`
//! on the device, `f64` on the host); per-call scalars (norms, clip factors, learning rates) are
//! computed once per call in `f64`, never per element. Every fallible function returns a
//! [`TrainError`] (or, where it reaches the optimizer, an [`Error`](crate::Error), into which a
//! [`TrainError`] converts) and changes nothing when it does.
//!
//! ```
//! use edgetune::optim::{Optimizer, Sgd, SgdConfig};
//! use edgetune::train::{
//!     clip_grad_norm, CosineAnnealingLr, GradAccumulator, LinearLr, Policy, SampleBuffer,
//!     Scheduler, SequentialLr,
//! };
//! use edgetune::Error;
//!
//! fn train() -> Result<(), Error> {
//!     // y = 2x on a single weight, with replay of everything seen.
//!     let mut w = [0.0f32];
//!     let mut grads = [0.0f32];
//!     let mut opt = Sgd::<f32, 1>::new(SgdConfig::new(0.5))?;
//!     let warmup = LinearLr::new(0.5, 0.1, 1.0, 5)?;
//!     let decay = CosineAnnealingLr::new(0.5, 95, 0.005)?;
//!     let mut sched = Scheduler::new(SequentialLr::new(warmup, decay, 5));
//!     sched.apply(&mut opt)?;
//!     let mut replay = SampleBuffer::<(f32, f32), 16>::new(Policy::Reservoir, 7);
//!     let mut acc = GradAccumulator::new();
//!     for i in 0..100u8 {
//!         let x = f32::from(i % 10) / 10.0;
//!         replay.push((x, 2.0 * x));
//!         let mut batch = [0usize; 4];
//!         if replay.draw_batch(&mut batch).is_err() {
//!             continue; // fewer than 4 samples yet
//!         }
//!         acc.reset(&mut grads);
//!         for &j in &batch {
//!             if let Some(&(x, y)) = replay.get(j) {
//!                 grads[0] += 2.0 * (w[0] * x - y) * x; // d/dw of (wx − y)²
//!                 acc.add_sample()?;
//!             }
//!         }
//!         acc.finish(&mut grads)?;
//!         clip_grad_norm(&mut grads, 1.0)?;
//!         opt.step(&mut w, &grads)?;
//!         sched.step_apply(&mut opt)?;
//!     }
//!     assert!((w[0] - 2.0).abs() < 0.05);
//!     Ok(())
//! }
//! train().unwrap();
//! ```

mod accumulate;
mod buffer;
mod clip;
mod error;
pub mod guard;
mod rng;
mod schedule;
pub mod trainer;

pub use accumulate::GradAccumulator;
pub use buffer::{Policy, Pushed, SampleBuffer};
pub use clip::{
    clip_grad_norm, clip_grad_norm_parts, clip_grad_value, clip_grad_value_parts, grad_norm,
    grad_norm_parts,
};
pub use error::TrainError;
pub use guard::{Divergence, DivergenceGuard, GuardConfig, GuardStats, Verdict};
pub use rng::Pcg32;
pub use schedule::{
    base_lrs, CosineAnnealingLr, ExponentialLr, LinearLr, LrSchedule, Scheduler, SequentialLr,
    StepLr,
};
pub use trainer::{evaluate, evaluate_with, BatchSchedule, Clip, Evaluation, NoSchedule, Trainer};

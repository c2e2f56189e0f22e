//! Where the element loops of an optimizer step run: compiled for the widest vector unit of the
//! host CPU (feature `host-simd`), or as the target was compiled (every other build, every
//! device).
//!
//! A host build targets the architecture's baseline (SSE2 on x86-64: four `f32` lanes), while
//! the machine running it may have AVX2 or AVX-512 (8 or 16 lanes). With `host-simd`, `pulp`
//! detects the CPU once and runs the step's loops in a copy compiled for its features. The
//! results are the same bits on every path: the loops use IEEE additions, multiplications,
//! divisions and selects element by element (each correctly rounded whatever the vector width),
//! Rust never contracts a multiply and an add into a fused multiply-add, and no loop reduces
//! across elements. The unit test below steps every optimizer both ways and compares the bits.
//!
//! The closures between the step and the kernels carry `inline(always)` under the feature: a
//! closure left out of line is compiled for the baseline only, and the dispatch gains nothing.

/// Set by the unit test below to run the baseline copy on a machine that has a wider one.
#[cfg(all(test, feature = "host-simd"))]
static BASELINE_ONLY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Runs `f` (one step's element loops) under the host's widest vector unit with `host-simd`,
/// else as is.
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "host-simd")]
    {
        #[cfg(test)]
        if BASELINE_ONLY.load(core::sync::atomic::Ordering::Relaxed) {
            return pulp::Arch::Scalar.dispatch(f);
        }
        pulp::Arch::new().dispatch(f)
    }
    #[cfg(not(feature = "host-simd"))]
    {
        f()
    }
}

#[cfg(all(test, feature = "host-simd"))]
mod tests {
    use super::BASELINE_ONLY;
    use crate::num::fixed::{I16F16, I8F24};
    use crate::num::Scalar;
    use crate::optim::*;
    use core::sync::atomic::Ordering;
    use std::vec::Vec;

    /// Not a multiple of any vector width: the loops' tails run too.
    const N: usize = 1003;

    /// Deterministic values in `[-scale, scale)` (a 64-bit LCG; only the spread matters).
    fn values<S: Scalar>(seed: u64, scale: f64) -> [S; N] {
        let mut x = seed;
        core::array::from_fn(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            S::from_f64(((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale)
        })
    }

    /// Six steps of `make()`'s optimizer on the given path; the parameters after each step.
    fn run<S: Scalar, O: Optimizer<S, N>>(make: &impl Fn() -> O, baseline: bool) -> Vec<[S; N]> {
        BASELINE_ONLY.store(baseline, Ordering::Relaxed);
        let mut opt = make();
        let mut params = values::<S>(1, 2.0);
        let mut seen = Vec::new();
        for step in 0..6 {
            // Gradients that change sign and scale, with exact zeros (a zero second moment).
            let mut grads = values::<S>(10 + step, 0.5);
            for g in grads.iter_mut().step_by(7) {
                *g = S::from_f64(0.0);
            }
            opt.step(&mut params, &grads).expect("valid step");
            seen.push(params);
        }
        BASELINE_ONLY.store(false, Ordering::Relaxed);
        seen
    }

    /// The dispatched copy gives the baseline copy's bits after every step.
    fn same_bits<S: Scalar + core::fmt::Debug, O: Optimizer<S, N>>(
        name: &str,
        make: impl Fn() -> O,
    ) {
        let base = run::<S, O>(&make, true);
        let wide = run::<S, O>(&make, false);
        for (step, (b, w)) in base.iter().zip(&wide).enumerate() {
            for (i, (x, y)) in b.iter().zip(w).enumerate() {
                assert!(
                    x.to_f64().to_bits() == y.to_f64().to_bits(),
                    "{name}: step {step}, element {i}: baseline {x:?}, dispatched {y:?}"
                );
            }
        }
    }

    fn every_optimizer<S>()
    where
        S: Scalar + core::fmt::Debug + SgdNum + MomentumNum + AdamNum + RmsPropNum + AdagradNum,
        S: LionNum,
    {
        same_bits("sgd", || Sgd::<S, N>::new(SgdConfig::new(0.01)).unwrap());
        same_bits("nesterov", || {
            Momentum::<S, N>::new(MomentumConfig::nesterov(0.01, 0.9)).unwrap()
        });
        same_bits("adam", || {
            Adam::<S, N>::new(AdamConfig::adam(1e-3)).unwrap()
        });
        same_bits("adamw", || {
            Adam::<S, N>::new(AdamConfig::adamw(1e-3)).unwrap()
        });
        let amsgrad_l2_max = AdamConfig {
            weight_decay: 0.01,
            maximize: true,
            ..AdamConfig::adam(1e-3)
        };
        same_bits("amsgrad", || AmsGrad::<S, N>::new(amsgrad_l2_max).unwrap());
        same_bits("rmsprop", || {
            RmsProp::<S, N>::new(RmsPropConfig::new(1e-2)).unwrap()
        });
        let centered = RmsPropConfig {
            momentum: 0.9,
            weight_decay: 0.01,
            ..RmsPropConfig::new(1e-2)
        };
        same_bits("rmsprop centered", || {
            RmsProp::<S, N, On, On>::new(centered).unwrap()
        });
        same_bits("adagrad", || {
            Adagrad::<S, N>::new(AdagradConfig::new(1e-2)).unwrap()
        });
        same_bits("lion", || Lion::<S, N>::new(LionConfig::new(1e-4)).unwrap());
    }

    #[test]
    fn dispatched_steps_match_the_baseline_bit_for_bit() {
        every_optimizer::<f32>();
        every_optimizer::<f64>();
        every_optimizer::<I16F16>();
        every_optimizer::<I8F24>();
        every_optimizer::<crate::num::fixed::I4F12>();
    }
}

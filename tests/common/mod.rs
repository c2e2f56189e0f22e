//! Helpers shared by the integration tests (`mod common;` in each file that uses them): one
//! deterministic generator, the textbook sigmoid, central differences for gradient checks, and the
//! generic optimizer configuration for a reference `Hyper`. Each test binary uses only some of them.
#![allow(dead_code)]

use edgetune::optim::{
    AdagradConfig, AdamConfig, LionConfig, MomentumConfig, RmsPropConfig, SgdConfig,
};
use edgetune::reference::{Hyper, Kind};

/// SplitMix64: a small deterministic generator (Steele, Lea and Flood 2014; the constants of
/// Vigna's `splitmix64.c`).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`, 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[-a, a)`.
    pub fn uniform(&mut self, a: f64) -> f64 {
        (self.unit() * 2.0 - 1.0) * a
    }
    /// Uniform in `[-a, a)` with `|x| ≥ gap` (for inputs near a kink).
    pub fn away_from_zero(&mut self, a: f64, gap: f64) -> f64 {
        loop {
            let x = self.uniform(a);
            if x.abs() >= gap {
                return x;
            }
        }
    }
    /// An `f32`-representable value uniform in `[-a, a)`, returned as `f64`.
    pub fn f32ish(&mut self, a: f64) -> f64 {
        self.uniform(a) as f32 as f64
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    /// `n` values uniform in `[-a, a)`.
    pub fn vec(&mut self, n: usize, a: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(a)).collect()
    }
    /// `N` values uniform in `[-a, a)`.
    pub fn array<const N: usize>(&mut self, a: f64) -> [f64; N] {
        core::array::from_fn(|_| self.uniform(a))
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The logistic function in `f64`, written from its definition.
pub fn sigmoid_ref(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// SGD without momentum for `h` (the fields `SgdConfig` has).
pub fn sgd_config(h: &Hyper) -> SgdConfig {
    SgdConfig {
        lr: h.lr,
        weight_decay: h.weight_decay,
        maximize: h.maximize,
    }
}

/// SGD with all of torch's arguments (momentum 0 included) for `h`.
pub fn momentum_config(h: &Hyper) -> MomentumConfig {
    MomentumConfig {
        lr: h.lr,
        momentum: h.momentum,
        dampening: h.dampening,
        weight_decay: h.weight_decay,
        nesterov: h.nesterov,
        maximize: h.maximize,
    }
}

/// Adam (`kind = Adam`) or AdamW (`kind = AdamW`) for `h`; AMSGrad is the optimizer's type.
pub fn adam_config(kind: Kind, h: &Hyper) -> AdamConfig {
    AdamConfig {
        lr: h.lr,
        beta1: h.betas.0,
        beta2: h.betas.1,
        eps: h.eps,
        weight_decay: h.weight_decay,
        decoupled_weight_decay: kind == Kind::AdamW,
        maximize: h.maximize,
    }
}

/// RMSprop for `h`; `centered` and the momentum buffer are the optimizer's type.
pub fn rmsprop_config(h: &Hyper) -> RmsPropConfig {
    RmsPropConfig {
        lr: h.lr,
        alpha: h.alpha,
        eps: h.eps,
        weight_decay: h.weight_decay,
        momentum: h.momentum,
        maximize: h.maximize,
    }
}

/// Adagrad for `h`.
pub fn adagrad_config(h: &Hyper) -> AdagradConfig {
    AdagradConfig {
        lr: h.lr,
        lr_decay: h.lr_decay,
        weight_decay: h.weight_decay,
        initial_accumulator_value: h.initial_accumulator_value,
        eps: h.eps,
        maximize: h.maximize,
    }
}

/// Lion for `h`.
pub fn lion_config(h: &Hyper) -> LionConfig {
    LionConfig {
        lr: h.lr,
        beta1: h.betas.0,
        beta2: h.betas.1,
        weight_decay: h.weight_decay,
    }
}

/// Step of the central differences.
pub const FD_STEP: f64 = 1e-6;
/// Allowed gradient error, relative to `max(1, |analytic|)` (derived in `tests/nn_gradcheck.rs`'s
/// module docs).
pub const FD_TOL: f64 = 1e-6;

/// Central differences of `f` at every coordinate of `p`.
pub fn numeric_gradient(f: &dyn Fn(&[f64]) -> f64, p: &[f64]) -> Vec<f64> {
    let mut q = p.to_vec();
    (0..p.len())
        .map(|i| {
            q[i] = p[i] + FD_STEP;
            let up = f(&q);
            q[i] = p[i] - FD_STEP;
            let down = f(&q);
            q[i] = p[i];
            (up - down) / (2.0 * FD_STEP)
        })
        .collect()
}

/// Asserts `analytic ≈ numeric` within [`FD_TOL`]; prints and returns the worst scaled error.
pub fn assert_gradient(what: &str, analytic: &[f64], numeric: &[f64]) -> f64 {
    assert_eq!(analytic.len(), numeric.len(), "{what}: length");
    let mut worst: f64 = 0.0;
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let err = (a - n).abs() / a.abs().max(1.0);
        assert!(
            err <= FD_TOL,
            "{what}: element {i}: analytic {a:e}, numeric {n:e}, scaled error {err:e}"
        );
        worst = worst.max(err);
    }
    println!(
        "gradcheck {what}: {} elements, worst scaled error {worst:.2e}",
        analytic.len()
    );
    worst
}

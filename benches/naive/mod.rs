//! The plain per-element `f32` loops a user would write from the textbook rules, to measure
//! edgetune's kernels against.
//!
//! Each follows torch's rule for the configuration the bench runs (optimizer-spec.md), computed
//! in `f32` throughout: scalars once per step, then one pass over the elements with iterator zips
//! (the idiomatic, bounds-check-free form clippy asks for). There is no gradient check, no
//! parameter groups, no `maximize` and no weight decay where the configuration has none: only what
//! the benched configuration needs. State is a `Vec<f32>` per buffer, zero at the start.

/// `SGD(lr)`: `p -= lr·g`.
pub struct Sgd {
    lr: f32,
}

impl Sgd {
    pub fn new(lr: f32) -> Self {
        Sgd { lr }
    }

    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        for (p, g) in params.iter_mut().zip(grads) {
            *p -= self.lr * g;
        }
    }
}

/// `SGD(lr, momentum)` with no dampening: `buf = μ·buf + g; p -= lr·buf`. With the buffer starting
/// at 0 this equals torch's `buf = g` on the first step.
pub struct Momentum {
    lr: f32,
    momentum: f32,
    buf: Vec<f32>,
}

impl Momentum {
    pub fn new(n: usize, lr: f32, momentum: f32) -> Self {
        Momentum {
            lr,
            momentum,
            buf: vec![0.0; n],
        }
    }

    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        for ((p, g), b) in params.iter_mut().zip(grads).zip(&mut self.buf) {
            *b = self.momentum * *b + g;
            *p -= self.lr * *b;
        }
    }
}

/// Adam (Kingma & Ba, Algorithm 1, which torch's Adam is), with AdamW's decoupled decay
/// `p *= 1 − lr·wd` first when `weight_decay` is nonzero (torch's `AdamW`).
pub struct Adam {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    t: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    /// torch's `Adam(lr)`.
    pub fn new(n: usize, lr: f32) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// torch's `AdamW(lr)`: weight decay 1e-2, decoupled.
    pub fn adamw(n: usize, lr: f32) -> Self {
        Adam {
            weight_decay: 1e-2,
            ..Self::new(n, lr)
        }
    }

    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.step_with_sqrt(params, grads, f32::sqrt);
    }

    /// The step with another square root (the bench's diagnostics swap in edgetune's).
    pub fn step_with_sqrt(&mut self, params: &mut [f32], grads: &[f32], sqrt: impl Fn(f32) -> f32) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t);
        let bc2 = 1.0 - self.beta2.powi(self.t);
        let decay = 1.0 - self.lr * self.weight_decay;
        let (b1, b2) = (self.beta1, self.beta2);
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            if self.weight_decay != 0.0 {
                *p *= decay;
            }
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let m_hat = *m / bc1;
            let v_hat = *v / bc2;
            *p -= self.lr * m_hat / (sqrt(v_hat) + self.eps);
        }
    }
}

/// `RMSprop(lr)` (alpha 0.99, eps 1e-8 outside the square root, no momentum, not centered).
pub struct RmsProp {
    lr: f32,
    alpha: f32,
    eps: f32,
    v: Vec<f32>,
}

impl RmsProp {
    pub fn new(n: usize, lr: f32) -> Self {
        RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            v: vec![0.0; n],
        }
    }

    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let a = self.alpha;
        for ((p, g), v) in params.iter_mut().zip(grads).zip(&mut self.v) {
            *v = a * *v + (1.0 - a) * g * g;
            *p -= self.lr * g / (v.sqrt() + self.eps);
        }
    }
}

/// `Adagrad(lr)` (no learning-rate decay, accumulator from 0, eps 1e-10 outside the square root).
pub struct Adagrad {
    lr: f32,
    eps: f32,
    sum: Vec<f32>,
}

impl Adagrad {
    pub fn new(n: usize, lr: f32) -> Self {
        Adagrad {
            lr,
            eps: 1e-10,
            sum: vec![0.0; n],
        }
    }

    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        for ((p, g), s) in params.iter_mut().zip(grads).zip(&mut self.sum) {
            *s += g * g;
            *p -= self.lr * g / (s.sqrt() + self.eps);
        }
    }
}

/// Lion as the authors' code writes it (betas 0.9, 0.99): decay first (a multiply by 1 when the
/// decay is 0, as there), the sign of the interpolation with the old momentum, then the EMA.
pub struct Lion {
    lr: f32,
    beta1: f32,
    beta2: f32,
    weight_decay: f32,
    m: Vec<f32>,
}

impl Lion {
    pub fn new(n: usize, lr: f32) -> Self {
        Lion {
            lr,
            beta1: 0.9,
            beta2: 0.99,
            weight_decay: 0.0,
            m: vec![0.0; n],
        }
    }

    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let decay = 1.0 - self.lr * self.weight_decay;
        let (b1, b2) = (self.beta1, self.beta2);
        for ((p, g), m) in params.iter_mut().zip(grads).zip(&mut self.m) {
            *p *= decay;
            let c = b1 * *m + (1.0 - b1) * g;
            // torch.sign: 0 for ±0 (f32::signum would give ±1).
            let sign = if c > 0.0 {
                1.0
            } else if c < 0.0 {
                -1.0
            } else {
                0.0
            };
            *p -= self.lr * sign;
            *m = b2 * *m + (1.0 - b2) * g;
        }
    }
}

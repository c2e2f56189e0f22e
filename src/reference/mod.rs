//! Plain, independent `f64` reference implementation of every optimizer.
//!
//! Each rule is written straight from the project's optimizer specification (torch.optim 2.15, single-tensor CPU
//! path; Lion from the authors' `lion_pytorch.py`). Section names in the comments below refer to that file.
//!
//! This module deliberately shares no code with the generic optimizers (the only items it uses from `crate::`
//! are error types, so that its errors convert into [`crate::Error`]; `tests/reference_independence.rs`
//! checks that), so that a bug in the generic optimizer code cannot hide in it as well. Its hyperparameter checks are
//! written out again here, and `tests/reference_validation.rs` sweeps edge values through both to show that
//! they accept and reject the same sets. It favours plainness over speed: one loop
//! per optimizer, each line one formula of the spec.
//!
//! Compiled only with the `reference` feature (which links `std`).

// The loops index several slices with the same `i` on purpose: each line then reads like the spec's formula.
#![allow(clippy::needless_range_loop)]

use core::fmt;
use std::vec;
use std::vec::Vec;

pub mod cnn;
pub mod network;

/// Which optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `torch.optim.SGD` (optionally with momentum, dampening and Nesterov).
    Sgd,
    /// `torch.optim.Adam` (L2 weight decay added to the gradient; optional AMSGrad).
    Adam,
    /// `torch.optim.AdamW` (Adam with decoupled weight decay; default `weight_decay` 1e-2).
    AdamW,
    /// `torch.optim.RMSprop` (optionally centered and/or with momentum).
    RmsProp,
    /// `torch.optim.Adagrad` (with `lr_decay` and `initial_accumulator_value`).
    Adagrad,
    /// Lion, as in the authors' reference `lion_pytorch.py`.
    Lion,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 6] = [
        Kind::Sgd,
        Kind::Adam,
        Kind::AdamW,
        Kind::RmsProp,
        Kind::Adagrad,
        Kind::Lion,
    ];

    /// The kind named `name` (`"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"`, `"adagrad"`, `"lion"`; exact,
    /// lower case), or `None` for any other string.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "sgd" => Some(Kind::Sgd),
            "adam" => Some(Kind::Adam),
            "adamw" => Some(Kind::AdamW),
            "rmsprop" => Some(Kind::RmsProp),
            "adagrad" => Some(Kind::Adagrad),
            "lion" => Some(Kind::Lion),
            _ => None,
        }
    }

    /// The lower-case name accepted by [`Kind::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sgd => "sgd",
            Kind::Adam => "adam",
            Kind::AdamW => "adamw",
            Kind::RmsProp => "rmsprop",
            Kind::Adagrad => "adagrad",
            Kind::Lion => "lion",
        }
    }
}

/// All hyperparameters, under torch's keyword names.
///
/// One struct serves every optimizer; a field the chosen optimizer does not have is simply ignored by
/// [`Reference::step`] (for example `eps` for SGD and Lion, `maximize` for Lion). [`Hyper::validate`] (run by
/// every step) accepts exactly what the generic optimizers' `validate` accept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    /// Learning rate `lr`.
    pub lr: f64,
    /// `(β1, β2)` of Adam, AdamW and Lion.
    pub betas: (f64, f64),
    /// `eps` of Adam, AdamW, RMSprop and Adagrad.
    pub eps: f64,
    /// `weight_decay`: L2 (added to the gradient) for SGD, Adam, RMSprop, Adagrad; decoupled for AdamW and Lion.
    pub weight_decay: f64,
    /// Adam/AdamW `amsgrad`.
    pub amsgrad: bool,
    /// `maximize` (all but Lion): the gradient is negated first.
    pub maximize: bool,
    /// `momentum` of SGD and RMSprop.
    pub momentum: f64,
    /// SGD `dampening`.
    pub dampening: f64,
    /// SGD `nesterov`.
    pub nesterov: bool,
    /// RMSprop smoothing constant `alpha`.
    pub alpha: f64,
    /// RMSprop `centered`.
    pub centered: bool,
    /// Adagrad `lr_decay`.
    pub lr_decay: f64,
    /// Adagrad `initial_accumulator_value`.
    pub initial_accumulator_value: f64,
}

impl Hyper {
    /// torch's default hyperparameters for `kind` (Lion: the authors' defaults).
    ///
    /// Spec, section headers: SGD lr 1e-3; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0;
    /// AdamW the same but weight_decay 1e-2; RMSprop lr 1e-2, alpha 0.99, eps 1e-8; Adagrad lr 1e-2,
    /// lr_decay 0, eps 1e-10, initial_accumulator_value 0; Lion lr 1e-4, betas (0.9, 0.99), weight_decay 0.
    /// All flags default to `false` and momentum/dampening to 0. Fields an optimizer does not have keep the
    /// neutral values of the `base` below and are ignored.
    pub fn defaults(kind: Kind) -> Hyper {
        let base = Hyper {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            alpha: 0.99,
            centered: false,
            lr_decay: 0.0,
            initial_accumulator_value: 0.0,
        };
        match kind {
            Kind::Sgd => Hyper { lr: 1e-3, ..base },
            Kind::Adam => Hyper {
                lr: 1e-3,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
                ..base
            },
            Kind::AdamW => Hyper {
                lr: 1e-3,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 1e-2,
                ..base
            },
            Kind::RmsProp => Hyper {
                lr: 1e-2,
                alpha: 0.99,
                eps: 1e-8,
                ..base
            },
            Kind::Adagrad => Hyper {
                lr: 1e-2,
                lr_decay: 0.0,
                eps: 1e-10,
                initial_accumulator_value: 0.0,
                ..base
            },
            Kind::Lion => Hyper {
                lr: 1e-4,
                betas: (0.9, 0.99),
                weight_decay: 0.0,
                ..base
            },
        }
    }

    /// Checks the hyperparameters `kind` uses, exactly as the generic configurations' `validate` do (the
    /// same accept/reject set, the same names, checked in the same order), without calling them:
    ///
    /// - every `lr` and `weight_decay`: finite and `>= 0`;
    /// - `eps` (Adam, AdamW, RMSprop, Adagrad): finite and `> 0` (torch accepts `eps = 0`, which gives
    ///   `0/0 = NaN` for an element whose gradients were all 0; the generic code rejects it, and so does this);
    /// - `betas` (Adam, AdamW, Lion): each in `[0, 1)`;
    /// - SGD (the generic `MomentumConfig`, whose rules are torch's): `momentum` finite and `>= 0`,
    ///   `dampening` finite, `nesterov` only with `momentum > 0` and `dampening == 0`;
    /// - RMSprop: `alpha` and `momentum` finite and `>= 0`;
    /// - Adagrad: `lr_decay` and `initial_accumulator_value` finite and `>= 0`.
    ///
    /// Fields the optimizer does not have are not checked.
    pub fn validate(&self, kind: Kind) -> Result<(), RefError> {
        match kind {
            Kind::Sgd => {
                non_negative("lr", self.lr)?;
                non_negative("momentum", self.momentum)?;
                if !self.dampening.is_finite() {
                    return Err(invalid("dampening", "finite"));
                }
                non_negative("weight_decay", self.weight_decay)?;
                if self.nesterov && !(self.momentum > 0.0 && self.dampening == 0.0) {
                    return Err(invalid(
                        "nesterov",
                        "used with momentum > 0 and dampening = 0",
                    ));
                }
            }
            Kind::Adam | Kind::AdamW => {
                non_negative("lr", self.lr)?;
                unit("betas", self.betas.0)?;
                unit("betas", self.betas.1)?;
                positive("eps", self.eps)?;
                non_negative("weight_decay", self.weight_decay)?;
            }
            Kind::RmsProp => {
                non_negative("lr", self.lr)?;
                non_negative("alpha", self.alpha)?;
                positive("eps", self.eps)?;
                non_negative("weight_decay", self.weight_decay)?;
                non_negative("momentum", self.momentum)?;
            }
            Kind::Adagrad => {
                non_negative("lr", self.lr)?;
                non_negative("lr_decay", self.lr_decay)?;
                non_negative("weight_decay", self.weight_decay)?;
                non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
                positive("eps", self.eps)?;
            }
            Kind::Lion => {
                non_negative("lr", self.lr)?;
                unit("betas", self.betas.0)?;
                unit("betas", self.betas.1)?;
                non_negative("weight_decay", self.weight_decay)?;
            }
        }
        Ok(())
    }
}

fn invalid(name: &'static str, requirement: &'static str) -> RefError {
    RefError::InvalidHyperparameter { name, requirement }
}

/// `x` finite and `>= 0`.
fn non_negative(name: &'static str, x: f64) -> Result<(), RefError> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(invalid(name, "finite and >= 0"))
    }
}

/// `x` finite and `> 0`.
fn positive(name: &'static str, x: f64) -> Result<(), RefError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, "finite and > 0"))
    }
}

/// `x` in `[0, 1)` (so not NaN).
fn unit(name: &'static str, x: f64) -> Result<(), RefError> {
    if (0.0..1.0).contains(&x) {
        Ok(())
    } else {
        Err(invalid(name, "in [0, 1)"))
    }
}

/// Error of the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefError {
    /// A slice (parameters, gradients, or a state buffer set by the caller) does not have `n` elements.
    LengthMismatch {
        /// The length required (the reference's `n`).
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A hyperparameter the optimizer uses is outside the range the generic optimizers accept (see
    /// [`Hyper::validate`]).
    InvalidHyperparameter {
        /// Its name, as torch spells it (`lr`, `betas`, `eps`, ...).
        name: &'static str,
        /// What a valid value looks like.
        requirement: &'static str,
    },
    /// A gradient element is NaN or infinite (the generic optimizers refuse it too).
    NonFiniteGradient {
        /// Index of the first offending element.
        index: usize,
    },
}

impl From<RefError> for crate::Error {
    /// Each kind becomes the crate error of the same name and fields.
    fn from(e: RefError) -> crate::Error {
        match e {
            RefError::LengthMismatch { expected, found } => {
                crate::Error::LengthMismatch { expected, found }
            }
            RefError::InvalidHyperparameter { name, requirement } => {
                crate::Error::InvalidHyperparameter { name, requirement }
            }
            RefError::NonFiniteGradient { index } => crate::Error::NonFiniteGradient { index },
        }
    }
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::LengthMismatch { expected, found } => {
                write!(
                    f,
                    "length mismatch: expected {expected} elements, found {found}"
                )
            }
            RefError::InvalidHyperparameter { name, requirement } => {
                write!(f, "invalid hyperparameter `{name}`: must be {requirement}")
            }
            RefError::NonFiniteGradient { index } => {
                write!(f, "gradient element {index} is NaN or infinite")
            }
        }
    }
}

impl std::error::Error for RefError {}

/// One optimizer over one tensor of `n` parameters, with its state kept exactly as torch keeps it.
///
/// A buffer is `Some` exactly when torch's state dict would hold it: SGD's `momentum_buffer` only when
/// momentum ≠ 0 and from the first step on; Adam's `exp_avg`/`exp_avg_sq` (and `max_exp_avg_sq` only with
/// amsgrad) from the first step on; RMSprop's `square_avg` from the first step on, `momentum_buffer` only
/// when momentum > 0, `grad_avg` only when centered; Adagrad's `sum` from construction on; Lion's `exp_avg`
/// from the first step on.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Which optimizer.
    pub kind: Kind,
    /// Its hyperparameters (may be changed between steps, as torch's param groups may).
    pub hyper: Hyper,
    /// Number of parameters.
    pub n: usize,
    /// Number of steps taken (torch's `step`; SGD and Lion keep none in torch, but it is counted here too).
    pub step: u64,
    /// SGD (momentum ≠ 0) and RMSprop (momentum > 0) `momentum_buffer`.
    pub momentum_buffer: Option<Vec<f64>>,
    /// Adam/AdamW first moment `exp_avg`; Lion's momentum `exp_avg`.
    pub exp_avg: Option<Vec<f64>>,
    /// Adam/AdamW second moment `exp_avg_sq` (raw, not bias-corrected).
    pub exp_avg_sq: Option<Vec<f64>>,
    /// Adam/AdamW with amsgrad: running max of the raw `exp_avg_sq`.
    pub max_exp_avg_sq: Option<Vec<f64>>,
    /// RMSprop `square_avg`.
    pub square_avg: Option<Vec<f64>>,
    /// RMSprop (centered) `grad_avg`.
    pub grad_avg: Option<Vec<f64>>,
    /// Adagrad `sum`.
    pub sum: Option<Vec<f64>>,
}

impl Reference {
    /// A fresh optimizer for `n` parameters. Only Adagrad creates state here (spec, Adagrad: "state created
    /// EAGERLY in the constructor": `sum = full(initial_accumulator_value)`); every other buffer is created at
    /// the first step.
    pub fn new(kind: Kind, hyper: Hyper, n: usize) -> Reference {
        let sum = if kind == Kind::Adagrad {
            Some(vec![hyper.initial_accumulator_value; n])
        } else {
            None
        };
        Reference {
            kind,
            hyper,
            n,
            step: 0,
            momentum_buffer: None,
            exp_avg: None,
            exp_avg_sq: None,
            max_exp_avg_sq: None,
            square_avg: None,
            grad_avg: None,
            sum,
        }
    }

    /// One step; `params` are updated in place.
    ///
    /// Errors, in this order, each changing nothing (neither `params` nor any state, nor `step`):
    /// [`RefError::InvalidHyperparameter`] if [`Hyper::validate`] refuses `hyper`;
    /// [`RefError::LengthMismatch`] if `params`, `grads` or a state buffer present does not have `n`
    /// elements; [`RefError::NonFiniteGradient`] if a gradient element is NaN or infinite.
    pub fn step(&mut self, params: &mut [f64], grads: &[f64]) -> Result<(), RefError> {
        self.hyper.validate(self.kind)?;
        self.check_lengths(params.len(), grads.len())?;
        if let Some(index) = grads.iter().position(|g| !g.is_finite()) {
            return Err(RefError::NonFiniteGradient { index });
        }
        // Spec, conventions: "t is the 1-based count of steps ... (incremented before it is used)".
        self.step = self.step.saturating_add(1);
        match self.kind {
            Kind::Sgd => self.step_sgd(params, grads),
            Kind::Adam => self.step_adam(params, grads, false),
            Kind::AdamW => self.step_adam(params, grads, true),
            Kind::RmsProp => self.step_rmsprop(params, grads),
            Kind::Adagrad => self.step_adagrad(params, grads),
            Kind::Lion => self.step_lion(params, grads),
        }
        Ok(())
    }

    /// Lion only (`None` for the others): the interpolation `c = β1·m + (1−β1)·g` that the NEXT step would
    /// compute for gradient `grads`, element-wise, without changing any state. `m` is taken as 0 before the
    /// first step. Also `None` if `grads` (or a caller-set `exp_avg`) does not have `n` elements.
    pub fn lion_c(&self, grads: &[f64]) -> Option<Vec<f64>> {
        if self.kind != Kind::Lion || grads.len() != self.n {
            return None;
        }
        let n = self.n;
        let zeros;
        let m: &[f64] = match &self.exp_avg {
            Some(m) if m.len() == n => m,
            Some(_) => return None,
            None => {
                zeros = vec![0.0; n];
                &zeros
            }
        };
        let b1 = self.hyper.betas.0;
        let mut c = Vec::with_capacity(n);
        for i in 0..n {
            // Spec, Lion: c = β1 * m + (1-β1) * g   (OLD m)
            c.push(b1 * m[i] + (1.0 - b1) * grads[i]);
        }
        Some(c)
    }

    /// Every slice the step will index must have exactly `n` elements.
    fn check_lengths(&self, params_len: usize, grads_len: usize) -> Result<(), RefError> {
        let expected = self.n;
        let buffers = [
            &self.momentum_buffer,
            &self.exp_avg,
            &self.exp_avg_sq,
            &self.max_exp_avg_sq,
            &self.square_avg,
            &self.grad_avg,
            &self.sum,
        ];
        let mut lengths = Vec::with_capacity(2 + buffers.len());
        lengths.push(params_len);
        lengths.push(grads_len);
        for b in buffers.iter().copied().flatten() {
            lengths.push(b.len());
        }
        for found in lengths {
            if found != expected {
                return Err(RefError::LengthMismatch { expected, found });
            }
        }
        Ok(())
    }

    /// Spec, section "SGD".
    fn step_sgd(&mut self, params: &mut [f64], grads: &[f64]) {
        let n = self.n;
        let h = self.hyper;
        let lr = h.lr;
        let wd = h.weight_decay;
        let mu = h.momentum;
        let tau = h.dampening;

        // g = maximize ? -grad : grad ;  if wd != 0: g = g + wd * p
        let mut g = vec![0.0; n];
        for i in 0..n {
            g[i] = if h.maximize { -grads[i] } else { grads[i] };
            if wd != 0.0 {
                g[i] += wd * params[i];
            }
        }

        if mu != 0.0 {
            let buf = match self.momentum_buffer.take() {
                // "if no momentum_buffer yet: buf = copy(g)   # FIRST STEP: buf = g (not (1-τ)·g, not 0)"
                None => g.clone(),
                // "else: buf = μ * buf + (1 - τ) * g"
                Some(mut buf) => {
                    for i in 0..n {
                        buf[i] = mu * buf[i] + (1.0 - tau) * g[i];
                    }
                    buf
                }
            };
            // "g = nesterov ? g + μ * buf : buf   # nesterov uses the just-updated buf"
            for i in 0..n {
                g[i] = if h.nesterov {
                    g[i] + mu * buf[i]
                } else {
                    buf[i]
                };
            }
            self.momentum_buffer = Some(buf);
        }

        // "p = p - lr * g"
        for i in 0..n {
            params[i] -= lr * g[i];
        }
    }

    /// Spec, sections "Adam" and "AdamW" (`decoupled` = AdamW).
    fn step_adam(&mut self, params: &mut [f64], grads: &[f64], decoupled: bool) {
        let n = self.n;
        let h = self.hyper;
        let lr = h.lr;
        let wd = h.weight_decay;
        let eps = h.eps;
        let (b1, b2) = h.betas;
        let t = self.step;

        // "state (lazy, first step): m=0, v=0, vmax=0 (only if amsgrad)"
        let mut m = self.exp_avg.take().unwrap_or_else(|| vec![0.0; n]);
        let mut v = self.exp_avg_sq.take().unwrap_or_else(|| vec![0.0; n]);
        let mut vmax = if h.amsgrad {
            Some(self.max_exp_avg_sq.take().unwrap_or_else(|| vec![0.0; n]))
        } else {
            None
        };

        // Scalars as Python doubles: "bc1 = 1 - β1**t ; bc2 = 1 - β2**t ; step_size = lr / bc1".
        let bc1 = 1.0 - pow_t(b1, t);
        let bc2 = 1.0 - pow_t(b2, t);
        let step_size = lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        // AdamW: "p = p * (1 - lr*wd)".
        let decay = 1.0 - lr * wd;

        for i in 0..n {
            // "g = maximize ? -grad : grad"
            let mut g = if h.maximize { -grads[i] } else { grads[i] };
            if wd != 0.0 {
                if decoupled {
                    // "p = p * (1 - lr*wd)   # AdamW: before the moment update"
                    params[i] *= decay;
                } else {
                    // "g = g + wd * p   # Adam: L2 goes into m and v"
                    g += wd * params[i];
                }
            }
            // "m = lerp(m, g, 1-β1)   # = β1*m + (1-β1)*g"
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            // "v = β2 * v + (1-β2) * g * g"
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let denom = match vmax.as_mut() {
                Some(vmax) => {
                    // "vmax = max(vmax, v)   # max of the RAW v"; "denom = sqrt(vmax) / sqrt(bc2) + eps"
                    vmax[i] = torch_maximum(vmax[i], v[i]);
                    vmax[i].sqrt() / bc2_sqrt + eps
                }
                // "denom = sqrt(v) / sqrt(bc2) + eps   # eps added AFTER the sqrt AND after bias correction"
                None => v[i].sqrt() / bc2_sqrt + eps,
            };
            // "p = p - step_size * m / denom   # torch: p.addcdiv_(m, denom, value=-step_size)"
            params[i] -= step_size * (m[i] / denom);
        }

        self.exp_avg = Some(m);
        self.exp_avg_sq = Some(v);
        if vmax.is_some() {
            self.max_exp_avg_sq = vmax;
        }
    }

    /// Spec, section "RMSprop".
    fn step_rmsprop(&mut self, params: &mut [f64], grads: &[f64]) {
        let n = self.n;
        let h = self.hyper;
        let lr = h.lr;
        let wd = h.weight_decay;
        let eps = h.eps;
        let alpha = h.alpha;
        let mu = h.momentum;

        // "state: v(square_avg)=0, buf(momentum_buffer)=0 if μ>0, ḡ(grad_avg)=0 if centered"
        let mut v = self.square_avg.take().unwrap_or_else(|| vec![0.0; n]);
        let mut gbar = if h.centered {
            Some(self.grad_avg.take().unwrap_or_else(|| vec![0.0; n]))
        } else {
            None
        };
        let mut buf = if mu > 0.0 {
            Some(self.momentum_buffer.take().unwrap_or_else(|| vec![0.0; n]))
        } else {
            None
        };

        for i in 0..n {
            // "g = maximize ? -grad : grad" ; "if wd != 0: g = g + wd * p"
            // Each line is rounded as torch's float64 CPU kernels round it (its operation order
            // and fused multiply-adds, measured on issue 16's cases): where `v − ḡ²` cancels
            // (centered, α near 0) an algebraically equal order lands 1e-10 away.
            let mut g = if h.maximize { -grads[i] } else { grads[i] };
            if wd != 0.0 {
                // torch: grad.add(param, alpha=wd), fused.
                g = wd.mul_add(params[i], g);
            }
            // "v = α * v + (1-α) * g * g"; torch: v.mul_(α).addcmul_(g, g, value=1-α), which
            // rounds α·v, then ((1-α)·g)·g + α·v with one rounding.
            v[i] = ((1.0 - alpha) * g).mul_add(g, alpha * v[i]);
            let mut avg = match gbar.as_mut() {
                Some(gbar) => {
                    // "ḡ = lerp(ḡ, g, 1-α)   # = α ḡ + (1-α) g": torch's lerp, `ḡ + w·(g − ḡ)`
                    // for w < 0.5, else `g − (g − ḡ)·(1 − w)`, `g − ḡ` rounded, then fused.
                    let w = 1.0 - alpha;
                    let d = g - gbar[i];
                    gbar[i] = if w < 0.5 {
                        w.mul_add(d, gbar[i])
                    } else {
                        (-(1.0 - w)).mul_add(d, g)
                    };
                    // "avg = sqrt(v - ḡ*ḡ)": torch v.addcmul(ḡ, ḡ, value=-1), fused.
                    (-gbar[i]).mul_add(gbar[i], v[i]).sqrt()
                }
                // "avg = sqrt(v)"
                None => v[i].sqrt(),
            };
            // "avg = avg + eps   # eps OUTSIDE the sqrt"
            avg += eps;
            match buf.as_mut() {
                Some(buf) => {
                    // "buf = μ * buf + g / avg" ; "p = p - lr * buf"
                    // torch: buf.mul_(μ).addcdiv_(g, avg); p.add_(buf, alpha=-lr), fused.
                    buf[i] = mu * buf[i] + g / avg;
                    params[i] = (-lr).mul_add(buf[i], params[i]);
                }
                // "p = p - lr * g / avg"; torch: p.addcdiv_(g, avg, value=-lr) = p + (−lr·g)/avg.
                None => params[i] += (-lr * g) / avg,
            }
        }

        self.square_avg = Some(v);
        if gbar.is_some() {
            self.grad_avg = gbar;
        }
        if buf.is_some() {
            self.momentum_buffer = buf;
        }
    }

    /// Spec, section "Adagrad".
    fn step_adagrad(&mut self, params: &mut [f64], grads: &[f64]) {
        let n = self.n;
        let h = self.hyper;
        let wd = h.weight_decay;
        let eps = h.eps;
        let t = self.step;

        // `new` created `sum`; should a caller have removed it, recreate it as the constructor does.
        let mut sum = self
            .sum
            .take()
            .unwrap_or_else(|| vec![h.initial_accumulator_value; n]);

        // "clr = lr / (1 + (t-1) * lr_decay)   # t-1: the first step uses the full lr"
        let clr = h.lr / (1.0 + (t - 1) as f64 * h.lr_decay);

        for i in 0..n {
            // "g = maximize ? -grad : grad" ; "if wd != 0: g = g + wd * p"
            let mut g = if h.maximize { -grads[i] } else { grads[i] };
            if wd != 0.0 {
                g += wd * params[i];
            }
            // "sum = sum + g * g"
            sum[i] += g * g;
            // "std = sqrt(sum) + eps   # eps outside the sqrt"
            let std = sum[i].sqrt() + eps;
            // "p = p - clr * g / std"
            params[i] -= clr * (g / std);
        }

        self.sum = Some(sum);
    }

    /// Spec, section "Lion". No `maximize`, no eps, no bias correction.
    fn step_lion(&mut self, params: &mut [f64], grads: &[f64]) {
        let n = self.n;
        let h = self.hyper;
        let lr = h.lr;
        let (b1, b2) = h.betas;

        // "state: m (exp_avg) = 0"
        let mut m = self.exp_avg.take().unwrap_or_else(|| vec![0.0; n]);
        let decay = 1.0 - lr * h.weight_decay;

        for i in 0..n {
            let g = grads[i];
            // "p = p * (1 - lr*wd)   # decoupled decay, applied first"
            params[i] *= decay;
            // "c = β1 * m + (1-β1) * g   # interpolation, using the OLD m"
            let c = b1 * m[i] + (1.0 - b1) * g;
            // "p = p - lr * sign(c)   # torch.sign: sign(0.0) = sign(-0.0) = +0.0"
            params[i] -= lr * torch_sign(c);
            // "m = β2 * m + (1-β2) * g   # momentum EMA is updated AFTER the parameter step"
            m[i] = b2 * m[i] + (1.0 - b2) * g;
        }

        self.exp_avg = Some(m);
    }
}

/// `beta ** t` as Python computes it for a float step (C `pow`), which `powf` also calls.
fn pow_t(beta: f64, t: u64) -> f64 {
    beta.powf(t as f64)
}

/// `torch.sign`: +1 for positive, −1 for negative, 0 for ±0 (never `signum`'s ±1 at zero).
///
/// torch evaluates it as `(0 < x) - (x < 0)`, so a NaN also gives 0 (the spec does not cover NaN).
fn torch_sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `torch.maximum`: the larger of the two, NaN if either is NaN (unlike `f64::max`, which drops a NaN).
fn torch_maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a >= b {
        a
    } else {
        b
    }
}

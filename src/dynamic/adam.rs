//! [`DynAdam`]: Adam and AdamW, with or without AMSGrad, run-time-sized.

use crate::num::StateValue;
use crate::optim::{run_step_checked_n, AdamConfig, AdamNum, AnyAdam, Groups, Pass, StateBound};
use crate::Error;
use core::ops::Range;
use std::vec::Vec;

/// Adam / AdamW (torch's `Adam`, `AdamW`, `amsgrad` chosen at creation) over `len` parameters
/// chosen at run time: [`Adam<S, N, A>`](crate::optim::Adam)'s arithmetic (the run-time form
/// [`AnyAdam`]), bit for bit. Heap: `exp_avg`, `exp_avg_sq` and with AMSGrad `max_exp_avg_sq`,
/// `len` values each.
#[derive(Clone, Debug)]
pub struct DynAdam<S: AdamNum> {
    pub(super) config: AdamConfig,
    pub(super) step: u32,
    pub(super) aux: S::Aux,
    pub(super) exp_avg: Vec<S::Moment>,
    pub(super) exp_avg_sq: Vec<S::SqMoment>,
    pub(super) max_exp_avg_sq: Option<Vec<S::SqMoment>>,
}

impl<S: AdamNum> DynAdam<S> {
    /// An optimizer of `len` parameters (AMSGrad if `amsgrad`), or the first invalid
    /// hyperparameter.
    pub fn new(config: AdamConfig, amsgrad: bool, len: usize) -> Result<Self, Error> {
        config.validate()?;
        Ok(DynAdam {
            config,
            step: 0,
            aux: S::Aux::ZERO,
            exp_avg: super::zeros(len),
            exp_avg_sq: super::zeros(len),
            max_exp_avg_sq: amsgrad.then(|| super::zeros(len)),
        })
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.exp_avg.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.exp_avg.is_empty()
    }

    /// Whether this is the AMSGrad variant.
    pub fn amsgrad(&self) -> bool {
        self.max_exp_avg_sq.is_some()
    }

    /// The configuration.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Replaces the configuration after validating it; on error nothing changes.
    pub fn set_config(&mut self, config: AdamConfig) -> Result<(), Error> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Steps taken since creation or the last [`reset`](Self::reset).
    pub fn step_count(&self) -> u32 {
        self.step
    }

    /// Forgets all state, as if just created.
    pub fn reset(&mut self) {
        self.step = 0;
        self.aux = S::Aux::ZERO;
        self.exp_avg.fill(S::Moment::ZERO);
        self.exp_avg_sq.fill(S::SqMoment::ZERO);
        if let Some(vmax) = &mut self.max_exp_avg_sq {
            vmax.fill(S::SqMoment::ZERO);
        }
    }

    /// The number type's state (stochastic rounding for fixed point).
    pub fn aux(&self) -> &S::Aux {
        &self.aux
    }

    /// The number type's state, mutably (to choose the rounding).
    pub fn aux_mut(&mut self) -> &mut S::Aux {
        &mut self.aux
    }

    /// First moment (torch's `exp_avg`).
    pub fn exp_avg(&self) -> &[S::Moment] {
        &self.exp_avg
    }

    /// Second moment (torch's `exp_avg_sq`).
    pub fn exp_avg_sq(&self) -> &[S::SqMoment] {
        &self.exp_avg_sq
    }

    /// Running maximum of the second moment (torch's `max_exp_avg_sq`), with AMSGrad only.
    pub fn max_exp_avg_sq(&self) -> Option<&[S::SqMoment]> {
        self.max_exp_avg_sq.as_deref()
    }

    /// One step of the whole arena, as [`Optimizer::step`](crate::optim::Optimizer::step); on
    /// error nothing changes.
    pub fn step(&mut self, params: &mut [S], grads: &[S]) -> Result<(), Error> {
        super::check_lengths(self.len(), params.len(), grads.len())?;
        let (n, config) = (self.len(), self.config);
        let mut count = self.step;
        let aux = &mut self.aux;
        let (m, v, vmax) = (
            &mut self.exp_avg,
            &mut self.exp_avg_sq,
            &mut self.max_exp_avg_sq,
        );
        let done = run_step_checked_n(
            n,
            &mut count,
            params,
            grads,
            Groups::All(&config),
            |pass, r: &Range<usize>, p, g, cfg: &AdamConfig, t| {
                let m = m.get_mut(r.clone()).unwrap_or_default();
                let v = v.get_mut(r.clone()).unwrap_or_default();
                let vmax = vmax
                    .as_mut()
                    .map(|s| s.get_mut(r.clone()).unwrap_or_default());
                match pass {
                    Pass::Check { small } => {
                        let vmax = vmax.map(|s| &*s);
                        // This optimizer does not follow its state's magnitudes: each check
                        // reads its buffers.
                        let mut bound = StateBound::UNKNOWN;
                        match S::adam_check::<AnyAdam>(
                            p,
                            g,
                            small,
                            m,
                            v,
                            vmax,
                            &mut bound,
                            true,
                            || S::adam_coeffs(cfg, t),
                        ) {
                            Some(i) => Err(Error::StepOverflow { index: r.start + i }),
                            None => Ok(()),
                        }
                    }
                    Pass::Write => {
                        let c = S::adam_coeffs(cfg, t);
                        S::adam_update::<AnyAdam>(p, g, m, v, vmax, &c, aux);
                        Ok(())
                    }
                }
            },
        );
        self.step = count;
        done
    }
}

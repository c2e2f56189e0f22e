//! [`DynAdagrad`]: Adagrad, run-time-sized.

use crate::num::StateValue;
use crate::optim::{run_step_checked_n, AdagradConfig, AdagradNum, Groups, Pass};
use crate::Error;
use core::ops::Range;
use std::vec::Vec;

/// Adagrad (torch's `Adagrad`) over `len` parameters chosen at run time:
/// [`Adagrad<S, N>`](crate::optim::Adagrad)'s arithmetic, bit for bit. Heap: `sum`, `len`
/// values (filled with `initial_accumulator_value` by the first step, as the static one).
#[derive(Clone, Debug)]
pub struct DynAdagrad<S: AdagradNum> {
    pub(super) config: AdagradConfig,
    pub(super) step: u32,
    pub(super) aux: S::Aux,
    pub(super) sum: Vec<S::Sum>,
}

impl<S: AdagradNum> DynAdagrad<S> {
    /// An optimizer of `len` parameters, or the first invalid hyperparameter.
    pub fn new(config: AdagradConfig, len: usize) -> Result<Self, Error> {
        config.validate()?;
        Ok(DynAdagrad {
            config,
            step: 0,
            aux: S::Aux::ZERO,
            sum: super::zeros(len),
        })
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.sum.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.sum.is_empty()
    }

    /// The configuration.
    pub fn config(&self) -> &AdagradConfig {
        &self.config
    }

    /// Replaces the configuration after validating it; on error nothing changes.
    pub fn set_config(&mut self, config: AdagradConfig) -> Result<(), Error> {
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
        self.sum.fill(S::Sum::ZERO);
    }

    /// The number type's state (stochastic rounding for fixed point).
    pub fn aux(&self) -> &S::Aux {
        &self.aux
    }

    /// The number type's state, mutably (to choose the rounding).
    pub fn aux_mut(&mut self) -> &mut S::Aux {
        &mut self.aux
    }

    /// The sum of squared gradients (torch's `sum`).
    pub fn sum(&self) -> &[S::Sum] {
        &self.sum
    }

    /// One step of the whole arena, as [`Optimizer::step`](crate::optim::Optimizer::step); on
    /// error nothing changes.
    pub fn step(&mut self, params: &mut [S], grads: &[S]) -> Result<(), Error> {
        super::check_lengths(self.len(), params.len(), grads.len())?;
        let (n, config) = (self.len(), self.config);
        let mut count = self.step;
        let (aux, sum) = (&mut self.aux, &mut self.sum);
        let done = run_step_checked_n(
            n,
            &mut count,
            params,
            grads,
            Groups::All(&config),
            |pass, r: &Range<usize>, p, g, cfg: &AdagradConfig, t| {
                let sum = sum.get_mut(r.clone()).unwrap_or_default();
                match pass {
                    Pass::Check { small } => {
                        let first = (t == 1).then(|| S::adagrad_initial_sum(cfg));
                        match S::adagrad_check(p, g, small, sum, first, || {
                            S::adagrad_coeffs(cfg, t)
                        }) {
                            Some(i) => Err(Error::StepOverflow { index: r.start + i }),
                            None => Ok(()),
                        }
                    }
                    Pass::Write => {
                        if t == 1 {
                            sum.fill(S::adagrad_initial_sum(cfg));
                        }
                        S::adagrad_update(p, g, sum, &S::adagrad_coeffs(cfg, t), aux);
                        Ok(())
                    }
                }
            },
        );
        self.step = count;
        done
    }
}

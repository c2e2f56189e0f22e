//! [`DynLion`]: Lion, run-time-sized.

use crate::num::StateValue;
use crate::optim::{run_step_checked_n, Groups, LionConfig, LionNum, Pass};
use crate::Error;
use core::ops::Range;
use std::vec::Vec;

/// Lion (Chen et al. 2023, the authors' code) over `len` parameters chosen at run time:
/// [`Lion<S, N>`](crate::optim::Lion)'s arithmetic, bit for bit. Heap: `exp_avg`, `len` values.
#[derive(Clone, Debug)]
pub struct DynLion<S: LionNum> {
    pub(super) config: LionConfig,
    pub(super) step: u32,
    pub(super) aux: S::Aux,
    pub(super) exp_avg: Vec<S::Moment>,
}

impl<S: LionNum> DynLion<S> {
    /// An optimizer of `len` parameters, or the first invalid hyperparameter.
    pub fn new(config: LionConfig, len: usize) -> Result<Self, Error> {
        config.validate()?;
        Ok(DynLion {
            config,
            step: 0,
            aux: S::Aux::ZERO,
            exp_avg: super::zeros(len),
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

    /// The configuration.
    pub fn config(&self) -> &LionConfig {
        &self.config
    }

    /// Replaces the configuration after validating it; on error nothing changes.
    pub fn set_config(&mut self, config: LionConfig) -> Result<(), Error> {
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
    }

    /// The number type's state (stochastic rounding for fixed point).
    pub fn aux(&self) -> &S::Aux {
        &self.aux
    }

    /// The number type's state, mutably (to choose the rounding).
    pub fn aux_mut(&mut self) -> &mut S::Aux {
        &mut self.aux
    }

    /// The momentum (`exp_avg`).
    pub fn exp_avg(&self) -> &[S::Moment] {
        &self.exp_avg
    }

    /// One step of the whole arena, as [`Optimizer::step`](crate::optim::Optimizer::step); on
    /// error nothing changes.
    pub fn step(&mut self, params: &mut [S], grads: &[S]) -> Result<(), Error> {
        super::check_lengths(self.len(), params.len(), grads.len())?;
        let (n, config) = (self.len(), self.config);
        let mut count = self.step;
        let (aux, exp_avg) = (&mut self.aux, &mut self.exp_avg);
        let done = run_step_checked_n(
            n,
            &mut count,
            params,
            grads,
            Groups::All(&config),
            |pass, r: &Range<usize>, p, g, cfg: &LionConfig, _t| {
                let m = exp_avg.get_mut(r.clone()).unwrap_or_default();
                match pass {
                    Pass::Check { small } => {
                        match S::lion_check(p, g, small, m, || S::lion_coeffs(cfg)) {
                            Some(i) => Err(Error::StepOverflow { index: r.start + i }),
                            None => Ok(()),
                        }
                    }
                    Pass::Write => {
                        S::lion_update(p, g, m, &S::lion_coeffs(cfg), aux);
                        Ok(())
                    }
                }
            },
        );
        self.step = count;
        done
    }
}

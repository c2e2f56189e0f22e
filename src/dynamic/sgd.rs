//! [`DynSgd`]: SGD without momentum, run-time-sized.

use crate::num::StateValue;
use crate::optim::{run_step_checked_n, Groups, Pass, SgdConfig, SgdNum};
use crate::Error;
use core::ops::Range;

/// SGD without momentum (torch's `SGD(momentum=0)`) over `len` parameters chosen at run time:
/// [`Sgd<S, N>`](crate::optim::Sgd)'s arithmetic, bit for bit. No state besides the
/// configuration, the step count and the number type's state.
#[derive(Clone, Debug)]
pub struct DynSgd<S: SgdNum> {
    pub(super) config: SgdConfig,
    pub(super) step: u32,
    pub(super) aux: S::Aux,
    pub(super) len: usize,
}

impl<S: SgdNum> DynSgd<S> {
    /// An optimizer of `len` parameters, or the first invalid hyperparameter.
    pub fn new(config: SgdConfig, len: usize) -> Result<Self, Error> {
        config.validate()?;
        Ok(DynSgd {
            config,
            step: 0,
            aux: S::Aux::ZERO,
            len,
        })
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The configuration.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Replaces the configuration after validating it; on error nothing changes.
    pub fn set_config(&mut self, config: SgdConfig) -> Result<(), Error> {
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
    }

    /// The number type's state (stochastic rounding for fixed point).
    pub fn aux(&self) -> &S::Aux {
        &self.aux
    }

    /// The number type's state, mutably (to choose the rounding).
    pub fn aux_mut(&mut self) -> &mut S::Aux {
        &mut self.aux
    }

    /// One step of the whole arena, as [`Optimizer::step`](crate::optim::Optimizer::step); on
    /// error nothing changes.
    pub fn step(&mut self, params: &mut [S], grads: &[S]) -> Result<(), Error> {
        super::check_lengths(self.len, params.len(), grads.len())?;
        let (n, config) = (self.len, self.config);
        let mut count = self.step;
        let aux = &mut self.aux;
        let done = run_step_checked_n(
            n,
            &mut count,
            params,
            grads,
            Groups::All(&config),
            |pass, r: &Range<usize>, p, g, cfg: &SgdConfig, _t| match pass {
                Pass::Check { small } => {
                    match S::sgd_check(p, g, small, cfg, || S::sgd_coeffs(cfg)) {
                        Some(i) => Err(Error::StepOverflow { index: r.start + i }),
                        None => Ok(()),
                    }
                }
                Pass::Write => {
                    S::sgd_update(p, g, &S::sgd_coeffs(cfg), aux);
                    Ok(())
                }
            },
        );
        self.step = count;
        done
    }
}

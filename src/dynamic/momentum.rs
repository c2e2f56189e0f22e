//! [`DynMomentum`]: SGD with momentum, dampening and Nesterov, run-time-sized.

use crate::num::StateValue;
use crate::optim::{run_step_checked_n, Groups, MomentumConfig, MomentumNum, Pass};
use crate::Error;
use core::ops::Range;
use std::vec::Vec;

/// SGD with momentum (torch's `SGD(momentum>0, dampening, nesterov)`) over `len` parameters
/// chosen at run time: [`Momentum<S, N>`](crate::optim::Momentum)'s arithmetic, bit for bit.
/// Heap: `momentum_buffer`, `len` values.
#[derive(Clone, Debug)]
pub struct DynMomentum<S: MomentumNum> {
    pub(super) config: MomentumConfig,
    pub(super) step: u32,
    pub(super) aux: S::Aux,
    pub(super) momentum_buffer: Vec<S::Buffer>,
}

impl<S: MomentumNum> DynMomentum<S> {
    /// An optimizer of `len` parameters, or the first invalid hyperparameter.
    pub fn new(config: MomentumConfig, len: usize) -> Result<Self, Error> {
        config.validate()?;
        Ok(DynMomentum {
            config,
            step: 0,
            aux: S::Aux::ZERO,
            momentum_buffer: super::zeros(len),
        })
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.momentum_buffer.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.momentum_buffer.is_empty()
    }

    /// The configuration.
    pub fn config(&self) -> &MomentumConfig {
        &self.config
    }

    /// Replaces the configuration after validating it; on error nothing changes.
    pub fn set_config(&mut self, config: MomentumConfig) -> Result<(), Error> {
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
        self.momentum_buffer.fill(S::Buffer::ZERO);
    }

    /// The number type's state (stochastic rounding for fixed point).
    pub fn aux(&self) -> &S::Aux {
        &self.aux
    }

    /// The number type's state, mutably (to choose the rounding).
    pub fn aux_mut(&mut self) -> &mut S::Aux {
        &mut self.aux
    }

    /// torch's `momentum_buffer`.
    pub fn momentum_buffer(&self) -> &[S::Buffer] {
        &self.momentum_buffer
    }

    /// One step of the whole arena, as [`Optimizer::step`](crate::optim::Optimizer::step); on
    /// error nothing changes.
    pub fn step(&mut self, params: &mut [S], grads: &[S]) -> Result<(), Error> {
        super::check_lengths(self.len(), params.len(), grads.len())?;
        let (n, config) = (self.len(), self.config);
        let mut count = self.step;
        let (aux, buf) = (&mut self.aux, &mut self.momentum_buffer);
        let done = run_step_checked_n(
            n,
            &mut count,
            params,
            grads,
            Groups::All(&config),
            |pass, r: &Range<usize>, p, g, cfg: &MomentumConfig, t| {
                let c = S::momentum_coeffs(cfg, t);
                let b = buf.get_mut(r.clone()).unwrap_or_default();
                match pass {
                    Pass::Check { small } => match S::momentum_check(p, g, small, b, &c) {
                        Some(i) => Err(Error::StepOverflow { index: r.start + i }),
                        None => Ok(()),
                    },
                    Pass::Write => {
                        S::momentum_update(p, g, b, &c, aux);
                        Ok(())
                    }
                }
            },
        );
        self.step = count;
        done
    }
}

//! [`DynRmsProp`]: RMSprop, with or without momentum and centering, run-time-sized.

use crate::num::StateValue;
use crate::optim::{run_step_checked_n, Groups, Pass, RmsPropConfig, RmsPropNum, StateBound};
use crate::Error;
use core::ops::Range;
use std::vec::Vec;

/// RMSprop (torch's `RMSprop`; `centered` chosen at creation, the momentum buffer allocated
/// when `momentum > 0`) over `len` parameters chosen at run time:
/// [`RmsProp<S, N, M, C>`](crate::optim::RmsProp)'s arithmetic, bit for bit. Heap:
/// `square_avg`, plus `momentum_buffer` and `grad_avg` when present, `len` values each.
#[derive(Clone, Debug)]
pub struct DynRmsProp<S: RmsPropNum> {
    pub(super) config: RmsPropConfig,
    pub(super) step: u32,
    pub(super) aux: S::Aux,
    pub(super) square_avg: Vec<S::SqAvg>,
    pub(super) momentum_buffer: Option<Vec<S::Avg>>,
    pub(super) grad_avg: Option<Vec<S::Avg>>,
}

impl<S: RmsPropNum> DynRmsProp<S> {
    /// An optimizer of `len` parameters, centered if `centered`, with a momentum buffer if
    /// `config.momentum > 0` (as `RmsProp<S, N, On, _>`), or the first invalid hyperparameter.
    pub fn new(config: RmsPropConfig, centered: bool, len: usize) -> Result<Self, Error> {
        config.validate()?;
        Ok(DynRmsProp {
            config,
            step: 0,
            aux: S::Aux::ZERO,
            square_avg: super::zeros(len),
            momentum_buffer: (config.momentum > 0.0).then(|| super::zeros(len)),
            grad_avg: centered.then(|| super::zeros(len)),
        })
    }

    /// The configuration is valid, and `momentum` is 0 unless the buffer exists.
    pub(super) fn validate(&self, config: &RmsPropConfig) -> Result<(), Error> {
        config.validate()?;
        if self.momentum_buffer.is_none() && config.momentum != 0.0 {
            return Err(Error::InvalidHyperparameter {
                name: "momentum",
                requirement:
                    "0 unless the optimizer has its momentum buffer (RmsProp<_, _, On, _>)",
            });
        }
        Ok(())
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.square_avg.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.square_avg.is_empty()
    }

    /// Whether this is centered RMSprop.
    pub fn centered(&self) -> bool {
        self.grad_avg.is_some()
    }

    /// The configuration.
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }

    /// Replaces the configuration after validating it (a `momentum > 0` needs an optimizer
    /// created with momentum); on error nothing changes.
    pub fn set_config(&mut self, config: RmsPropConfig) -> Result<(), Error> {
        self.validate(&config)?;
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
        self.square_avg.fill(S::SqAvg::ZERO);
        for buf in [&mut self.momentum_buffer, &mut self.grad_avg]
            .into_iter()
            .flatten()
        {
            buf.fill(S::Avg::ZERO);
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

    /// torch's `square_avg`.
    pub fn square_avg(&self) -> &[S::SqAvg] {
        &self.square_avg
    }

    /// torch's `momentum_buffer`, when created with momentum.
    pub fn momentum_buffer(&self) -> Option<&[S::Avg]> {
        self.momentum_buffer.as_deref()
    }

    /// torch's `grad_avg`, when centered.
    pub fn grad_avg(&self) -> Option<&[S::Avg]> {
        self.grad_avg.as_deref()
    }

    /// One step of the whole arena, as [`Optimizer::step`](crate::optim::Optimizer::step); on
    /// error nothing changes.
    pub fn step(&mut self, params: &mut [S], grads: &[S]) -> Result<(), Error> {
        super::check_lengths(self.len(), params.len(), grads.len())?;
        let (n, config) = (self.len(), self.config);
        let mut count = self.step;
        let aux = &mut self.aux;
        let (sq, mb, ga) = (
            &mut self.square_avg,
            &mut self.momentum_buffer,
            &mut self.grad_avg,
        );
        let done = run_step_checked_n(
            n,
            &mut count,
            params,
            grads,
            Groups::All(&config),
            |pass, r: &Range<usize>, p, g, cfg: &RmsPropConfig, _t| {
                let sq = sq.get_mut(r.clone()).unwrap_or_default();
                let mb = mb
                    .as_mut()
                    .map(|s| s.get_mut(r.clone()).unwrap_or_default());
                let ga = ga
                    .as_mut()
                    .map(|s| s.get_mut(r.clone()).unwrap_or_default());
                match pass {
                    Pass::Check { small } => {
                        let (mb, ga) = (mb.map(|s| &*s), ga.map(|s| &*s));
                        // This optimizer does not follow its state's magnitudes: each check
                        // reads its buffers.
                        let mut bound = StateBound::UNKNOWN;
                        match S::rmsprop_check(p, g, small, sq, mb, ga, &mut bound, true, || {
                            S::rmsprop_coeffs(cfg)
                        }) {
                            Some(i) => Err(Error::StepOverflow { index: r.start + i }),
                            None => Ok(()),
                        }
                    }
                    Pass::Write => {
                        S::rmsprop_update(p, g, sq, mb, ga, &S::rmsprop_coeffs(cfg), aux);
                        Ok(())
                    }
                }
            },
        );
        self.step = count;
        done
    }
}

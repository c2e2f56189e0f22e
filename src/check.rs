//! Hyperparameter checks, shared by the optimizers' configurations and the training utilities.
//!
//! Every check is a `const fn`, so a configuration or schedule built in a `const` or `static` is
//! checked at compile time. A check reports an [`Invalid`] (the hyperparameter's name and what a
//! valid value looks like), which each caller turns into its own error type: [`all`] gives the
//! crate's [`Error`], `train` converts to its `TrainError`. (`const fn` cannot call a trait
//! method such as `From::from`, hence the one concrete target per converter.)

use crate::Error;

/// A hyperparameter that failed its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// The hyperparameter's name, as torch spells it.
    pub(crate) name: &'static str,
    /// What a valid value looks like.
    pub(crate) requirement: &'static str,
}

/// A condition that must hold, with the failure to report otherwise.
pub(crate) const fn require(
    ok: bool,
    name: &'static str,
    requirement: &'static str,
) -> Result<(), Invalid> {
    if ok {
        Ok(())
    } else {
        Err(Invalid { name, requirement })
    }
}

/// `x` finite and `>= 0`.
pub(crate) const fn non_negative(name: &'static str, x: f64) -> Result<(), Invalid> {
    require(x.is_finite() && x >= 0.0, name, "finite and >= 0")
}

/// `x` finite and `> 0`.
pub(crate) const fn positive(name: &'static str, x: f64) -> Result<(), Invalid> {
    require(x.is_finite() && x > 0.0, name, "finite and > 0")
}

/// `x` in `[0, 1)`.
pub(crate) const fn unit(name: &'static str, x: f64) -> Result<(), Invalid> {
    require(x >= 0.0 && x < 1.0, name, "in [0, 1)")
}

/// `x` finite.
pub(crate) const fn finite(name: &'static str, x: f64) -> Result<(), Invalid> {
    require(x.is_finite(), name, "finite")
}

/// `n >= 1`.
pub(crate) const fn at_least_one(name: &'static str, n: u32) -> Result<(), Invalid> {
    require(n >= 1, name, ">= 1")
}

/// Combines checks in order, the first failure wins, as the crate's [`Error`].
pub(crate) const fn all<const K: usize>(results: [Result<(), Invalid>; K]) -> Result<(), Error> {
    let mut i = 0;
    while i < K {
        if let Err(e) = results[i] {
            return Err(e.into_error());
        }
        i += 1;
    }
    Ok(())
}

impl Invalid {
    /// The crate's error for this failure. Cold and out of line: every step validates its
    /// configuration, and an error built inline costs the success path instructions on a
    /// Cortex-M4F (`scripts/embedded.sh`, momentum).
    #[cold]
    #[inline(never)]
    const fn into_error(self) -> Error {
        Error::InvalidHyperparameter {
            name: self.name,
            requirement: self.requirement,
        }
    }
}

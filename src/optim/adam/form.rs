//! Compile-time Adam forms: which run-time flags an [`Adam`](super::Adam) fixes by its type, so
//! that a firmware links only the loops its one configuration can reach.

use super::AdamConfig;
use crate::{check, Error};

/// How the weight decay enters an Adam step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdamDecay {
    /// No weight decay (`weight_decay == 0`).
    Off,
    /// L2: `weight_decay · p` added to the gradient (`weight_decay > 0`, not decoupled).
    L2,
    /// AdamW: the parameter multiplied by `1 − lr·weight_decay` first (`weight_decay > 0`,
    /// decoupled).
    Decoupled,
}

/// The flags a compile-time form fixes; learning rate, betas and eps stay run-time values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdamFlags {
    /// torch's `maximize`.
    pub maximize: bool,
    /// The kind of weight decay.
    pub decay: AdamDecay,
}

/// The configurations an [`Adam`](super::Adam) accepts, as its fourth type parameter.
///
/// With [`AnyAdam`] (the default) every step picks its loop from the configuration, so every
/// loop is linked. A form with [`FIXED`](Self::FIXED) `= Some(flags)` accepts only
/// configurations with those flags (`new`, `set_config` and each step's parameter groups reject
/// the others with [`Error::InvalidHyperparameter`]) and its steps test the constant flags, so
/// the compiler drops the other loops. Both give the same bits for the same configuration.
pub trait AdamForm: Copy + core::fmt::Debug {
    /// The fixed flags, or `None` for run-time flags.
    const FIXED: Option<AdamFlags>;

    /// Whether a floating-point step runs one out-of-line scalar loop, shared with the overflow
    /// check's trial run, instead of a loop per flag combination (four-wide where that is
    /// faster), and the per-step coefficients and the overflow check's scan are each one
    /// out-of-line copy: the least flash, a few instructions more per parameter, the same bits.
    /// Fixed-point kernels keep their loops; only their coefficients move out of line.
    const COMPACT: bool = false;
}

/// Any configuration, chosen at run time (the default form).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnyAdam;

impl AdamForm for AnyAdam {
    const FIXED: Option<AdamFlags> = None;
}

/// torch's `Adam` without weight decay, descending: `maximize = false`, `weight_decay = 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlainAdam;

impl AdamForm for PlainAdam {
    const FIXED: Option<AdamFlags> = Some(AdamFlags {
        maximize: false,
        decay: AdamDecay::Off,
    });
}

/// torch's `AdamW`, descending: `maximize = false`, decoupled `weight_decay > 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlainAdamW;

impl AdamForm for PlainAdamW {
    const FIXED: Option<AdamFlags> = Some(AdamFlags {
        maximize: false,
        decay: AdamDecay::Decoupled,
    });
}

/// [`PlainAdam`]'s configurations in the least flash ([`COMPACT`](AdamForm::COMPACT)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactAdam;

impl AdamForm for CompactAdam {
    const FIXED: Option<AdamFlags> = PlainAdam::FIXED;
    const COMPACT: bool = true;
}

/// [`PlainAdamW`]'s configurations in the least flash ([`COMPACT`](AdamForm::COMPACT)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactAdamW;

impl AdamForm for CompactAdamW {
    const FIXED: Option<AdamFlags> = PlainAdamW::FIXED;
    const COMPACT: bool = true;
}

/// The flags of `config`.
pub(crate) const fn flags_of(config: &AdamConfig) -> AdamFlags {
    AdamFlags {
        maximize: config.maximize,
        decay: if config.weight_decay == 0.0 {
            AdamDecay::Off
        } else if config.decoupled_weight_decay {
            AdamDecay::Decoupled
        } else {
            AdamDecay::L2
        },
    }
}

/// `config` is valid and has the flags form `K` fixes.
pub(crate) const fn check<K: AdamForm>(config: &AdamConfig) -> Result<(), Error> {
    if let Err(e) = config.validate() {
        return Err(e);
    }
    let Some(want) = K::FIXED else {
        return Ok(());
    };
    let got = flags_of(config);
    const WHY: &str = "as the optimizer's AdamForm fixes it";
    check::all([
        check::require(got.maximize == want.maximize, "maximize", WHY),
        check::require(decay_eq(got.decay, want.decay), "weight_decay", WHY),
    ])
}

/// `a == b` in a `const fn`.
const fn decay_eq(a: AdamDecay, b: AdamDecay) -> bool {
    matches!(
        (a, b),
        (AdamDecay::Off, AdamDecay::Off)
            | (AdamDecay::L2, AdamDecay::L2)
            | (AdamDecay::Decoupled, AdamDecay::Decoupled)
    )
}

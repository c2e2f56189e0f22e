//! The host simulation's figures and how both generated files (`har_finetune.rs`,
//! `har8_finetune.rs`) write them: the `EXPECTED_*` constants the firmware must reproduce.

use std::fmt::Write as _;

/// The firmware's run, simulated.
#[derive(Debug)]
pub struct Outcome {
    /// Held-out accuracy through the clean sensor, tenths of a percent.
    pub clean: u32,
    /// The same through the new sensor.
    pub before: u32,
    /// The same after the fine-tuning.
    pub after: u32,
    /// Mean loss over the fine-tuning samples (new sensor) before, thousandths.
    pub loss_before: u32,
    /// The same after.
    pub loss_after: u32,
    /// `params_hash` of the trained parameters after the fine-tuning.
    pub hash: u32,
}

/// Writes `r`'s constants for number type `t` (`F32`, `I16F16`); `start` says what the first
/// accuracy is of ("the pretrained network", ...), `samples` what the loss is over.
pub fn write(o: &mut String, t: &str, r: &Outcome, start: &str, samples: &str) -> std::fmt::Result {
    writeln!(
        o,
        "/// Host simulation, {t}: held-out accuracy {start}, clean sensor, tenths of a percent."
    )?;
    writeln!(o, "pub const EXPECTED_CLEAN_X10_{t}: u32 = {};", r.clean)?;
    writeln!(
        o,
        "/// Host simulation, {t}: the same through the new sensor."
    )?;
    writeln!(o, "pub const EXPECTED_BEFORE_X10_{t}: u32 = {};", r.before)?;
    writeln!(
        o,
        "/// Host simulation, {t}: the same after the fine-tuning."
    )?;
    writeln!(o, "pub const EXPECTED_AFTER_X10_{t}: u32 = {};", r.after)?;
    writeln!(o, "/// Host simulation, {t}: mean loss over the fine-tuning {samples} (new sensor) before, thousandths.")?;
    writeln!(
        o,
        "pub const EXPECTED_LOSS_BEFORE_X1000_{t}: u32 = {};",
        r.loss_before
    )?;
    writeln!(
        o,
        "/// Host simulation, {t}: the same after the fine-tuning."
    )?;
    writeln!(
        o,
        "pub const EXPECTED_LOSS_AFTER_X1000_{t}: u32 = {};",
        r.loss_after
    )?;
    writeln!(
        o,
        "/// Host simulation, {t}: `params_hash` of the trained parameters after the fine-tuning."
    )?;
    writeln!(
        o,
        "pub const EXPECTED_PARAMS_HASH_{t}: u32 = {:#010x};",
        r.hash
    )
}

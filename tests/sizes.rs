//! The RAM of every optimizer type, as documented: `size_of` equals the hand-computed layout.
//!
//! Layout: the moment buffers `[f32; N]`, the configuration (`f64` hyperparameters and `bool`
//! flags), a `u32` step counter, and padding to the 8-byte alignment of `f64` (which is 8 on
//! x86-64 and on Cortex-M alike, per the AAPCS).

use core::mem::size_of;
use edgetune::optim::*;

fn check<const N: usize>() {
    let n = N;
    // SgdConfig 24 (2 f64 + bool, padded) + u32 = 28 -> 32.
    assert_eq!(size_of::<Sgd<f32, N>>(), 32);
    assert_eq!(size_of::<SgdConfig>(), 24);
    // MomentumConfig 40 (4 f64 + 2 bool -> 34, padded) + u32 -> 48, + 4N.
    assert_eq!(size_of::<MomentumConfig>(), 40);
    assert_eq!(
        size_of::<Momentum<f32, N>>(),
        (4 * n + 44).next_multiple_of(8)
    );
    // AdamConfig 48 (5 f64 + 2 bool) + u32 + the 4-byte StateBound + 8N (+ 4N with AMSGrad).
    assert_eq!(size_of::<AdamConfig>(), 48);
    assert_eq!(size_of::<StateBound>(), 4);
    assert_eq!(size_of::<Adam<f32, N>>(), (8 * n + 56).next_multiple_of(8));
    assert_eq!(
        size_of::<AmsGrad<f32, N>>(),
        (12 * n + 56).next_multiple_of(8)
    );
    // RmsPropConfig 48 (5 f64 + bool) + u32 + the 4-byte StateBound + 4N per buffer.
    assert_eq!(size_of::<RmsPropConfig>(), 48);
    assert_eq!(
        size_of::<RmsProp<f32, N>>(),
        (4 * n + 56).next_multiple_of(8)
    );
    assert_eq!(
        size_of::<RmsProp<f32, N, On>>(),
        (8 * n + 56).next_multiple_of(8)
    );
    assert_eq!(
        size_of::<RmsProp<f32, N, Off, On>>(),
        (8 * n + 56).next_multiple_of(8)
    );
    assert_eq!(
        size_of::<RmsProp<f32, N, On, On>>(),
        (12 * n + 56).next_multiple_of(8)
    );
    // AdagradConfig 48 (5 f64 + bool) + u32 + 4N.
    assert_eq!(size_of::<AdagradConfig>(), 48);
    assert_eq!(
        size_of::<Adagrad<f32, N>>(),
        (4 * n + 52).next_multiple_of(8)
    );
    // LionConfig 32 (4 f64) + u32 + 4N.
    assert_eq!(size_of::<LionConfig>(), 32);
    assert_eq!(size_of::<Lion<f32, N>>(), (4 * n + 36).next_multiple_of(8));
}

#[test]
fn optimizer_sizes_match_the_documented_layout() {
    check::<1>();
    check::<7>();
    check::<64>();
    check::<1024>();
    check::<65536>();
}

#[test]
fn documented_figures_for_n_1024() {
    // The figures in the README's memory table.
    assert_eq!(size_of::<Sgd<f32, 1024>>(), 32);
    assert_eq!(size_of::<Momentum<f32, 1024>>(), 4144);
    assert_eq!(size_of::<Adam<f32, 1024>>(), 8248);
    assert_eq!(size_of::<AmsGrad<f32, 1024>>(), 12344);
    assert_eq!(size_of::<RmsProp<f32, 1024>>(), 4152);
    assert_eq!(size_of::<RmsProp<f32, 1024, On, On>>(), 12344);
    assert_eq!(size_of::<Adagrad<f32, 1024>>(), 4152);
    assert_eq!(size_of::<Lion<f32, 1024>>(), 4136);
}

#[test]
fn disabled_buffers_cost_nothing() {
    assert_eq!(size_of::<Absent>(), 0);
    assert_eq!(
        size_of::<RmsProp<f32, 100, On>>() - size_of::<RmsProp<f32, 100>>(),
        400
    );
}

#[test]
fn fixed_point_optimizer_sizes_match_the_documented_layout() {
    use edgetune::num::fixed::{RoundingState, I16F16, I8F24};
    // Fixed-point optimizers add the 8-byte stochastic-rounding state (`Num::Aux`); their moment
    // buffers are 4 bytes per element like f32's (the parameter format, or MiniFloat).
    assert_eq!(size_of::<RoundingState>(), 8);
    assert_eq!(size_of::<Sgd<I16F16, 1024>>(), 40);
    assert_eq!(size_of::<Momentum<I16F16, 1024>>(), 4 * 1024 + 56);
    assert_eq!(size_of::<Adam<I16F16, 1024>>(), 8 * 1024 + 64);
    assert_eq!(size_of::<AmsGrad<I8F24, 1024>>(), 12 * 1024 + 64);
    assert_eq!(size_of::<RmsProp<I16F16, 1024>>(), 4 * 1024 + 64);
    assert_eq!(size_of::<Adagrad<I16F16, 1024>>(), 4 * 1024 + 64);
    assert_eq!(size_of::<Lion<I8F24, 1024>>(), 4 * 1024 + 48);
}

//! Window features against values worked out by hand.

use sensor_app::{Accel, Features, WINDOW};

fn window(f: impl Fn(usize) -> (i16, i16, i16)) -> [Accel; WINDOW] {
    core::array::from_fn(|t| {
        let (x, y, z) = f(t);
        Accel { x, y, z }
    })
}

#[test]
fn mean_and_mean_absolute_deviation_by_hand() {
    // x alternates 0 and 100 mg: mean 50, every sample 50 away. y is still at -1 g. z is
    // 0, 1, ..., 31 mg: mean 15.5 (15 rounded toward zero), deviations 15.5, 14.5, ..., 0.5
    // twice: sum 256, mean 8.
    let w = window(|t| (if t % 2 == 0 { 0 } else { 100 }, -1000, t as i16));
    assert_eq!(
        Features::of(&w),
        Features {
            mean_mg: [50, -1000, 15],
            mad_mg: [50, 0, 8],
        }
    );
}

#[test]
fn means_round_toward_zero_and_deviations_use_the_exact_mean() {
    // x: one sample at -31 mg, the rest 0: mean -31/32 = -0.97 → 0 (toward zero); deviation
    // from the exact mean, not the rounded one: (31 · 31/32 + 31 · 31/32) / 32 = 1.88 → 1
    // (from the rounded mean 0 it would be 31/32 → 0).
    // y: 16 samples at -3 mg, 16 at 0: mean -1.5 → -1, every sample 1.5 away → 1.
    let w = window(|t| (if t == 0 { -31 } else { 0 }, if t < 16 { -3 } else { 0 }, 0));
    let f = Features::of(&w);
    assert_eq!(f.mean_mg, [0, -1, 0]);
    assert_eq!(f.mad_mg, [1, 1, 0]);
}

#[test]
fn extreme_readings_do_not_overflow() {
    // ±24 564 mg (±16 g full scale), alternating: mean 0, deviation 24 564.
    let w = window(|t| {
        let v = if t % 2 == 0 { 24_564 } else { -24_564 };
        (v, v, -v)
    });
    let f = Features::of(&w);
    assert_eq!(f.mean_mg, [0, 0, 0]);
    assert_eq!(f.mad_mg, [24_564; 3]);
}

#[test]
fn the_network_input_is_in_g_in_feature_order() {
    let f = Features {
        mean_mg: [50, -1000, 15],
        mad_mg: [250, 0, 8],
    };
    assert_eq!(f.input::<f32>(), [0.05, -1.0, 0.015, 0.25, 0.0, 0.008]);
    let q = f.input::<edgetune::num::fixed::I16F16>();
    // I16F16 rounds to the nearest 2^-16: 0.05 · 65536 = 3276.8 → 3277.
    assert_eq!(q[0].to_bits(), 3277);
    assert_eq!(q[1].to_bits(), -65536);
}

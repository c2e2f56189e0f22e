//! The carried [`StateBound`] never changes a step's verdict or bits: an optimizer that carries it
//! and one that forgets it before every step (so that every check reads the moments) agree on
//! every step, over inputs that push the moments toward the edge of the safe range.

use super::*;
use crate::optim::bound::{bits, MagnitudeRng as Rng};
use crate::optim::{Optimizer, ParamGroup};

const N: usize = 24;

/// Runs `steps` steps on both optimizers with the same inputs; gradients mostly ordinary, some
/// huge (past the scan's `2^29`), some beyond what `f32` squares; configurations that move the
/// safe range (tiny `eps`, large `lr`), decoupled and L2 decay, `maximize`, groups and parts.
fn agree<A: Slot>(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let config = AdamConfig::adam(1e-3);
    let mut carried = Adam::<f32, N, A>::new(config).unwrap();
    let mut fresh = Adam::<f32, N, A>::new(config).unwrap();
    let mut p1 = rng.params::<N>();
    let mut p2 = p1;
    let (mut ok, mut refused) = (0, 0);
    for step in 0..steps {
        if step % 5 == 0 {
            let r = rng.next();
            let c = AdamConfig {
                lr: [1e-3, 0.5, 1e3, 1e12, 1e20, 1e30][(r % 6) as usize],
                beta1: [0.9, 0.0, 0.3, 0.999][((r >> 8) % 4) as usize],
                beta2: [0.999, 0.0, 0.5, 0.9999][((r >> 16) % 4) as usize],
                eps: [1e-8, 1e-30, 1e-3, 1e-40][((r >> 24) % 4) as usize],
                weight_decay: [0.0, 0.0, 1e-2, 0.5][((r >> 32) % 4) as usize],
                decoupled_weight_decay: r & (1 << 40) != 0,
                maximize: r & (1 << 41) != 0,
            };
            carried.set_config(c).unwrap();
            fresh.set_config(c).unwrap();
        }
        let g = rng.gradients::<N>();
        fresh.bound = StateBound::UNKNOWN;
        let (r1, r2) = match step % 5 {
            // Two groups with their own configurations.
            3 => {
                let cfg = *carried.config();
                let groups = [
                    ParamGroup {
                        range: 0..10,
                        config: cfg,
                    },
                    ParamGroup {
                        range: 10..N,
                        config: AdamConfig { lr: 1.0, ..cfg },
                    },
                ];
                (
                    carried.step_groups(&mut p1, &g, &groups),
                    fresh.step_groups(&mut p2, &g, &groups),
                )
            }
            // In two parts.
            4 => {
                let parts = |opt: &mut Adam<f32, N, A>, p: &mut [f32; N]| {
                    let mut part = opt.begin_parts()?;
                    let (a, b) = p.split_at_mut(7);
                    opt.step_part(&mut part, 0..7, a, &g[..7])?;
                    opt.step_part(&mut part, 7..N, b, &g[7..])?;
                    opt.end_parts(part);
                    Ok::<(), Error>(())
                };
                let r1 = parts(&mut carried, &mut p1);
                fresh.bound = StateBound::UNKNOWN;
                (r1, parts(&mut fresh, &mut p2))
            }
            _ => (carried.step(&mut p1, &g), fresh.step(&mut p2, &g)),
        };
        assert_eq!(r1, r2, "seed {seed} step {step}");
        match r1 {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
        assert_eq!(bits(&p1), bits(&p2), "seed {seed} step {step}");
        assert_eq!(bits(carried.exp_avg()), bits(fresh.exp_avg()));
        assert_eq!(bits(carried.exp_avg_sq()), bits(fresh.exp_avg_sq()));
        assert!(p1.iter().all(|p| p.is_finite()), "seed {seed} step {step}");
        // What the carried bound promises is true of the moments.
        let squares = [
            carried.exp_avg_sq().as_slice(),
            carried.max_exp_avg_sq().unwrap_or(&[]),
        ];
        assert!(
            carried.bound.holds(carried.exp_avg(), &squares),
            "seed {seed} step {step}: {:?}",
            carried.bound
        );
        assert!(carried.exp_avg().iter().all(|m| m.is_finite()));
        assert!(carried.exp_avg_sq().iter().all(|v| v.is_finite()));
        rng.recentre_far(&mut p1, &mut p2);
        // Now and then, moments brought back to zero, as a new optimizer would have them.
        if step % 97 == 96 {
            carried.reset();
            fresh.reset();
        }
    }
    // Both verdicts were exercised.
    assert!(
        ok > steps / 4 && refused > 0,
        "{ok} taken, {refused} refused"
    );
}

#[test]
fn carried_bound_gives_the_verdicts_and_bits_of_reading_the_moments() {
    for seed in 1..=6u64 {
        agree::<Off>(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 700);
    }
}

#[test]
fn carried_bound_agrees_with_amsgrad() {
    for seed in 1..=3u64 {
        agree::<On>(seed.wrapping_mul(0x2545_f491_4f6c_dd1d), 700);
    }
}

/// With ordinary gradients the bound is carried: after the first step no check reads the
/// moments until the count of 255 steps runs out.
#[test]
fn ordinary_steps_keep_the_bound() {
    let mut opt = Adam::<f32, 8>::new(AdamConfig::adam(1e-2)).unwrap();
    let mut p = [0.5f32; 8];
    for t in 0..300 {
        let g = [0.25f32 * (1.0 + (t % 7) as f32); 8];
        opt.step(&mut p, &g).unwrap();
        // Gradients below 2^29: `|m| ≤ 2^29·(1 + 2^-21)^s`, `v ≤ 2^58·(1 + 2^-21)^s`.
        if t < 255 {
            assert!(
                opt.bound.first_within(31) && opt.bound.squares_within(61),
                "{t}"
            );
        }
    }
    // A checkpoint's load (any mutable access to the state) forgets it.
    let _ = opt.state_mut();
    assert_eq!(opt.bound, StateBound::UNKNOWN);
}

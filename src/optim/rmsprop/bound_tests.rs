//! The carried [`StateBound`] never changes a step's verdict or bits: an RMSprop that carries it
//! and one that forgets it before every step agree on every step, and what the bound promises of
//! `square_avg` is true after each.

use super::*;
use crate::optim::bound::{bits, MagnitudeRng as Rng};
use crate::optim::{On, Optimizer, ParamGroup};

const N: usize = 24;

fn agree<M: Slot, C: Slot>(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut carried = RmsProp::<f32, N, M, C>::new(RmsPropConfig::new(1e-3)).unwrap();
    let mut fresh = RmsProp::<f32, N, M, C>::new(RmsPropConfig::new(1e-3)).unwrap();
    let mut p1 = rng.params::<N>();
    let mut p2 = p1;
    let (mut ok, mut refused) = (0, 0);
    for step in 0..steps {
        if step % 5 == 0 {
            let r = rng.next();
            let c = RmsPropConfig {
                lr: [1e-3, 0.5, 1e3, 1e12, 1e20, 1e30][(r % 6) as usize],
                // α > 1 is no average: the bound must not be carried through it.
                alpha: [0.99, 0.0, 0.5, 1.0, 1.5][((r >> 8) % 5) as usize],
                eps: [1e-8, 1e-30, 1e-3, 1e-40][((r >> 24) % 4) as usize],
                weight_decay: [0.0, 0.0, 1e-2, 0.5][((r >> 32) % 4) as usize],
                momentum: if M::ON { 0.9 } else { 0.0 },
                maximize: r & (1 << 41) != 0,
            };
            carried.set_config(c).unwrap();
            fresh.set_config(c).unwrap();
        }
        let g = rng.gradients::<N>();
        fresh.bound = StateBound::UNKNOWN;
        let (r1, r2) = if step % 5 == 3 {
            let cfg = *carried.config();
            let groups = [
                ParamGroup {
                    range: 0..10,
                    config: cfg,
                },
                ParamGroup {
                    range: 10..N,
                    config: RmsPropConfig { lr: 1.0, ..cfg },
                },
            ];
            (
                carried.step_groups(&mut p1, &g, &groups),
                fresh.step_groups(&mut p2, &g, &groups),
            )
        } else {
            (carried.step(&mut p1, &g), fresh.step(&mut p2, &g))
        };
        assert_eq!(r1, r2, "seed {seed} step {step}");
        match r1 {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
        assert_eq!(bits(&p1), bits(&p2), "seed {seed} step {step}");
        assert_eq!(bits(carried.square_avg()), bits(fresh.square_avg()));
        assert!(p1.iter().all(|p| p.is_finite()), "seed {seed} step {step}");
        assert!(
            carried.bound.holds(&[], &[carried.square_avg()]),
            "seed {seed} step {step}: {:?}",
            carried.bound
        );
        rng.recentre_far(&mut p1, &mut p2);
        if step % 97 == 96 {
            carried.reset();
            fresh.reset();
        }
    }
    assert!(
        ok > steps / 4 && refused > 0,
        "{ok} taken, {refused} refused"
    );
}

#[test]
fn carried_bound_gives_the_verdicts_and_bits_of_reading_the_averages() {
    for seed in 1..=4u64 {
        agree::<Off, Off>(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 700);
        agree::<On, Off>(seed.wrapping_mul(0x2545_f491_4f6c_dd1d), 400);
        agree::<Off, On>(seed.wrapping_mul(0x94d0_49bb_1331_11eb), 400);
    }
}

/// With `α > 1`, `α·v + (1 − α)·g²` is no average (it grows by `α` per step under zero
/// gradients): a step with such an `α` leaves nothing known of `square_avg`.
#[test]
fn no_bound_is_carried_through_alpha_above_one() {
    let config = RmsPropConfig {
        alpha: 1.5,
        ..RmsPropConfig::new(1e-3)
    };
    // Centered, where the check does not send every such step to the trial run.
    let mut opt = RmsProp::<f32, 4, Off, On>::new(config).unwrap();
    let mut p = [0.5f32; 4];
    opt.step(&mut p, &[0.0; 4]).unwrap();
    assert!(!opt.bound.squares_within(i32::MAX), "{:?}", opt.bound);
    // An average keeps it.
    opt.set_config(RmsPropConfig::new(1e-3)).unwrap();
    opt.step(&mut p, &[0.0; 4]).unwrap();
    opt.step(&mut p, &[0.0; 4]).unwrap();
    assert!(opt.bound.squares_within(62), "{:?}", opt.bound);
}

/// With ordinary gradients and torch's defaults the bound is carried inside the step's safe range
/// (`2^60` for RMSprop's squares), so no check after the first reads `square_avg` until the count
/// of 255 steps runs out.
#[test]
fn ordinary_steps_keep_the_bound_inside_the_range() {
    let config = RmsPropConfig::new(1e-2);
    let c = <f32 as RmsPropNum>::rmsprop_coeffs(&config);
    let k = super::float::safe_exp_of(&c).unwrap();
    assert_eq!(k, 60);
    let mut opt = RmsProp::<f32, 8>::new(config).unwrap();
    let mut p = [0.5f32; 8];
    for t in 0..255 {
        let g = [0.25f32 * (1.0 + (t % 7) as f32); 8];
        opt.step(&mut p, &g).unwrap();
        assert!(opt.bound.squares_within(k), "{t}: {:?}", opt.bound);
    }
}

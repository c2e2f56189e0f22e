//! `host-threads` at the sizes it cuts: a float step of 393,229 elements (three pieces' worth of
//! the library's grain, not a multiple of 64), run in a pool of three threads, gives the bits
//! of the same step applied in parts too short to be cut, for every float optimizer; a NaN
//! gradient near the end is reported at its own position and changes nothing.
//!
//! The library's unit tests (`optim::threads`) cut at a few elements; this test runs the
//! production grain and `rayon`'s pool as a user's program does.

use edgetune::optim::*;
use edgetune::Error;

/// More than two grains (2 × 65,536) in every half: the step is cut into several pieces.
const N: usize = 393_229;
/// Below two grains: a part's loops run whole.
const PART: usize = 100_003;

fn values(seed: u64, scale: f64) -> Vec<f32> {
    let mut x = seed;
    (0..N)
        .map(|i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale;
            if i % 9 == 0 {
                0.0
            } else {
                v as f32
            }
        })
        .collect()
}

fn as_array(v: &[f32]) -> &[f32; N] {
    v.try_into().expect("N values")
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Four steps of two copies of `make()`'s optimizer, whole and in parts; then a refused step.
fn compare<O: Optimizer<f32, N>>(name: &str, make: impl Fn() -> O) {
    let (mut whole, mut parts) = (Box::new(make()), Box::new(make()));
    let mut p_whole = values(1, 2.0);
    let mut p_parts = p_whole.clone();
    for step in 0..4 {
        let grads = values(10 + step, 0.5);
        let mut p: Box<[f32; N]> = p_whole.clone().try_into().expect("N values");
        whole.step(&mut p, as_array(&grads)).expect("valid step");
        p_whole.copy_from_slice(&p[..]);
        let mut part = parts.begin_parts().expect("valid configuration");
        for start in (0..N).step_by(PART) {
            let r = start..N.min(start + PART);
            let (pp, g) = (&mut p_parts[r.clone()], &grads[r.clone()]);
            parts.step_part(&mut part, r, pp, g).expect("valid part");
        }
        parts.end_parts(part);
        assert!(same_bits(&p_whole, &p_parts), "{name}: step {step}");
    }
    let mut grads = values(99, 0.5);
    grads[N - 5] = f32::NAN;
    let mut p: Box<[f32; N]> = p_whole.clone().try_into().expect("N values");
    assert_eq!(
        whole.step(&mut p, as_array(&grads)),
        Err(Error::NonFiniteGradient { index: N - 5 }),
        "{name}"
    );
    assert!(same_bits(&p[..], &p_whole), "{name}: a refused step wrote");
}

#[test]
fn cut_steps_give_the_bits_of_whole_loops() {
    // Large optimizers are built on the stack before they are boxed: a pool thread with room.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .stack_size(64 << 20)
        .build()
        .expect("a pool");
    pool.install(|| {
        assert_eq!(rayon::current_num_threads(), 3);
        compare("sgd", || Sgd::<f32, N>::new(SgdConfig::new(0.01)).unwrap());
        compare("nesterov", || {
            Momentum::<f32, N>::new(MomentumConfig::nesterov(0.01, 0.9)).unwrap()
        });
        compare("adam", || {
            Adam::<f32, N>::new(AdamConfig::adam(1e-3)).unwrap()
        });
        compare("adamw", || {
            Adam::<f32, N>::new(AdamConfig::adamw(1e-3)).unwrap()
        });
        let amsgrad = AdamConfig {
            weight_decay: 0.01,
            maximize: true,
            ..AdamConfig::adam(1e-3)
        };
        compare("amsgrad", || AmsGrad::<f32, N>::new(amsgrad).unwrap());
        compare("rmsprop", || {
            RmsProp::<f32, N>::new(RmsPropConfig::new(1e-2)).unwrap()
        });
        let centered = RmsPropConfig {
            momentum: 0.9,
            weight_decay: 0.01,
            ..RmsPropConfig::new(1e-2)
        };
        compare("rmsprop centered", || {
            RmsProp::<f32, N, On, On>::new(centered).unwrap()
        });
        compare("adagrad", || {
            Adagrad::<f32, N>::new(AdagradConfig::new(1e-2)).unwrap()
        });
        compare("lion", || {
            Lion::<f32, N>::new(LionConfig::new(1e-4)).unwrap()
        });
    });
}

//! Checkpoints of the run-time-sized optimizers (`Store::save_parts`, `Store::restore_parts`)
//! against the `[S; N]` ones (`Store::save`, `Store::restore`): for every optimizer and variant
//! in f32, I16F16, I8F24 and I4F12, after some steps with stochastic rounding,
//! - the two saves write the same flash bytes;
//! - each record restores into the other kind (a fresh optimizer with another configuration),
//!   giving the saver's exact words, and both then take the same next steps bit for bit;
//! - a record of another length, variant or number type, or with a flipped byte, is a typed error
//!   and leaves the destination's words unchanged.

use edgetune::checkpoint::{
    CheckpointError, Part, Progress, RuntimePart, SimFlash, SliceSink, Store, Word,
};
use edgetune::dynamic::{DynAdagrad, DynAdam, DynLion, DynMomentum, DynRmsProp, DynSgd};
use edgetune::num::fixed::{RoundingState, I16F16, I4F12, I8F24};
use edgetune::num::{Num, Scalar};
use edgetune::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, Lion, LionConfig, Momentum, MomentumConfig, Off, On,
    Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};

const N: usize = 9;
type Flash = SimFlash<4096, 8, 256>;
const SLOT: u32 = 2048;

/// Every word `part` saves.
fn words<P: RuntimePart + ?Sized>(part: &P) -> Vec<u32> {
    let mut out = vec![0u32; part.words()];
    let mut sink = SliceSink::new(&mut out);
    part.save_words(&mut sink).unwrap();
    assert_eq!(sink.len(), part.words());
    out
}

/// The number types under test: values, gradients and a stochastic rounding state.
trait TestNum: Scalar + Num + Word {
    fn seed(aux: &mut Self::Aux, seed: u32);
}

impl TestNum for f32 {
    fn seed(_: &mut (), _: u32) {}
}

macro_rules! fixed_num {
    ($($t:ty),*) => {$(
        impl TestNum for $t {
            fn seed(aux: &mut RoundingState, seed: u32) {
                *aux = RoundingState::stochastic(seed);
            }
        }
    )*};
}
fixed_num!(I16F16, I8F24, I4F12);

fn values<S: TestNum>(salt: usize) -> [S; N] {
    core::array::from_fn(|i| S::from_f64(((i * 7 + salt * 3) % 11) as f64 / 16.0 - 0.3))
}

/// Runs the checks for one static optimizer `$st` and its run-time-sized twin `$dy` (both
/// created from `$config`), and a fresh pair made from `$other`, stepping with `$aux`.
macro_rules! case {
    ($S:ty, $st:expr, $dy:expr, $fresh_st:expr, $fresh_dy:expr) => {{
        type S = $S;
        let mut st = $st;
        let mut dy = $dy;
        <S as TestNum>::seed(st.aux_mut(), 0x1234_5678);
        <S as TestNum>::seed(dy.aux_mut(), 0x1234_5678);
        let mut p_st: [S; N] = values::<S>(0);
        let mut p_dy: Vec<S> = p_st.to_vec();
        for k in 1..4 {
            let g = values::<S>(k);
            st.step(&mut p_st, &g).unwrap();
            dy.step(&mut p_dy, &g).unwrap();
        }
        let progress = Progress {
            epoch: 3,
            step: 0x1_0000_0007,
            user: [1, 2, 3, 4],
        };

        // The same bytes on flash.
        let mut a = Store::new(Flash::new(), 0, SLOT).unwrap();
        let mut b = Store::new(Flash::new(), 0, SLOT).unwrap();
        a.save(&p_st, &st, &progress).unwrap();
        b.save_parts(&p_dy[..], &dy, &progress).unwrap();
        assert_eq!(a.flash_mut().bytes_mut()[..], b.flash_mut().bytes_mut()[..]);
        assert_eq!(
            Store::<Flash>::record_bytes_of(&p_dy[..], &dy),
            Some(Store::<Flash>::record_bytes_of(&p_st, &st).unwrap())
        );

        // The static record into a fresh dynamic optimizer, and the other way round.
        let mut dy2 = $fresh_dy;
        let mut p_dy2 = vec![<S as edgetune::num::StateValue>::ZERO; N];
        let mut pr = Progress::ZERO;
        a.restore_parts(&mut p_dy2[..], &mut dy2, &mut pr).unwrap();
        assert_eq!(
            (words(&dy2), words(&p_dy2[..]), pr),
            (words(&st), words(&p_st), progress)
        );
        let mut st2 = $fresh_st;
        let mut p_st2 = [<S as edgetune::num::StateValue>::ZERO; N];
        let mut pr = Progress::ZERO;
        b.restore(&mut p_st2, &mut st2, &mut pr).unwrap();
        assert_eq!(
            (words(&st2), words(&p_st2), pr),
            (words(&dy), words(&p_dy[..]), progress)
        );
        let g = values::<S>(9);
        st2.step(&mut p_st2, &g).unwrap();
        dy2.step(&mut p_dy2, &g).unwrap();
        assert_eq!(
            (words(&st2), words(&p_st2)),
            (words(&dy2), words(&p_dy2[..]))
        );

        // Wrong length: a typed error, nothing written.
        let mut short = vec![<S as edgetune::num::StateValue>::ZERO; N - 1];
        let before = words(&dy2);
        let e = b
            .restore_parts(&mut short[..], &mut dy2, &mut pr)
            .unwrap_err();
        assert!(
            matches!(
                e,
                CheckpointError::WrongShape {
                    part: Part::Params,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(words(&dy2), before);

        // A flipped payload byte: both slots' CRCs fail (only one is written).
        let at = 4 * edgetune::checkpoint::HEADER_WORDS + 5;
        b.flash_mut().bytes_mut()[at] ^= 0x10;
        let e = b
            .restore_parts(&mut p_dy2[..], &mut dy2, &mut pr)
            .unwrap_err();
        assert!(matches!(e, CheckpointError::BadCrc { .. }), "{e:?}");
        assert_eq!(words(&dy2), before);
    }};
}

/// The optimizers and variants for one number type.
macro_rules! all_optimizers {
    ($S:ty) => {{
        let sgd = SgdConfig {
            lr: 0.05,
            weight_decay: 0.01,
            maximize: false,
        };
        let other_sgd = SgdConfig {
            lr: 0.5,
            ..SgdConfig::new(0.5)
        };
        case!(
            $S,
            Sgd::<$S, N>::new(sgd).unwrap(),
            DynSgd::<$S>::new(sgd, N).unwrap(),
            Sgd::<$S, N>::new(other_sgd).unwrap(),
            DynSgd::<$S>::new(other_sgd, N).unwrap()
        );

        let m = MomentumConfig {
            lr: 0.02,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: true,
            maximize: false,
        };
        let other_m = MomentumConfig {
            lr: 0.5,
            momentum: 0.1,
            nesterov: false,
            ..m
        };
        case!(
            $S,
            Momentum::<$S, N>::new(m).unwrap(),
            DynMomentum::<$S>::new(m, N).unwrap(),
            Momentum::<$S, N>::new(other_m).unwrap(),
            DynMomentum::<$S>::new(other_m, N).unwrap()
        );

        let adam = AdamConfig {
            weight_decay: 0.02,
            ..AdamConfig::adamw(0.01)
        };
        let other = AdamConfig::adam(0.5);
        case!(
            $S,
            Adam::<$S, N>::new(adam).unwrap(),
            DynAdam::<$S>::new(adam, false, N).unwrap(),
            Adam::<$S, N>::new(other).unwrap(),
            DynAdam::<$S>::new(other, false, N).unwrap()
        );
        case!(
            $S,
            Adam::<$S, N, On>::new(adam).unwrap(),
            DynAdam::<$S>::new(adam, true, N).unwrap(),
            Adam::<$S, N, On>::new(other).unwrap(),
            DynAdam::<$S>::new(other, true, N).unwrap()
        );

        let r = RmsPropConfig {
            lr: 0.01,
            momentum: 0.5,
            ..RmsPropConfig::new(0.1)
        };
        let other_r = RmsPropConfig {
            lr: 0.1,
            momentum: 0.2,
            ..RmsPropConfig::new(0.1)
        };
        case!(
            $S,
            RmsProp::<$S, N, On, On>::new(r).unwrap(),
            DynRmsProp::<$S>::new(r, true, N).unwrap(),
            RmsProp::<$S, N, On, On>::new(other_r).unwrap(),
            DynRmsProp::<$S>::new(other_r, true, N).unwrap()
        );
        let r0 = RmsPropConfig { momentum: 0.0, ..r };
        let other_r0 = RmsPropConfig {
            momentum: 0.0,
            ..other_r
        };
        case!(
            $S,
            RmsProp::<$S, N, Off, Off>::new(r0).unwrap(),
            DynRmsProp::<$S>::new(r0, false, N).unwrap(),
            RmsProp::<$S, N, Off, Off>::new(other_r0).unwrap(),
            DynRmsProp::<$S>::new(other_r0, false, N).unwrap()
        );
        case!(
            $S,
            RmsProp::<$S, N, Off, On>::new(r0).unwrap(),
            DynRmsProp::<$S>::new(r0, true, N).unwrap(),
            RmsProp::<$S, N, Off, On>::new(other_r0).unwrap(),
            DynRmsProp::<$S>::new(other_r0, true, N).unwrap()
        );

        let ag = AdagradConfig {
            lr: 0.05,
            lr_decay: 0.01,
            ..AdagradConfig::new(0.5)
        };
        let other_ag = AdagradConfig {
            lr: 0.5,
            ..AdagradConfig::new(0.5)
        };
        case!(
            $S,
            Adagrad::<$S, N>::new(ag).unwrap(),
            DynAdagrad::<$S>::new(ag, N).unwrap(),
            Adagrad::<$S, N>::new(other_ag).unwrap(),
            DynAdagrad::<$S>::new(other_ag, N).unwrap()
        );

        let l = LionConfig {
            lr: 0.001,
            ..LionConfig::new(0.1)
        };
        let other_l = LionConfig {
            lr: 0.1,
            ..LionConfig::new(0.1)
        };
        case!(
            $S,
            Lion::<$S, N>::new(l).unwrap(),
            DynLion::<$S>::new(l, N).unwrap(),
            Lion::<$S, N>::new(other_l).unwrap(),
            DynLion::<$S>::new(other_l, N).unwrap()
        );
    }};
}

#[test]
fn f32_records_are_the_static_records() {
    all_optimizers!(f32);
}

#[test]
fn i16f16_records_are_the_static_records() {
    all_optimizers!(I16F16);
}

#[test]
fn i8f24_records_are_the_static_records() {
    all_optimizers!(I8F24);
}

#[test]
fn i4f12_records_are_the_static_records() {
    all_optimizers!(I4F12);
}

#[test]
fn another_variant_or_number_type_is_refused_with_nothing_written() {
    let adam = AdamConfig::adam(0.01);
    let mut store = Store::new(Flash::new(), 0, SLOT).unwrap();
    let params = [0.5f32; N];
    store
        .save(
            &params,
            &Adam::<f32, N>::new(adam).unwrap(),
            &Progress::ZERO,
        )
        .unwrap();

    let mut amsgrad = DynAdam::<f32>::new(adam, true, N).unwrap();
    let before = words(&amsgrad);
    let mut p = vec![0.0f32; N];
    let mut pr = Progress::ZERO;
    let e = store
        .restore_parts(&mut p[..], &mut amsgrad, &mut pr)
        .unwrap_err();
    assert!(
        matches!(
            e,
            CheckpointError::WrongKind {
                part: Part::Optimizer,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!((words(&amsgrad), p.clone()), (before, vec![0.0; N]));

    let mut fixed = DynAdam::<I16F16>::new(adam, false, N).unwrap();
    let mut pf = [<I16F16 as edgetune::num::StateValue>::ZERO; N];
    let e = store
        .restore_parts(&mut pf[..], &mut fixed, &mut pr)
        .unwrap_err();
    assert!(
        matches!(
            e,
            CheckpointError::WrongNumberType {
                part: Part::Params,
                ..
            }
        ),
        "{e:?}"
    );

    let mut sgd = DynSgd::<f32>::new(SgdConfig::new(0.5), N).unwrap();
    let e = store
        .restore_parts(&mut p[..], &mut sgd, &mut pr)
        .unwrap_err();
    assert!(
        matches!(
            e,
            CheckpointError::WrongKind {
                part: Part::Optimizer,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(pr, Progress::ZERO);
}

#[test]
fn a_record_larger_than_the_slot_is_refused() {
    let big = vec![0.0f32; 600];
    let opt = DynAdam::<f32>::new(AdamConfig::adam(0.01), false, 600).unwrap();
    let mut store = Store::new(Flash::new(), 0, SLOT).unwrap();
    let e = store
        .save_parts(&big[..], &opt, &Progress::ZERO)
        .unwrap_err();
    assert!(matches!(e, CheckpointError::TooLarge { .. }), "{e:?}");
    assert!(store.flash_mut().bytes_mut().iter().all(|&b| b == 0xFF));
}

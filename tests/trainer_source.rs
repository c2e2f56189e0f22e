//! `Trainer::step_with` and `evaluate_with` (samples written one at a time by a closure) against
//! `Trainer::step_batch` and `evaluate` over the same samples held in slices: the same
//! parameters, optimizer state, schedule and loss, bit for bit, in f32 and I16F16, with and
//! without clipping and a schedule; and what a bad sample, a wrong input size or an empty batch
//! leave.

use edgetune::nn::{Init, Network, NnError, Scalar};
use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::{evaluate, evaluate_with, Pcg32, Scheduler, StepLr, TrainError, Trainer};
use edgetune::Error;

edgetune::mlp! {
    /// Stored samples are 8-bit levels, as on a device.
    struct Net {
        dense 12 -> 8, relu, bias;
        dense 8 -> 3;
        loss softmax_cross_entropy;
    }
}

edgetune::mlp! {
    struct Reg {
        dense 3 -> 4, tanh;
        dense 4 -> 2;
        loss mse;
    }
}

const BATCH: usize = 6;
const TRAINABLE: usize = Net::<f32>::TRAINABLE;

/// A sample as a device stores it: 12 levels and a label.
#[derive(Clone, Copy)]
struct Rec {
    px: [u8; 12],
    label: u8,
}

fn records(seed: u64, n: usize) -> Vec<Rec> {
    let mut rng = Pcg32::seeded(seed);
    (0..n)
        .map(|_| {
            let label = rng.below(3) as u8;
            let mut px = [0u8; 12];
            for (k, p) in px.iter_mut().enumerate() {
                // Class-dependent brightness so the network has something to learn.
                let base = if k % 3 == usize::from(label) { 160 } else { 40 };
                *p = (base + rng.below(80)) as u8;
            }
            Rec { px, label }
        })
        .collect()
}

fn level<S: Scalar>(b: u8) -> S {
    S::from_f64(f64::from(b) / 255.0)
}

fn convert<S: Scalar>(r: &Rec) -> ([S; 12], usize) {
    (r.px.map(level::<S>), usize::from(r.label))
}

fn fresh<S: Scalar>() -> Net<S> {
    let mut net = Net::<S>::zeroed();
    net.init(Init::TorchDefault, 11).unwrap();
    net
}

fn adam<S: AdamNum>() -> Adam<S, TRAINABLE> {
    Adam::new(AdamConfig::adam(0.05)).unwrap()
}

/// Runs `batches` mini-batches both ways from the same start and asserts every bit agrees
/// after every batch.
fn same_as_step_batch<S: Scalar + AdamNum, Sch: edgetune::train::BatchSchedule + PartialEq>(
    a: &mut Trainer<Adam<S, TRAINABLE>, Sch>,
    b: &mut Trainer<Adam<S, TRAINABLE>, Sch>,
) {
    let data = records(5, 60);
    let mut net_a = fresh::<S>();
    let mut net_b = fresh::<S>();
    for batch in data.chunks(BATCH) {
        let slice: Vec<([S; 12], usize)> = batch.iter().map(convert::<S>).collect();
        let la = a.step_batch(&mut net_a, &slice).unwrap();
        let mut calls = Vec::new();
        let lb = b
            .step_with(&mut net_b, batch.len(), |i, x: &mut [S; 12]| {
                calls.push(i);
                let (px, label) = convert::<S>(&batch[i]);
                *x = px;
                Ok(label)
            })
            .unwrap();
        assert_eq!(
            calls,
            (0..batch.len()).collect::<Vec<_>>(),
            "once each, in order"
        );
        assert_eq!(la.to_bits(), lb.to_bits());
        assert_eq!(net_a.trainable(), net_b.trainable());
        assert_eq!(net_a.grads(), net_b.grads());
        assert_eq!(a.optimizer().exp_avg(), b.optimizer().exp_avg());
        assert_eq!(a.optimizer().exp_avg_sq(), b.optimizer().exp_avg_sq());
        assert_eq!(a.optimizer().step_count(), b.optimizer().step_count());
        assert!(a.schedule_ref() == b.schedule_ref());
    }
    // The run trained: the two paths agree on something that moved.
    assert_ne!(net_a.trainable(), fresh::<S>().trainable());
}

#[test]
fn step_with_equals_step_batch_bit_for_bit_in_f32_and_i16f16() {
    same_as_step_batch::<f32, _>(&mut Trainer::new(adam()), &mut Trainer::new(adam()));
    same_as_step_batch::<I16F16, _>(&mut Trainer::new(adam()), &mut Trainer::new(adam()));
}

#[test]
fn step_with_equals_step_batch_with_clipping_and_a_schedule() {
    let sched = || Scheduler::new(StepLr::new(0.05, 3, 0.5).unwrap());
    let t = || Trainer::new(adam::<f32>()).clip_norm(0.5).schedule(sched());
    same_as_step_batch::<f32, _>(&mut t(), &mut t());
    let t = || {
        Trainer::new(adam::<I16F16>())
            .clip_value(0.1)
            .schedule(sched())
    };
    same_as_step_batch::<I16F16, _>(&mut t(), &mut t());
}

#[test]
fn step_with_takes_regression_targets_by_value() {
    let xs: Vec<[f32; 3]> = (0..8).map(|i| [i as f32 / 8.0, 0.5, -0.25]).collect();
    let ts: Vec<[f32; 2]> = xs.iter().map(|x| [x[0] * 2.0, -x[0]]).collect();
    let slice: Vec<([f32; 3], [f32; 2])> = xs.iter().copied().zip(ts.iter().copied()).collect();
    let mut a = Reg::<f32>::zeroed();
    a.init(Init::XavierUniform { gain: 1.0 }, 3).unwrap();
    let mut b = a.clone();
    let opt = || Adam::<f32, { Reg::<f32>::TRAINABLE }>::new(AdamConfig::adam(0.01)).unwrap();
    let (mut ta, mut tb) = (Trainer::new(opt()), Trainer::new(opt()));
    for _ in 0..5 {
        let la = ta.step_batch(&mut a, &slice).unwrap();
        let lb = tb
            .step_with(&mut b, xs.len(), |i, x: &mut [f32; 3]| {
                *x = xs[i];
                Ok(ts[i])
            })
            .unwrap();
        assert_eq!(la.to_bits(), lb.to_bits());
        assert_eq!(a.trainable(), b.trainable());
    }
    let ea = evaluate(&a, &slice).unwrap();
    let eb = evaluate_with(&b, xs.len(), |i, x: &mut [f32; 3]| {
        *x = xs[i];
        Ok(ts[i])
    })
    .unwrap();
    assert_eq!(ea, eb);
    assert_eq!(eb.accuracy, None);
}

#[test]
fn evaluate_with_equals_evaluate() {
    let data = records(9, 40);
    for net in [fresh::<f32>(), {
        let mut n = fresh::<f32>();
        let mut t = Trainer::new(adam::<f32>());
        for batch in data.chunks(BATCH) {
            let s: Vec<_> = batch.iter().map(convert::<f32>).collect();
            t.step_batch(&mut n, &s).unwrap();
        }
        n
    }] {
        let slice: Vec<([f32; 12], usize)> = data.iter().map(convert::<f32>).collect();
        let e = evaluate(&net, &slice).unwrap();
        let w = evaluate_with(&net, data.len(), |i, x: &mut [f32; 12]| {
            let (px, label) = convert::<f32>(&data[i]);
            *x = px;
            Ok(label)
        })
        .unwrap();
        assert_eq!(e, w);
        assert_eq!(w.count, 40);
    }
}

#[test]
fn a_bad_sample_mid_batch_is_an_error_and_leaves_parameters_optimizer_and_schedule() {
    let data = records(2, BATCH);
    let mut net = fresh::<f32>();
    let mut t =
        Trainer::new(adam::<f32>()).schedule(Scheduler::new(StepLr::new(0.05, 1, 0.5).unwrap()));
    let params = *net.trainable();
    let (m, v) = (*t.optimizer().exp_avg(), *t.optimizer().exp_avg_sq());
    let sched = *t.schedule_ref();
    let mut calls = 0;
    let r = t.step_with(&mut net, BATCH, |i, x: &mut [f32; 12]| {
        calls += 1;
        let (mut px, label) = convert::<f32>(&data[i]);
        if i == 3 {
            px[7] = f32::NAN;
        }
        *x = px;
        Ok(label)
    });
    assert!(
        matches!(r, Err(Error::InvalidInput { index: 7, .. })),
        "{r:?}"
    );
    assert_eq!(calls, 4, "the batch stops at the bad sample");
    assert_eq!(net.trainable(), &params);
    assert_eq!(t.optimizer().exp_avg(), &m);
    assert_eq!(t.optimizer().exp_avg_sq(), &v);
    assert_eq!(t.optimizer().step_count(), 0);
    assert_eq!(*t.schedule_ref(), sched);

    // A label out of range and the source's own error likewise.
    let r = t.step_with(&mut net, BATCH, |i, x: &mut [f32; 12]| {
        *x = convert::<f32>(&data[i]).0;
        Ok(if i == 1 { 3 } else { 0 })
    });
    assert_eq!(
        r,
        Err(Error::Nn(NnError::LabelOutOfRange {
            label: 3,
            classes: 3
        }))
    );
    let r = t.step_with(
        &mut net,
        BATCH,
        |_, _: &mut [f32; 12]| -> Result<usize, Error> { Err(TrainError::CounterOverflow.into()) },
    );
    assert_eq!(r, Err(Error::Train(TrainError::CounterOverflow)));
    assert_eq!(net.trainable(), &params);
    assert_eq!(t.optimizer().step_count(), 0);
    assert_eq!(*t.schedule_ref(), sched);

    // After all that, a good batch is the same as on a network that never saw the bad ones.
    let mut clean = fresh::<f32>();
    let mut tc =
        Trainer::new(adam::<f32>()).schedule(Scheduler::new(StepLr::new(0.05, 1, 0.5).unwrap()));
    let slice: Vec<_> = data.iter().map(convert::<f32>).collect();
    tc.step_batch(&mut clean, &slice).unwrap();
    t.step_with(&mut net, BATCH, |i, x: &mut [f32; 12]| {
        let (px, label) = convert::<f32>(&data[i]);
        *x = px;
        Ok(label)
    })
    .unwrap();
    assert_eq!(net.trainable(), clean.trainable());
}

#[test]
fn an_empty_batch_or_a_wrong_input_size_calls_nothing_and_changes_nothing() {
    let mut net = fresh::<f32>();
    let mut t = Trainer::new(adam::<f32>());
    let params = *net.trainable();
    let mut called = false;
    let r = t.step_with(&mut net, 0, |_, _: &mut [f32; 12]| {
        called = true;
        Ok(0usize)
    });
    assert_eq!(r, Err(Error::Train(TrainError::NothingAccumulated)));
    let r = t.step_with(&mut net, 4, |_, _: &mut [f32; 11]| {
        called = true;
        Ok(0usize)
    });
    assert_eq!(
        r,
        Err(Error::LengthMismatch {
            expected: 12,
            found: 11
        })
    );
    let r = evaluate_with(&net, 4, |_, _: &mut [f32; 13]| {
        called = true;
        Ok(0usize)
    });
    assert_eq!(
        r,
        Err(Error::LengthMismatch {
            expected: 12,
            found: 13
        })
    );
    let r = evaluate_with(&net, 0, |_, _: &mut [f32; 12]| {
        called = true;
        Ok(0usize)
    });
    assert_eq!(r, Err(Error::Train(TrainError::NothingAccumulated)));
    assert!(!called);
    assert_eq!(net.trainable(), &params);
    assert_eq!(t.optimizer().step_count(), 0);
}

#[test]
fn an_invalid_clipping_value_is_found_before_the_source_is_called() {
    let mut net = fresh::<f32>();
    let mut t = Trainer::new(adam::<f32>()).clip_norm(f64::NAN);
    let mut called = false;
    let r = t.step_with(&mut net, 2, |_, _: &mut [f32; 12]| {
        called = true;
        Ok(0usize)
    });
    assert!(
        matches!(
            r,
            Err(Error::Train(TrainError::InvalidHyperparameter {
                name: "max_norm",
                ..
            }))
        ),
        "{r:?}"
    );
    assert!(!called);
}

#[test]
fn step_with_on_an_optimizer_of_the_wrong_size_is_a_length_mismatch() {
    let mut net = fresh::<f32>();
    let mut t = Trainer::new(Adam::<f32, 5>::new(AdamConfig::adam(0.05)).unwrap());
    let r = t.step_with(&mut net, 2, |_, _: &mut [f32; 12]| Ok(0usize));
    assert_eq!(
        r,
        Err(Error::LengthMismatch {
            expected: TRAINABLE,
            found: 5
        })
    );
}

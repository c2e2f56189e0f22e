//! `Trainer`'s contract: one call per mini-batch is exactly the hand-written loop (zero,
//! accumulate, mean, clip, step, schedule), bit for bit; `step_buffer` is `step_batch` on the
//! drawn samples; and a refused batch (non-finite gradient, invalid clipping value) changes
//! nothing: parameters, gradients where promised, optimizer state and schedule.

use edgetune::nn::{Init, Network};
use edgetune::optim::{Adam, AdamConfig, Optimizer};
use edgetune::train::{
    clip_grad_norm, GradAccumulator, Pcg32, Policy, SampleBuffer, Scheduler, StepLr, TrainError,
    Trainer,
};
use edgetune::Error;

edgetune::mlp! {
    /// A small classifier: 4 inputs, 3 classes.
    struct Classifier {
        dense 4 -> 8, tanh;
        dense 8 -> 3;
        loss softmax_cross_entropy;
    }
}

edgetune::mlp! {
    /// A linear regressor, so that large finite inputs overflow the output.
    struct Linear {
        dense 2 -> 1;
        loss mse;
    }
}

const N: usize = Classifier::<f32>::TRAINABLE;
type Opt = Adam<f32, N>;

/// Samples in `[-1, 1)⁴` labelled by which of three directions their sum falls in.
fn samples(n: usize, seed: u64) -> Vec<([f32; 4], usize)> {
    let mut rng = Pcg32::seeded(seed);
    (0..n)
        .map(|_| {
            let x: [f32; 4] = core::array::from_fn(|_| rng.next_u32() as f32 / 2.0e9 - 1.0);
            let s = x[0] + 0.5 * x[1] - x[2];
            (x, usize::from(s > -0.3) + usize::from(s > 0.3))
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every bit of Adam's state: moments, step count and configuration.
fn adam_state(opt: &Opt) -> (Vec<u32>, Vec<u32>, u32, AdamConfig) {
    (
        bits(opt.exp_avg()),
        bits(opt.exp_avg_sq()),
        opt.step_count(),
        *opt.config(),
    )
}

fn fresh_net() -> Classifier<f32> {
    let mut net = Classifier::<f32>::zeroed();
    net.init(Init::TorchDefault, 42).unwrap();
    net
}

fn schedule() -> Scheduler<StepLr> {
    Scheduler::new(StepLr::new(1e-2, 3, 0.5).unwrap())
}

/// The reference for the trainer's semantics: the loop every caller used to write, with clipping
/// and a schedule advanced after each step. Over 12 batches (the learning rate halves every 3)
/// the trainer's parameters, optimizer state, learning rate and returned mean losses equal the
/// loop's to the bit: the same operations in the same order, so no tolerance.
#[test]
fn step_batch_equals_the_hand_written_loop_bit_for_bit() {
    let data = samples(96, 1);
    let mut reference = fresh_net();
    let mut opt = Opt::new(AdamConfig::adam(1e-2)).unwrap();
    let mut sched = schedule();
    sched.apply(&mut opt).unwrap();
    let mut ref_losses = Vec::new();
    for batch in data.chunks(8) {
        reference.zero_grad();
        let mut acc = GradAccumulator::new();
        let mut loss = 0.0f64;
        for (x, y) in batch {
            loss += f64::from(reference.accumulate(x, *y).unwrap());
            acc.add_sample().unwrap();
        }
        acc.finish(reference.grads_mut()).unwrap();
        clip_grad_norm(reference.grads_mut(), 0.5).unwrap();
        let (p, g) = reference.trainable_and_grads();
        opt.step_slices(p, g).unwrap();
        sched.step_apply(&mut opt).unwrap();
        ref_losses.push(loss / batch.len() as f64);
    }

    let mut net = fresh_net();
    let mut start = Opt::new(AdamConfig::adam(1e-2)).unwrap();
    let sched2 = schedule();
    sched2.apply(&mut start).unwrap();
    let mut trainer = Trainer::new(start).clip_norm(0.5).schedule(sched2);
    let losses: Vec<f64> = data
        .chunks(8)
        .map(|b| trainer.step_batch(&mut net, b).unwrap())
        .collect();

    assert_eq!(bits(net.trainable()), bits(reference.trainable()));
    assert_eq!(bits(net.grads()), bits(reference.grads()));
    assert_eq!(adam_state(trainer.optimizer()), adam_state(&opt));
    assert_eq!(trainer.schedule_ref(), &sched);
    assert_eq!(trainer.optimizer().config().lr, 1e-2 * 0.5f64.powi(4));
    assert_eq!(losses, ref_losses);
    // The loop did something (so equality is not between two untouched networks).
    assert_ne!(bits(net.trainable()), bits(fresh_net().trainable()));
}

/// `step_buffer` draws `indices.len()` distinct samples from the buffer and is `step_batch` on
/// them, in the drawn order, to the bit.
#[test]
fn step_buffer_equals_step_batch_on_the_drawn_samples() {
    let mut buffer = SampleBuffer::<([f32; 4], usize), 32>::new(Policy::Reservoir, 5);
    for s in samples(50, 2) {
        buffer.push(s);
    }
    let mut by_buffer = fresh_net();
    let mut by_batch = fresh_net();
    let mut t_buffer = Trainer::new(Opt::new(AdamConfig::adam(1e-2)).unwrap());
    let mut t_batch = t_buffer.clone();
    for _ in 0..5 {
        // The same draw, made on a copy of the buffer (same generator state).
        let mut drawn = [0usize; 6];
        buffer.clone().draw_batch(&mut drawn).unwrap();
        let batch: Vec<_> = drawn.iter().map(|&i| *buffer.get(i).unwrap()).collect();

        let mut indices = [0usize; 6];
        let a = t_buffer
            .step_buffer(&mut by_buffer, &mut buffer, &mut indices)
            .unwrap();
        assert_eq!(indices, drawn);
        let b = t_batch.step_batch(&mut by_batch, &batch).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
    }
    assert_eq!(bits(by_buffer.trainable()), bits(by_batch.trainable()));
    assert_eq!(
        adam_state(t_buffer.optimizer()),
        adam_state(t_batch.optimizer())
    );
    assert_eq!(t_buffer.optimizer().step_count(), 5);

    // A batch larger than the buffer is the buffer's error, and nothing moves.
    let before = bits(by_buffer.trainable());
    let mut too_many = [0usize; 33];
    assert_eq!(
        t_buffer.step_buffer(&mut by_buffer, &mut buffer, &mut too_many),
        Err(Error::Train(TrainError::BatchTooLarge {
            requested: 33,
            available: 32
        }))
    );
    assert_eq!(bits(by_buffer.trainable()), before);
    assert_eq!(t_buffer.optimizer().step_count(), 5);
}

/// A finite input large enough to overflow `w·x` makes the gradient infinite. The step is
/// refused with the optimizer's (or clipping's) error, and parameters, optimizer state and
/// schedule are what they were; the next good batch trains as if the bad one never came.
#[test]
fn a_non_finite_gradient_changes_no_parameter_optimizer_state_or_schedule() {
    const M: usize = Linear::<f32>::TRAINABLE;
    let good = [([0.5f32, -0.25], [1.0f32]), ([-1.0, 0.75], [0.0])];
    // 3e38 + 3e38 overflows f32 (largest 3.4e38): the output, the loss and the gradient are ∞.
    let bad = [([3.0e38f32, 3.0e38], [0.0f32])];
    for clip in [None, Some(1.0)] {
        let mut net = Linear::<f32>::zeroed();
        net.import(&[1.0, 1.0, 0.0]).unwrap();
        let mut opt = Adam::<f32, M>::new(AdamConfig::adam(1e-2)).unwrap();
        let sched = schedule();
        sched.apply(&mut opt).unwrap();
        let trainer = Trainer::new(opt).schedule(sched);
        let mut trainer = match clip {
            Some(c) => trainer.clip_norm(c),
            None => trainer,
        };
        trainer.step_batch(&mut net, &good).unwrap();
        // Copies that never see the bad batch.
        let (mut twin, mut twin_trainer) = (net.clone(), trainer.clone());

        let err = trainer.step_batch(&mut net, &bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NonFiniteGradient { .. }
                    | Error::Train(TrainError::NonFiniteGradient { .. })
            ),
            "{err:?}"
        );
        assert_eq!(bits(net.trainable()), bits(twin.trainable()));
        let (o, t) = (trainer.optimizer(), twin_trainer.optimizer());
        assert_eq!(
            (bits(o.exp_avg()), bits(o.exp_avg_sq()), o.step_count()),
            (bits(t.exp_avg()), bits(t.exp_avg_sq()), t.step_count())
        );
        assert_eq!(o.config(), t.config());
        assert_eq!(trainer.schedule_ref(), twin_trainer.schedule_ref());

        // The refused batch left no trace: the next step equals the copies' next step.
        twin_trainer.step_batch(&mut twin, &good).unwrap();
        trainer.step_batch(&mut net, &good).unwrap();
        assert_eq!(bits(net.trainable()), bits(twin.trainable()));
    }
}

/// A negative, NaN or infinite clipping value is `InvalidHyperparameter`, found before anything
/// is written: parameters, gradients, optimizer state and schedule unchanged.
#[test]
fn an_invalid_clip_value_is_a_typed_error_and_changes_nothing() {
    let data = samples(8, 3);
    for (bad, name) in [
        (-1.0, "max_norm"),
        (f64::NAN, "max_norm"),
        (f64::INFINITY, "max_norm"),
        (-0.5, "clip_value"),
        (f64::NAN, "clip_value"),
    ] {
        let mut net = fresh_net();
        // Train one good batch first, so that state and gradients are not all zero.
        let mut ok = Trainer::new(Opt::new(AdamConfig::adam(1e-2)).unwrap()).schedule(schedule());
        ok.step_batch(&mut net, &data).unwrap();
        let (opt, sched) = ok.into_parts();
        let trainer = Trainer::new(opt).schedule(sched);
        let mut trainer = if name == "max_norm" {
            trainer.clip_norm(bad)
        } else {
            trainer.clip_value(bad)
        };
        let (params, grads) = (bits(net.trainable()), bits(net.grads()));
        assert!(grads.iter().any(|&g| g != 0));
        let state = adam_state(trainer.optimizer());
        let sched_before = *trainer.schedule_ref();

        assert_eq!(
            trainer.step_batch(&mut net, &data),
            Err(Error::Train(TrainError::InvalidHyperparameter {
                name,
                requirement: "finite and >= 0"
            }))
        );
        assert_eq!(bits(net.trainable()), params);
        assert_eq!(bits(net.grads()), grads);
        assert_eq!(adam_state(trainer.optimizer()), state);
        assert_eq!(trainer.schedule_ref(), &sched_before);
    }
}

/// A schedule moves every parameter group from its own base rate, as torch's `StepLR` does for
/// each param group's `initial_lr`: after batch `k` each group's rate is `base · 0.5^⌊k/3⌋`
/// (exact: halving is exact in f64). The parameters equal those of the same loop run with the
/// groups' rates set by hand before each step, to the bit.
#[test]
fn step_batch_groups_moves_each_group_from_its_own_base_rate() {
    use edgetune::optim::ParamGroup;
    use edgetune::train::base_lrs;
    let data = samples(48, 5);
    let ranges = Classifier::<f32>::layer_ranges(1).unwrap();
    let head = ranges.weights.unwrap().start..N;
    let base = AdamConfig::adam(1e-2);
    let make = || {
        [
            ParamGroup::new(0..head.start, base),
            ParamGroup::new(head.clone(), AdamConfig::adam(4e-3)),
        ]
    };
    let mut groups = make();
    let bases = base_lrs(&groups);
    assert_eq!(bases, [1e-2, 4e-3]);
    let mut trainer = Trainer::new(Opt::new(base).unwrap()).schedule(schedule());
    let mut net = fresh_net();
    // The same batches with the rates set by hand: torch's closed form for StepLR.
    let mut hand_groups = make();
    let mut hand_opt = Opt::new(base).unwrap();
    let mut hand_net = fresh_net();
    for (k, batch) in data.chunks(4).enumerate() {
        trainer
            .step_batch_groups(&mut net, batch, &mut groups, &bases)
            .unwrap();
        // By hand: the step at the current rates, then the rates for the next count.
        hand_net.zero_grad();
        for (x, y) in batch {
            hand_net.accumulate(x, *y).unwrap();
        }
        let mut acc = GradAccumulator::new();
        acc.add_samples(batch.len() as u32).unwrap();
        acc.finish(hand_net.grads_mut()).unwrap();
        let (p, g) = hand_net.trainable_and_grads();
        hand_opt.step_groups(p, g, &hand_groups).unwrap();
        let factor = 0.5f64.powi(((k + 1) / 3) as i32);
        for (g, &b) in hand_groups.iter_mut().zip(&bases) {
            g.config.lr = b * factor;
        }
        assert_eq!(groups[0].config.lr, 1e-2 * factor, "batch {k}");
        assert_eq!(groups[1].config.lr, 4e-3 * factor, "batch {k}");
        assert_eq!(
            bits(net.trainable()),
            bits(hand_net.trainable()),
            "batch {k}"
        );
    }
    // A base rate per group is required with a schedule; nothing changes without one.
    let before = bits(net.trainable());
    let lrs: Vec<f64> = groups.iter().map(|g| g.config.lr).collect();
    let err = trainer
        .step_batch_groups(&mut net, &data[..4], &mut groups, &bases[..1])
        .unwrap_err();
    assert_eq!(
        err,
        Error::LengthMismatch {
            expected: 2,
            found: 1
        }
    );
    assert_eq!(bits(net.trainable()), before);
    assert_eq!(groups.iter().map(|g| g.config.lr).collect::<Vec<_>>(), lrs);
}

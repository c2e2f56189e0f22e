//! Checkpoints: bit-exact resume, power cuts at every flash operation of a save, and rejection
//! of corrupt or foreign checkpoints with nothing half-loaded.

use edgetune::checkpoint::{
    CheckpointError, Checkpointable, Cut, Part, Progress, SimFlash, SliceSink, SliceSource, Store,
    Tear, MAGIC,
};
use edgetune::nn::{Init, Network};
use edgetune::num::fixed::{MiniFloat, RoundingState, I16F16};
use edgetune::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AmsGrad, Momentum, MomentumConfig, On, Optimizer,
    RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
use edgetune::train::{Pcg32, Trainer};

type Flash = SimFlash<16384, 8, 512>;

edgetune::mlp! {
    /// A small classifier, every layer trained.
    struct Net {
        dense 4 -> 6, tanh;
        dense 6 -> 3;
        loss softmax_cross_entropy;
    }
}

/// The sample for step `t`: a deterministic function of `t` alone, so a resumed run sees the same
/// data as a straight one.
fn sample(t: u64) -> ([f32; 4], usize) {
    let mut rng = Pcg32::new(t, 7);
    let mut x = [0.0f32; 4];
    for v in &mut x {
        *v = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
    }
    let label = usize::from(x[0] + x[1] > 0.0) + usize::from(x[2] > 0.5);
    (x, label)
}

type NetAdam = Adam<f32, { Net::<f32>::TRAINABLE }>;

/// One mini-batch of 4 samples, the ones of step `t`.
fn net_step(net: &mut Net<f32>, trainer: &mut Trainer<NetAdam>, t: u64) {
    let batch: [_; 4] = core::array::from_fn(|k| sample(4 * t + k as u64));
    trainer.step_batch(net, &batch).unwrap();
}

fn fresh_net() -> Net<f32> {
    let mut net = Net::<f32>::zeroed();
    net.init(Init::TorchDefault, 1).unwrap();
    net
}

#[test]
fn adam_f32_network_resumes_bit_exactly() {
    const T: u64 = 40;
    let config = AdamConfig::adam(0.02);
    // Straight run.
    let mut net = fresh_net();
    let mut trainer = Trainer::new(NetAdam::new(config).unwrap());
    for t in 0..T {
        net_step(&mut net, &mut trainer, t);
    }
    let opt = trainer.optimizer();
    // Half, checkpoint, restore into fresh state, half.
    let mut net1 = fresh_net();
    let mut trainer1 = Trainer::new(NetAdam::new(config).unwrap());
    for t in 0..T / 2 {
        net_step(&mut net1, &mut trainer1, t);
    }
    let opt1 = trainer1.optimizer();
    let mut store = Store::new(Flash::new(), 0, 4096).unwrap();
    let progress = Progress {
        epoch: 3,
        step: T / 2,
        user: [1, 2, 3, 4],
    };
    store.save(net1.trainable(), opt1, &progress).unwrap();
    let _ = (net1, trainer1); // the first run is gone: only the flash carries its state

    let mut net2 = fresh_net();
    let mut trainer2 = Trainer::new(NetAdam::new(AdamConfig::adam(0.5)).unwrap());
    let mut progress2 = Progress::ZERO;
    store
        .restore(
            net2.trainable_mut(),
            trainer2.optimizer_mut(),
            &mut progress2,
        )
        .unwrap();
    assert_eq!(progress2, progress);
    for t in progress2.step..T {
        net_step(&mut net2, &mut trainer2, t);
    }
    let opt2 = trainer2.optimizer();
    assert_eq!(
        net2.trainable().map(f32::to_bits),
        net.trainable().map(f32::to_bits)
    );
    assert_eq!(
        opt2.exp_avg().map(f32::to_bits),
        opt.exp_avg().map(f32::to_bits)
    );
    assert_eq!(
        opt2.exp_avg_sq().map(f32::to_bits),
        opt.exp_avg_sq().map(f32::to_bits)
    );
    assert_eq!(opt2.step_count(), T as u32);
    assert_eq!(opt2.config(), opt.config());
}

/// A noisy quadratic pull towards a moving target, in I16F16.
fn fixed_grads<const N: usize>(p: &[I16F16; N], t: u64) -> [I16F16; N] {
    let mut rng = Pcg32::new(t, 3);
    core::array::from_fn(|i| {
        let noise = f64::from(rng.next_u32() >> 16) / 65536.0 - 0.5;
        let target = (i as f64 * 0.37).sin();
        I16F16::from_num(2.0 * (p[i].to_num::<f64>() - target) + 0.3 * noise)
    })
}

#[test]
fn adam_i16f16_stochastic_rounding_resumes_bit_exactly() {
    const N: usize = 24;
    const T: u64 = 60;
    let config = AdamConfig::adam(0.01);
    let new = || {
        let mut opt = Adam::<I16F16, N>::new(config).unwrap();
        *opt.aux_mut() = RoundingState::stochastic(0xDEAD_BEEF);
        (opt, [I16F16::from_num(0.25); N])
    };
    let run = |opt: &mut Adam<I16F16, N>, p: &mut [I16F16; N], ts: core::ops::Range<u64>| {
        for t in ts {
            let g = fixed_grads(p, t);
            opt.step(p, &g).unwrap();
        }
    };
    let (mut opt, mut p) = new();
    run(&mut opt, &mut p, 0..T);

    let (mut opt1, mut p1) = new();
    run(&mut opt1, &mut p1, 0..T / 2);
    let mut store = Store::new(Flash::new(), 0, 4096).unwrap();
    let progress = Progress {
        step: T / 2,
        ..Progress::ZERO
    };
    store.save(&p1, &opt1, &progress).unwrap();

    let mut opt2 = Adam::<I16F16, N>::new(AdamConfig::adam(0.1)).unwrap();
    let mut p2 = [I16F16::ZERO; N];
    let mut progress2 = Progress::ZERO;
    store.restore(&mut p2, &mut opt2, &mut progress2).unwrap();
    assert_eq!(*opt2.aux(), *opt1.aux(), "rounding generator restored");
    run(&mut opt2, &mut p2, progress2.step..T);
    assert_eq!(p2.map(I16F16::to_bits), p.map(I16F16::to_bits));
    assert_eq!(
        opt2.exp_avg().map(MiniFloat::to_bits),
        opt.exp_avg().map(MiniFloat::to_bits)
    );
    assert_eq!(
        opt2.exp_avg_sq().map(MiniFloat::to_bits),
        opt.exp_avg_sq().map(MiniFloat::to_bits)
    );
    assert_eq!(*opt2.aux(), *opt.aux());
    // Without restoring the generator the run would differ: the test can fail.
    let mut opt3 = opt1;
    *opt3.aux_mut() = RoundingState::stochastic(1);
    let mut p3 = p1;
    run(&mut opt3, &mut p3, T / 2..T);
    assert_ne!(p3.map(I16F16::to_bits), p.map(I16F16::to_bits));
}

#[test]
fn sgd_momentum_plain_arena_resumes_bit_exactly() {
    const N: usize = 16;
    const T: u64 = 50;
    let config = MomentumConfig::nesterov(0.05, 0.9);
    let grads = |p: &[f32; N], t: u64| -> [f32; N] {
        let mut rng = Pcg32::new(t, 11);
        core::array::from_fn(|i| {
            p[i] - i as f32 * 0.1 + (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
    };
    let mut p = [1.0f32; N];
    let mut opt = Momentum::<f32, N>::new(config).unwrap();
    for t in 0..T {
        let g = grads(&p, t);
        opt.step(&mut p, &g).unwrap();
    }
    let mut p1 = [1.0f32; N];
    let mut opt1 = Momentum::<f32, N>::new(config).unwrap();
    for t in 0..T / 2 {
        let g = grads(&p1, t);
        opt1.step(&mut p1, &g).unwrap();
    }
    let mut store = Store::new(Flash::new(), 4096, 2048).unwrap();
    store
        .save(
            &p1,
            &opt1,
            &Progress {
                step: T / 2,
                ..Progress::ZERO
            },
        )
        .unwrap();
    let mut p2 = [0.0f32; N];
    let mut opt2 = Momentum::<f32, N>::new(MomentumConfig::new(0.1, 0.5)).unwrap();
    let mut pr = Progress::ZERO;
    store.restore(&mut p2, &mut opt2, &mut pr).unwrap();
    for t in pr.step..T {
        let g = grads(&p2, t);
        opt2.step(&mut p2, &g).unwrap();
    }
    assert_eq!(p2.map(f32::to_bits), p.map(f32::to_bits));
    assert_eq!(
        opt2.momentum_buffer().map(f32::to_bits),
        opt.momentum_buffer().map(f32::to_bits)
    );
}

/// The state every power-cut scenario saves: I16F16 Adam over 64 parameters (933 bytes, several
/// write chunks).
type CutOpt = Adam<I16F16, 64>;

fn cut_state(seed: u32) -> ([I16F16; 64], CutOpt, Progress) {
    let mut opt = CutOpt::new(AdamConfig::adam(0.01)).unwrap();
    *opt.aux_mut() = RoundingState::stochastic(seed);
    let mut p: [I16F16; 64] = core::array::from_fn(|i| I16F16::from_num(i as f64 / 64.0));
    for t in 0..u64::from(seed % 5 + 1) {
        let g = fixed_grads(&p, t + u64::from(seed));
        opt.step(&mut p, &g).unwrap();
    }
    let progress = Progress {
        epoch: seed,
        step: u64::from(seed) * 10,
        user: [seed; 4],
    };
    (p, opt, progress)
}

fn bits(state: &([I16F16; 64], CutOpt, Progress)) -> Vec<u32> {
    let mut out = vec![0u32; <[I16F16; 64]>::WORDS + CutOpt::WORDS + Progress::WORDS];
    let mut sink = edgetune::checkpoint::SliceSink::new(&mut out);
    state.0.save(&mut sink).unwrap();
    state.1.save(&mut sink).unwrap();
    state.2.save(&mut sink).unwrap();
    out
}

fn restored<F: embedded_storage::nor_flash::NorFlash>(
    store: &mut Store<F>,
) -> Result<([I16F16; 64], CutOpt, Progress), CheckpointError> {
    let mut s = cut_state(999);
    store.restore(&mut s.0, &mut s.1, &mut s.2)?;
    Ok(s)
}

/// Cuts power at every operation of a save (each before it starts and half way through it), in
/// each geometry and with the previous checkpoint in either slot; restore must give the old or
/// the new checkpoint exactly, every time. Returns the number of cut points tried.
fn power_cuts<const SIZE: usize, const W: usize, const E: usize>(slot: u32) -> usize {
    let mut tried = 0;
    for previous_saves in 1..=2u32 {
        let mut base = SimFlash::<SIZE, W, E>::new();
        let mut store = Store::new(&mut base, 0, slot).unwrap();
        let mut last = None;
        for s in 0..previous_saves {
            let st = cut_state(10 + s);
            store.save(&st.0, &st.1, &st.2).unwrap();
            last = Some(st);
        }
        let old = bits(&last.unwrap());
        let new_state = cut_state(77);
        let new = bits(&new_state);
        let _ = store;
        // Count the operations of an uninterrupted save.
        let mut probe = base.clone();
        probe.arm(None);
        Store::new(&mut probe, 0, slot)
            .unwrap()
            .save(&new_state.0, &new_state.1, &new_state.2)
            .unwrap();
        let ops = probe.ops();
        assert!(ops >= 3);
        for op in 0..ops {
            for tear in [Tear::Before, Tear::Midway] {
                let mut flash = base.clone();
                flash.arm(Some(Cut { op, tear }));
                let result = Store::new(&mut flash, 0, slot).unwrap().save(
                    &new_state.0,
                    &new_state.1,
                    &new_state.2,
                );
                assert!(result.is_err(), "op {op}: the cut must interrupt the save");
                assert!(!flash.is_powered());
                flash.power_on();
                let mut store = Store::new(&mut flash, 0, slot).unwrap();
                let got = bits(&restored(&mut store).unwrap());
                assert!(
                    got == old || got == new,
                    "cut at op {op} ({tear:?}) of {ops}: restore gave neither checkpoint"
                );
                // The new checkpoint can only have won once its last write (the CRC) completed.
                if op + 1 < ops {
                    assert_eq!(got, old, "cut at op {op} of {ops}: new won before its CRC");
                }
                // And the store keeps working after the cut.
                store
                    .save(&new_state.0, &new_state.1, &new_state.2)
                    .unwrap();
                assert_eq!(bits(&restored(&mut store).unwrap()), new);
                tried += 1;
            }
        }
        assert_eq!(base.overwrites(), 0);
    }
    tried
}

#[test]
fn power_cut_at_every_flash_operation_restores_old_or_new() {
    let mut total = 0;
    total += power_cuts::<8192, 4, 256>(2048);
    total += power_cuts::<8192, 8, 1024>(2048);
    total += power_cuts::<16384, 16, 4096>(4096);
    total += power_cuts::<8192, 128, 2048>(2048);
    println!("power-cut points tried: {total} (all restored the old or the new checkpoint)");
    assert!(total > 100);
}

#[test]
fn repeated_saves_alternate_slots_and_never_program_twice() {
    let mut flash = Flash::new();
    let mut store = Store::new(&mut flash, 0, 4096).unwrap();
    for i in 0..10u32 {
        let st = cut_state(i);
        let saved = store.save(&st.0, &st.1, &st.2).unwrap();
        assert_eq!(saved.sequence, i + 1);
        assert_eq!(saved.slot, (i % 2) as usize);
        assert_eq!(store.newest().unwrap(), saved);
        assert_eq!(bits(&restored(&mut store).unwrap()), bits(&st));
    }
    assert_eq!(flash.overwrites(), 0);
}

// ---- corrupt and foreign checkpoints ------------------------------------------------------

const SLOT: u32 = 4096;

/// A store holding one Adam f32 checkpoint (in slot 0).
fn one_checkpoint() -> (Flash, [f32; 8], Adam<f32, 8>) {
    let mut p = [0.5f32; 8];
    let mut opt = Adam::<f32, 8>::new(AdamConfig::adam(0.01)).unwrap();
    opt.step(&mut p, &[0.1; 8]).unwrap();
    let mut flash = Flash::new();
    Store::new(&mut flash, 0, SLOT)
        .unwrap()
        .save(&p, &opt, &Progress::ZERO)
        .unwrap();
    (flash, p, opt)
}

fn word(flash: &Flash, slot: u32, i: usize) -> u32 {
    let at = (slot * SLOT) as usize + 4 * i;
    u32::from_le_bytes(flash.bytes()[at..at + 4].try_into().unwrap())
}

fn set_word(flash: &mut Flash, slot: u32, i: usize, v: u32) {
    let at = (slot * SLOT) as usize + 4 * i;
    flash.bytes_mut()[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Recomputes slot 0's CRC, as a foreign writer with a valid CRC would.
fn fix_crc(flash: &mut Flash) {
    let words = (word(flash, 0, 2) + word(flash, 0, 3)) as usize;
    let crc = edgetune::io::crc32(&flash.bytes()[..4 * words]);
    let at = (4 * words).div_ceil(8) * 8 / 4;
    set_word(flash, 0, at, crc);
}

/// Restores into sentinel-filled destinations; on error they must be bit-for-bit unchanged.
fn restore_sentinel(flash: &mut Flash) -> Result<(), CheckpointError> {
    let mut p = [f32::from_bits(0x7FC0_1234); 8];
    let mut opt = Adam::<f32, 8>::new(AdamConfig::adam(0.123)).unwrap();
    let mut g = [0.0f32; 8];
    g[3] = 1.0;
    let mut scratch = [0.0f32; 8];
    opt.step(&mut scratch, &g).unwrap();
    let mut progress = Progress {
        epoch: 0xAAAA,
        step: 0x5555,
        user: [0xEE; 4],
    };
    let before = (p.map(f32::to_bits), format!("{opt:?}"), progress);
    let r = Store::new(flash, 0, SLOT)
        .unwrap()
        .restore(&mut p, &mut opt, &mut progress)
        .map(|_| ());
    if r.is_err() {
        assert_eq!(
            (p.map(f32::to_bits), format!("{opt:?}"), progress),
            before,
            "a failed restore changed its destination"
        );
    }
    r
}

#[test]
fn intact_checkpoint_restores_into_sentinels() {
    let (mut flash, _, _) = one_checkpoint();
    restore_sentinel(&mut flash).unwrap();
}

#[test]
fn wrong_version_is_rejected() {
    let (mut flash, _, _) = one_checkpoint();
    set_word(&mut flash, 0, 1, 2);
    fix_crc(&mut flash);
    assert_eq!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::UnsupportedVersion { found: 2 })
    );
}

#[test]
fn bad_crc_is_rejected_and_an_older_copy_used() {
    let (mut flash, _, _) = one_checkpoint();
    let at = 4 * 25;
    flash.bytes_mut()[at] ^= 0x10;
    assert!(matches!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::BadCrc { .. })
    ));
    // With a second, newer checkpoint damaged, the older one is restored.
    let (mut flash, p, _) = one_checkpoint();
    let mut store = Store::new(&mut flash, 0, SLOT).unwrap();
    let newer = [9.0f32; 8];
    let opt = Adam::<f32, 8>::new(AdamConfig::adam(0.01)).unwrap();
    assert_eq!(store.save(&newer, &opt, &Progress::ZERO).unwrap().slot, 1);
    flash.bytes_mut()[SLOT as usize + 4 * 30] ^= 1;
    let mut q = [0.0f32; 8];
    let mut o = opt;
    let saved = Store::new(&mut flash, 0, SLOT)
        .unwrap()
        .restore(&mut q, &mut o, &mut Progress::default())
        .unwrap();
    assert_eq!((saved.slot, saved.sequence), (0, 1));
    assert_eq!(q, p);
}

#[test]
fn truncated_or_malformed_headers_are_rejected() {
    let (mut flash, _, _) = one_checkpoint();
    set_word(&mut flash, 0, 3, 1 << 20); // payload past the slot
    assert_eq!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::BadHeader)
    );
    let (mut flash, _, _) = one_checkpoint();
    set_word(&mut flash, 0, 2, 0); // header shorter than its fixed words
    assert_eq!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::BadHeader)
    );
    let (mut flash, _, _) = one_checkpoint();
    set_word(&mut flash, 0, 6, 1); // reserved word
    fix_crc(&mut flash);
    assert_eq!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::BadHeader)
    );
    // A record cut short: its CRC word never written.
    let (mut flash, _, _) = one_checkpoint();
    let words = (word(&flash, 0, 2) + word(&flash, 0, 3)) as usize;
    let at = (4 * words).div_ceil(8) * 8 / 4;
    set_word(&mut flash, 0, at, u32::MAX);
    assert!(matches!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::BadCrc { .. })
    ));
}

#[test]
fn wrong_shape_number_type_or_optimizer_is_rejected() {
    let (mut flash, _, _) = one_checkpoint();
    let mut store = Store::new(&mut flash, 0, SLOT).unwrap();
    let sentinel = [f32::from_bits(0x7FC0_0001); 9];
    let mut p9 = sentinel;
    let mut o9 = Adam::<f32, 9>::new(AdamConfig::adam(0.5)).unwrap();
    assert_eq!(
        store.restore(&mut p9, &mut o9, &mut Progress::default()),
        Err(CheckpointError::WrongShape {
            part: Part::Params,
            expected: 9,
            found: 8
        })
    );
    assert_eq!(p9.map(f32::to_bits), sentinel.map(f32::to_bits));
    assert_eq!(o9.step_count(), 0);

    let mut pf = [I16F16::from_bits(0x1234); 8];
    let mut of = Adam::<I16F16, 8>::new(AdamConfig::adam(0.5)).unwrap();
    let err = store.restore(&mut pf, &mut of, &mut Progress::default());
    assert!(
        matches!(
            err,
            Err(CheckpointError::WrongNumberType {
                part: Part::Params,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(pf, [I16F16::from_bits(0x1234); 8]);

    let mut p = [0.0f32; 8];
    let mut ams = AmsGrad::<f32, 8>::new(AdamConfig::adam(0.5)).unwrap();
    let err = store.restore(&mut p, &mut ams, &mut Progress::default());
    assert!(
        matches!(
            err,
            Err(CheckpointError::WrongKind {
                part: Part::Optimizer,
                ..
            })
        ),
        "{err:?}"
    );
    let mut mom = Momentum::<f32, 8>::new(MomentumConfig::new(0.1, 0.9)).unwrap();
    assert!(matches!(
        store.restore(&mut p, &mut mom, &mut Progress::default()),
        Err(CheckpointError::WrongKind { .. })
    ));
    let mut rms = RmsProp::<f32, 8, On, On>::new(RmsPropConfig::new(0.1)).unwrap();
    assert!(matches!(
        store.restore(&mut p, &mut rms, &mut Progress::default()),
        Err(CheckpointError::WrongKind { .. })
    ));
    let mut sgd = Sgd::<f32, 8>::new(SgdConfig::new(0.1)).unwrap();
    assert!(matches!(
        store.restore(&mut p, &mut sgd, &mut Progress::default()),
        Err(CheckpointError::WrongKind { .. })
    ));
    assert_eq!(p, [0.0; 8]);
    assert_eq!(sgd.config().lr, 0.1);
}

#[test]
fn invalid_stored_values_are_rejected_before_anything_is_written() {
    // Adam's payload: 8 params, then lr (2 words) at word 20 + 8.
    let lr_at = 20 + 8;
    let (mut flash, _, _) = one_checkpoint();
    set_word(&mut flash, 0, lr_at, 0);
    set_word(&mut flash, 0, lr_at + 1, 0xFFF8_0000); // lr = NaN
    fix_crc(&mut flash);
    assert!(matches!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::InvalidConfig { .. })
    ));
    // Unknown flag bit in the configuration.
    let (mut flash, _, _) = one_checkpoint();
    set_word(&mut flash, 0, lr_at + 10, 1 << 7);
    fix_crc(&mut flash);
    assert!(matches!(
        restore_sentinel(&mut flash),
        Err(CheckpointError::InvalidValue { .. })
    ));

    // Fixed point: a non-canonical MiniFloat and an unknown rounding mode.
    let mut opt = Adam::<I16F16, 4>::new(AdamConfig::adam(0.01)).unwrap();
    let mut p = [I16F16::ONE; 4];
    opt.step(&mut p, &[I16F16::ONE; 4]).unwrap();
    let aux_at = 20 + 4 + 11 + 1;
    for (at, value) in [(aux_at + 1, 7u32), (aux_at + 2, 0x0000_0001)] {
        let mut flash = Flash::new();
        Store::new(&mut flash, 0, SLOT)
            .unwrap()
            .save(&p, &opt, &Progress::ZERO)
            .unwrap();
        set_word(&mut flash, 0, at, value);
        fix_crc(&mut flash);
        let mut q = [I16F16::from_bits(77); 4];
        let mut o = Adam::<I16F16, 4>::new(AdamConfig::adam(0.5)).unwrap();
        let err = Store::new(&mut flash, 0, SLOT).unwrap().restore(
            &mut q,
            &mut o,
            &mut Progress::default(),
        );
        assert!(
            matches!(err, Err(CheckpointError::InvalidValue { .. })),
            "{err:?}"
        );
        assert_eq!(q, [I16F16::from_bits(77); 4]);
        assert_eq!((o.step_count(), o.config().lr), (0, 0.5));
    }
}

/// A negative or NaN value in a buffer of squares (Adam's second moments and AMSGrad's maxima,
/// RMSprop's square averages, Adagrad's sums), with a valid payload otherwise, as a foreign
/// writer could make: `check` refuses it with `InvalidValue`, so a restore writes nothing (the
/// steps' square roots rely on these values never being negative). `−0` passes, and so does a
/// negative value in Adam's first moment, which may be negative.
#[test]
fn negative_squares_are_rejected() {
    const N: usize = 4;
    /// The payload after one step, and where its last `squares_from_end` words start.
    fn saved<O: Checkpointable + Optimizer<f32, N>>(
        mut opt: O,
        squares_from_end: usize,
    ) -> (Vec<u32>, usize) {
        let mut p = [0.5f32; N];
        opt.step(&mut p, &[0.25, -0.5, 1.0, 0.0]).unwrap();
        let mut w = vec![0; O::WORDS];
        opt.save(&mut SliceSink::new(&mut w)).unwrap();
        let at = w.len() - squares_from_end;
        (w, at)
    }
    fn check<O: Checkpointable>(w: &[u32]) -> Result<(), CheckpointError> {
        O::check(&mut SliceSource::new(w))
    }
    fn cases<O: Checkpointable>(w: &[u32], squares: core::ops::Range<usize>) {
        check::<O>(w).unwrap();
        for at in squares {
            for (bad, value) in [
                (true, -1.0f32),
                (true, -f32::MIN_POSITIVE),
                (true, f32::NAN),
                (false, -0.0),
            ] {
                let mut c = w.to_vec();
                c[at] = value.to_bits();
                let got = check::<O>(&c);
                if bad {
                    assert!(
                        matches!(got, Err(CheckpointError::InvalidValue { .. })),
                        "{at} {value}: {got:?}"
                    );
                } else {
                    assert_eq!(got, Ok(()), "{at} {value}");
                }
            }
        }
    }
    type A = Adam<f32, N>;
    let (w, at) = saved(A::new(AdamConfig::adam(0.01)).unwrap(), N);
    cases::<A>(&w, at..at + N);
    let mut m_negative = w.clone();
    m_negative[at - N] = (-1.0f32).to_bits();
    check::<A>(&m_negative).unwrap();
    type Ams = AmsGrad<f32, N>;
    let (w, at) = saved(Ams::new(AdamConfig::adam(0.01)).unwrap(), 2 * N);
    cases::<Ams>(&w, at..at + 2 * N);
    type R = RmsProp<f32, N>;
    let (w, at) = saved(R::new(RmsPropConfig::new(0.01)).unwrap(), N);
    cases::<R>(&w, at..at + N);
    type G = Adagrad<f32, N>;
    let (w, at) = saved(G::new(AdagradConfig::new(0.01)).unwrap(), N);
    cases::<G>(&w, at..at + N);
}

#[test]
fn random_bytes_are_never_a_checkpoint() {
    let mut rng = Pcg32::new(5, 5);
    for round in 0..200 {
        let mut flash = Flash::new();
        for b in flash.bytes_mut().iter_mut() {
            *b = rng.next_u32() as u8;
        }
        if round % 2 == 1 {
            // With the magic and plausible lengths, so the CRC check is what rejects it.
            set_word(&mut flash, 0, 0, MAGIC);
            set_word(&mut flash, 0, 1, 1);
            set_word(&mut flash, 0, 2, 20);
            set_word(&mut flash, 0, 3, 8 + 11 + 1 + 16 + 7);
        }
        let err = restore_sentinel(&mut flash).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::NoCheckpoint
                    | CheckpointError::BadCrc { .. }
                    | CheckpointError::BadHeader
            ),
            "{err:?}"
        );
    }
    // An erased flash holds nothing.
    assert_eq!(
        restore_sentinel(&mut Flash::new()),
        Err(CheckpointError::NoCheckpoint)
    );
}

#[test]
fn geometry_and_size_are_checked() {
    let geometry = |r: Result<Store<Flash>, CheckpointError>| {
        matches!(r, Err(CheckpointError::Geometry { .. }))
    };
    assert!(geometry(Store::new(Flash::new(), 100, 4096)));
    assert!(geometry(Store::new(Flash::new(), 0, 1000)));
    assert!(geometry(Store::new(Flash::new(), 0, 0)));
    assert!(geometry(Store::new(Flash::new(), 8192, 8192)));
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let big = [0.0f32; 200];
    let opt = Adam::<f32, 200>::new(AdamConfig::adam(0.1)).unwrap();
    let needed = Store::<Flash>::record_bytes::<[f32; 200], Adam<f32, 200>>();
    assert_eq!(
        needed,
        (4usize * (20 + 200 + 11 + 1 + 400 + 7)).div_ceil(8) * 8 + 8
    );
    assert_eq!(
        store.save(&big, &opt, &Progress::ZERO),
        Err(CheckpointError::TooLarge { needed, slot: 512 })
    );
    assert_eq!(store.newest(), Err(CheckpointError::NoCheckpoint));
}

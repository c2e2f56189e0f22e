//! The sample buffer and the data generator in a checkpoint: saved with the parameters as one
//! part, `(params, (buffer, generator))`, they resume exactly (no buffered sample lost, the same
//! draws afterwards), through a power cut at every flash operation of a save; a corrupt buffer
//! or generator record is a typed error with every destination unchanged.

use edgetune::checkpoint::{
    CheckpointError, Checkpointable, Cut, Progress, SimFlash, SliceSink, Store, Tear,
};
use edgetune::optim::{Optimizer, Sgd, SgdConfig};
use edgetune::train::{Pcg32, Policy, SampleBuffer};

type Sample = ([f32; 3], u8);
type Buf = SampleBuffer<Sample, 16>;
type State = ([f32; 4], (Buf, Pcg32));

/// The data source: a generator making one sample per call.
fn next_sample(g: &mut Pcg32) -> Sample {
    let x = core::array::from_fn(|_| g.next_u32() as f32 / 4e9);
    (x, (g.next_u32() % 3) as u8)
}

/// `n` samples from the source into the buffer, with a batch drawn (and the parameters nudged by
/// its first sample) after each: both the buffer's generator and the source advance.
fn run(state: &mut State, opt: &mut Sgd<f32, 4>, n: usize) {
    for _ in 0..n {
        let s = next_sample(&mut state.1 .1);
        state.1 .0.push(s);
        let mut batch = [0usize; 2];
        if state.1 .0.draw_batch(&mut batch).is_ok() {
            let (x, y) = *state.1 .0.get(batch[0]).unwrap();
            let g = [x[0], x[1], x[2], f32::from(y)];
            opt.step(&mut state.0, &g).unwrap();
        }
    }
}

fn fresh(policy: Policy) -> (State, Sgd<f32, 4>) {
    let state = ([0.5f32; 4], (Buf::new(policy, 11), Pcg32::new(5, 9)));
    (state, Sgd::new(SgdConfig::new(1e-2)).unwrap())
}

fn words(s: &State) -> Vec<u32> {
    let mut out = vec![0u32; State::WORDS];
    s.save(&mut SliceSink::new(&mut out)).unwrap();
    out
}

/// Half a run, save, restore into fresh state, the other half: every sample held at the save is
/// there after it (in the same order), and the rest of the run gives the same bits as a
/// straight run, for both policies.
#[test]
fn buffer_and_generator_resume_bit_exactly_and_lose_no_sample() {
    for policy in [Policy::Recent, Policy::Reservoir] {
        let (mut straight, mut opt) = fresh(policy);
        run(&mut straight, &mut opt, 60);

        let (mut first, mut opt1) = fresh(policy);
        run(&mut first, &mut opt1, 30);
        let mut flash = SimFlash::<16384, 8, 512>::new();
        let mut store = Store::new(&mut flash, 0, 4096).unwrap();
        store.save(&first, &opt1, &Progress::ZERO).unwrap();

        let (mut resumed, mut opt2) = fresh(Policy::Recent);
        resumed.1 .1 = Pcg32::seeded(0);
        let mut progress = Progress::ZERO;
        store
            .restore(&mut resumed, &mut opt2, &mut progress)
            .unwrap();
        let held: Vec<Sample> = first.1 .0.iter().copied().collect();
        let back: Vec<Sample> = resumed.1 .0.iter().copied().collect();
        assert_eq!(held.len(), 16);
        assert_eq!(
            back, held,
            "{policy:?}: a buffered sample was lost or moved"
        );
        assert_eq!((resumed.1 .0.policy(), resumed.1 .0.seen()), (policy, 30));
        assert_eq!(words(&resumed), words(&first));
        run(&mut resumed, &mut opt2, 30);
        assert_eq!(
            words(&resumed),
            words(&straight),
            "{policy:?}: resumed run differs"
        );
        assert_eq!(opt2.step_count(), opt.step_count());
    }
}

/// A power cut before and half way through every erase and write of a save: the restore gives
/// the previous checkpoint or the new one, whole (buffer, generator and parameters together),
/// never a buffer from one and parameters from the other.
#[test]
fn power_cut_during_a_save_keeps_the_old_or_the_new_buffer() {
    let (mut old, mut opt) = fresh(Policy::Reservoir);
    run(&mut old, &mut opt, 20);
    let mut base = SimFlash::<8192, 8, 1024>::new();
    Store::new(&mut base, 0, 2048)
        .unwrap()
        .save(&old, &opt, &Progress::ZERO)
        .unwrap();
    let mut new = old.clone();
    let mut opt_new = opt;
    run(&mut new, &mut opt_new, 7);
    let mut probe = base.clone();
    probe.arm(None);
    Store::new(&mut probe, 0, 2048)
        .unwrap()
        .save(&new, &opt_new, &Progress::ZERO)
        .unwrap();
    let ops = probe.ops();
    let (w_old, w_new) = (words(&old), words(&new));
    let mut tried = 0;
    for op in 0..ops {
        for tear in [Tear::Before, Tear::Midway] {
            let mut flash = base.clone();
            flash.arm(Some(Cut { op, tear }));
            let r = Store::new(&mut flash, 0, 2048)
                .unwrap()
                .save(&new, &opt_new, &Progress::ZERO);
            assert!(r.is_err());
            flash.power_on();
            let (mut got, mut o) = fresh(Policy::Recent);
            Store::new(&mut flash, 0, 2048)
                .unwrap()
                .restore(&mut got, &mut o, &mut { Progress::ZERO })
                .unwrap();
            let w = words(&got);
            assert!(w == w_old || w == w_new, "cut at op {op} ({tear:?})");
            if op + 1 < ops {
                assert_eq!(w, w_old);
            }
            tried += 1;
        }
    }
    assert!(tried >= 6, "{tried}");
}

/// Each invalid value in a buffer or generator record (with a valid CRC, as a foreign writer
/// would make) is refused with `InvalidValue` by a decode that writes nothing: an unknown
/// policy, more samples than the capacity, fewer seen than held, a write position while not
/// full, an even generator increment, a non-zero unused slot, a label word above 255.
#[test]
fn corrupt_buffer_or_generator_records_are_typed_errors() {
    let (mut s, mut opt) = fresh(Policy::Recent);
    run(&mut s, &mut opt, 5); // 5 of 16 held: unused slots exist
    let good = words(&s);
    let base = 4; // the buffer's words follow the 4 parameters
    let rng_at = base + 9 + 16 * 4; // the data generator follows the buffer
    let cases: [(usize, u32, &str); 7] = [
        (base, 2, "sample buffer policy"),
        (base + 1, 17, "sample count above capacity"),
        (base + 2, 4, "fewer samples seen than held"),
        (base + 4, 1, "sample buffer write position"),
        (rng_at + 2, 2, "even generator increment"),
        (base + 9 + 4 * 6, 1, "unused sample slot not zero"),
        (base + 9 + 3, 300, "u8 word"),
    ];
    for (at, value, what) in cases {
        let mut w = good.clone();
        w[at] = value;
        let mut src = edgetune::checkpoint::SliceSource::new(&w);
        assert_eq!(
            State::check(&mut src),
            Err(CheckpointError::InvalidValue { what }),
            "word {at} = {value}"
        );
    }
    // Intact, it decodes into a fresh state as the original.
    let mut src = edgetune::checkpoint::SliceSource::new(&good);
    State::check(&mut src).unwrap();
    let (mut into, _) = fresh(Policy::Reservoir);
    into.load(&mut edgetune::checkpoint::SliceSource::new(&good))
        .unwrap();
    assert_eq!(words(&into), good);
}

/// Through the store: a corrupted buffer word (CRC fixed up) fails the restore with a typed
/// error and leaves parameters, buffer, generator and optimizer untouched.
#[test]
fn restore_of_a_corrupt_buffer_changes_nothing() {
    let (mut s, mut opt) = fresh(Policy::Recent);
    run(&mut s, &mut opt, 5);
    let mut flash = SimFlash::<16384, 8, 512>::new();
    Store::new(&mut flash, 0, 4096)
        .unwrap()
        .save(&s, &opt, &Progress::ZERO)
        .unwrap();
    // Header 20 words, then the parameters (4), then the buffer: its sample count.
    let at = 4 * (20 + 4 + 1);
    flash.bytes_mut()[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
    let record = {
        let b = flash.bytes();
        let w = |i: usize| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
        (w(2) + w(3)) as usize
    };
    let crc = edgetune::io::crc32(&flash.bytes()[..4 * record]);
    let crc_at = (4 * record).div_ceil(8) * 8;
    flash.bytes_mut()[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());

    let (mut into, mut o) = fresh(Policy::Reservoir);
    run(&mut into, &mut o, 3);
    let before = (words(&into), format!("{o:?}"));
    let r = Store::new(&mut flash, 0, 4096)
        .unwrap()
        .restore(&mut into, &mut o, &mut { Progress::ZERO });
    assert_eq!(
        r.map(|_| ()),
        Err(CheckpointError::InvalidValue {
            what: "sample count above capacity"
        })
    );
    assert_eq!((words(&into), format!("{o:?}")), before);
}

//! The BasicMotions smartwatch data set (`ETBM` files): 100 time steps × 6 IMU channels and an
//! activity label per recording, split into train and test, read in place from a byte slice.
//!
//! Demo data, not part of the edgetune library, for the 1-D CNN fine-tuning examples. The file
//! is an edgetune container (magic, version, exact length, CRC-32), checked by
//! [`edgetune::io::check_frame`]; only the BasicMotions-specific part lives here. `no_std`, no
//! allocation, no `unsafe`.
//!
//! `scripts/basicmotions.py` writes `tests/data/basicmotions.bin` from the copy of the UEA/UCR
//! archive's BasicMotions bundled in sktime's wheel (source, citation and terms in
//! `scripts/README.md`). This crate embeds that file as [`BYTES`] (192,336 bytes, in flash on a
//! device, and only if used); [`bundled`] parses it.
//!
//! - 80 recordings: 40 train then 40 test, 10 of each class in each split.
//! - A recording is a smartwatch's 3-axis accelerometer and 3-axis gyroscope, 10 Hz for 10 s:
//!   [`LEN`] = 100 time steps × [`CHANNELS`] = 6, **channels-last**: step 0's six channels, then
//!   step 1's, and so on; channel order [`CHANNEL_NAMES`].
//! - Labels `0..CLASSES` in the order of [`CLASS_NAMES`] (the `.ts` files' `@classLabel` order):
//!   standing, running, walking, badminton.
//! - Values are the archive's, rounded to `f32`, not normalised; [`TRAIN_MEAN`] and
//!   [`TRAIN_STD`] are the per-channel statistics of the train split.
//!
//! ```
//! use edgetune_basicmotions as bm;
//! # fn main() -> Result<(), edgetune::io::LoadError> {
//! let data = bm::bundled()?; // or bm::parse(bytes) on a file from elsewhere
//! assert_eq!((data.train().len(), data.test().len()), (40, 40));
//! for sample in data.train() {
//!     let x: [f32; bm::LEN * bm::CHANNELS] = sample.to_f32(); // x[t * 6 + c]
//!     let first_step: [f32; bm::CHANNELS] = sample.step(0).unwrap(); // acc x, y, z, gyro x, y, z
//!     assert!(sample.label < bm::CLASSES && x[..bm::CHANNELS] == first_step);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Format `ETBM` version 1
//! All integers and floats little-endian; `n` is the recording count.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"ETBM"` (`45 54 42 4d`) |
//! | 4 | 2 | format version, `u16` = 1 |
//! | 6 | 2 | reserved, `u16` = 0 |
//! | 8 | 4 | recording count `n`, `u32` |
//! | 12 | 2,404·`n` | recordings (below) |
//! | 12 + 2,404·`n` | 4 | CRC-32/ISO-HDLC of bytes `0 .. 12 + 2,404·n`, `u32` |
//!
//! One recording ([`RECORD_LEN`] = 2,404 bytes):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | split, `u8`: 0 = train, 1 = test |
//! | 1 | 1 | label, `u8`, `0..4` ([`CLASS_NAMES`]) |
//! | 2 | 2 | reserved, `u16` = 0 |
//! | 4 | 2,400 | 600 values, `f32`: index `t * 6 + c` for step `t` in `0..100`, channel `c` in `0..6` |
//!
//! Every train recording comes before every test recording. Header and records are multiples of
//! four bytes, so each `f32` sits at a multiple of four from the start of the file.
//!
//! [`parse`] checks magic, version, exact length, CRC, the reserved fields, and every split
//! flag, label and value (finite), so iterating a parsed set cannot fail.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use edgetune::io::{check_frame, LoadError};

/// The file's magic, `b"ETBM"`.
pub const MAGIC: [u8; 4] = *b"ETBM";
/// The format version this crate reads and documents.
pub const VERSION: u16 = 1;
/// Bytes before the first recording.
pub const HEADER_LEN: usize = 12;
/// Time steps per recording (10 Hz for 10 s).
pub const LEN: usize = 100;
/// Channels per time step: accelerometer x, y, z, then gyroscope x, y, z.
pub const CHANNELS: usize = 6;
/// Values per recording, `LEN * CHANNELS`.
pub const VALUES: usize = LEN * CHANNELS;
/// Bytes of a recording before its values: split, label, reserved `u16`.
pub const RECORD_HEADER_LEN: usize = 4;
/// Bytes per recording.
pub const RECORD_LEN: usize = RECORD_HEADER_LEN + 4 * VALUES;
/// The number of classes; labels are `0..CLASSES`.
pub const CLASSES: usize = 4;
/// The activity of each label, in the order of the archive's `@classLabel` line.
pub const CLASS_NAMES: [&str; CLASSES] = ["standing", "running", "walking", "badminton"];
/// The channel at each index of a time step.
///
/// The archive does not name its dimensions; the split into accelerometer (0..3) and gyroscope
/// (3..6) is read from the data (`scripts/README.md`), the axes are in the archive's order.
pub const CHANNEL_NAMES: [&str; CHANNELS] =
    ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"];
/// Sampling rate of the recordings, in hertz.
pub const SAMPLE_RATE_HZ: u32 = 10;
/// Per-channel mean of the train split, over all 100 steps of its 40 recordings (6 significant
/// digits; `python3 scripts/basicmotions.py --check` prints them).
pub const TRAIN_MEAN: [f32; CHANNELS] = [
    2.55276, -1.30394, -1.02658, 0.0190511, -0.0239577, -0.0557897,
];
/// Per-channel population standard deviation of the train split, as [`TRAIN_MEAN`].
pub const TRAIN_STD: [f32; CHANNELS] = [7.07231, 6.79409, 3.54637, 2.11192, 1.82075, 3.51659];

/// The committed file, `tests/data/basicmotions.bin`.
pub static BYTES: &[u8] = include_bytes!("../../../tests/data/basicmotions.bin");

/// Parses [`BYTES`].
///
/// # Errors
/// None for the committed file (the crate's tests parse it); the [`parse`] errors otherwise.
pub fn bundled() -> Result<Data<'static>, LoadError> {
    parse(BYTES)
}

/// The little-endian `u16` at `at`, or `None` past the end.
fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    b.try_into().ok().map(u16::from_le_bytes)
}

/// The little-endian `u32` at `at`, or `None` past the end.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    b.try_into().ok().map(u32::from_le_bytes)
}

/// Which part of the data set a recording belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The archive's train split (split byte 0).
    Train,
    /// The archive's test split (split byte 1).
    Test,
}

impl Split {
    /// The split of a split byte, `None` for a byte other than 0 or 1.
    pub fn from_byte(byte: u8) -> Option<Split> {
        match byte {
            0 => Some(Split::Train),
            1 => Some(Split::Test),
            _ => None,
        }
    }
}

/// A checked BasicMotions file: the recordings, borrowed from the bytes it was parsed from.
///
/// Size: one slice and a count, 3 words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    records: &'a [u8],
    train: usize,
}

/// One recording, borrowed from the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample<'a> {
    /// The activity, `0..CLASSES` ([`CLASS_NAMES`]).
    pub label: usize,
    /// The split the recording belongs to.
    pub split: Split,
    /// The 600 values as stored: little-endian `f32`, channels-last (`t * 6 + c`), all finite.
    pub values: &'a [u8; 4 * VALUES],
}

impl Sample<'_> {
    /// The values as `f32`, channels-last: `x[t * CHANNELS + c]`.
    pub fn to_f32(&self) -> [f32; VALUES] {
        let mut out = [0.0; VALUES];
        self.write_f32(&mut out);
        out
    }

    /// Writes the values into `out` (channels-last), without a 2.4 KB array on the stack.
    pub fn write_f32(&self, out: &mut [f32; VALUES]) {
        for (o, b) in out.iter_mut().zip(self.values.as_chunks::<4>().0) {
            *o = f32::from_le_bytes(*b);
        }
    }

    /// The six channels of time step `t`, or `None` for `t >= LEN`.
    pub fn step(&self, t: usize) -> Option<[f32; CHANNELS]> {
        let start = t.checked_mul(CHANNELS)?;
        let words = self.values.as_chunks::<4>().0;
        let step = words.get(start..start.checked_add(CHANNELS)?)?;
        let mut out = [0.0; CHANNELS];
        for (o, b) in out.iter_mut().zip(step) {
            *o = f32::from_le_bytes(*b);
        }
        Some(out)
    }

    /// The value of channel `c` at time step `t`, or `None` outside `LEN × CHANNELS`.
    pub fn value(&self, t: usize, c: usize) -> Option<f32> {
        if c >= CHANNELS {
            return None;
        }
        let index = t.checked_mul(CHANNELS)?.checked_add(c)?;
        let words = self.values.as_chunks::<4>().0;
        words.get(index).map(|b| f32::from_le_bytes(*b))
    }
}

/// Parses and validates a BasicMotions file (see the [crate docs](crate)); copies nothing.
///
/// # Errors
/// The first check that fails: [`LoadError::BadMagic`], [`LoadError::Truncated`],
/// [`LoadError::UnsupportedVersion`], [`LoadError::TrailingBytes`], [`LoadError::CrcMismatch`],
/// [`LoadError::ReservedNotZero`] (header or recording, with the byte offset), or
/// [`LoadError::InvalidSample`] for the first recording with a split byte other than 0 or 1, a
/// label of 4 or more, a non-finite value, or a train split after a test recording.
pub fn parse(bytes: &[u8]) -> Result<Data<'_>, LoadError> {
    let body = check_frame(bytes, MAGIC, VERSION, HEADER_LEN, |header| {
        let count = usize::try_from(u32_at(header, 8)?).ok()?;
        HEADER_LEN
            .checked_add(count.checked_mul(RECORD_LEN)?)?
            .checked_add(4)
    })?;
    let truncated = LoadError::Truncated {
        needed: HEADER_LEN,
        found: bytes.len(),
    };
    if u16_at(body, 6).ok_or(truncated)? != 0 {
        return Err(LoadError::ReservedNotZero { offset: 6 });
    }
    let (_, records) = body.split_at_checked(HEADER_LEN).ok_or(truncated)?;
    let mut train = 0;
    let mut seen_test = false;
    for (index, record) in records.chunks_exact(RECORD_LEN).enumerate() {
        let invalid = LoadError::InvalidSample { index };
        let (head, values) = record
            .split_first_chunk::<RECORD_HEADER_LEN>()
            .ok_or(invalid)?;
        let [split, label, r0, r1] = *head;
        if r0 != 0 || r1 != 0 {
            let offset = index
                .checked_mul(RECORD_LEN)
                .and_then(|o| o.checked_add(HEADER_LEN + 2))
                .unwrap_or(usize::MAX);
            return Err(LoadError::ReservedNotZero { offset });
        }
        let split = Split::from_byte(split).ok_or(invalid)?;
        let finite = values
            .as_chunks::<4>()
            .0
            .iter()
            .all(|b| f32::from_le_bytes(*b).is_finite());
        if usize::from(label) >= CLASSES || !finite {
            return Err(invalid);
        }
        match split {
            Split::Train if seen_test => return Err(invalid),
            Split::Train => train += 1,
            Split::Test => seen_test = true,
        }
    }
    Ok(Data { records, train })
}

impl<'a> Data<'a> {
    /// The number of recordings, train and test.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_LEN
    }

    /// Whether the file holds no recordings.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Recording `index` in file order (train first), or `None` past the last.
    pub fn get(&self, index: usize) -> Option<Sample<'a>> {
        let start = index.checked_mul(RECORD_LEN)?;
        let record = self.records.get(start..start.checked_add(RECORD_LEN)?)?;
        record_to_sample(record)
    }

    /// All recordings in file order: train, then test.
    pub fn iter(&self) -> Samples<'a> {
        samples(self.records)
    }

    /// The train recordings, in the archive's order.
    pub fn train(&self) -> Samples<'a> {
        samples(self.split_records().0)
    }

    /// The test recordings, in the archive's order.
    pub fn test(&self) -> Samples<'a> {
        samples(self.split_records().1)
    }

    /// The records of the train and of the test split.
    fn split_records(&self) -> (&'a [u8], &'a [u8]) {
        let at = self
            .train
            .saturating_mul(RECORD_LEN)
            .min(self.records.len());
        self.records.split_at(at)
    }
}

impl<'a> IntoIterator for Data<'a> {
    type Item = Sample<'a>;
    type IntoIter = Samples<'a>;

    fn into_iter(self) -> Samples<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Data<'a> {
    type Item = Sample<'a>;
    type IntoIter = Samples<'a>;

    fn into_iter(self) -> Samples<'a> {
        self.iter()
    }
}

/// Iterator over recordings of a [`Data`] set, in file order.
#[derive(Clone, Debug)]
pub struct Samples<'a> {
    records: core::slice::ChunksExact<'a, u8>,
}

fn samples(records: &[u8]) -> Samples<'_> {
    Samples {
        records: records.chunks_exact(RECORD_LEN),
    }
}

impl<'a> Iterator for Samples<'a> {
    type Item = Sample<'a>;

    fn next(&mut self) -> Option<Sample<'a>> {
        record_to_sample(self.records.next()?)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

impl ExactSizeIterator for Samples<'_> {}

/// Views a record as a sample (`None` only for a record a parsed file never has).
fn record_to_sample(record: &[u8]) -> Option<Sample<'_>> {
    let (head, rest) = record.split_first_chunk::<RECORD_HEADER_LEN>()?;
    let values = rest.first_chunk::<{ 4 * VALUES }>()?;
    Some(Sample {
        label: usize::from(head[1]),
        split: Split::from_byte(head[0])?,
        values,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    /// A valid file of `(split byte, label, reserved, value)` recordings, every value the same.
    fn file(records: &[(u8, u8, u16, f32)]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&MAGIC);
        f.extend_from_slice(&VERSION.to_le_bytes());
        f.extend_from_slice(&0u16.to_le_bytes());
        f.extend_from_slice(&(records.len() as u32).to_le_bytes());
        for &(split, label, reserved, v) in records {
            f.extend_from_slice(&[split, label]);
            f.extend_from_slice(&reserved.to_le_bytes());
            for _ in 0..VALUES {
                f.extend_from_slice(&v.to_le_bytes());
            }
        }
        let crc = edgetune::io::crc32(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    /// `bytes` with its CRC recomputed after an edit.
    fn recrc(mut bytes: Vec<u8>) -> Vec<u8> {
        let body = bytes.len() - 4;
        let crc = edgetune::io::crc32(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn committed_file_has_40_train_and_40_test_recordings_10_per_class() {
        let data = bundled().unwrap();
        assert_eq!(BYTES.len(), HEADER_LEN + 80 * RECORD_LEN + 4);
        assert_eq!(
            (data.len(), data.train().len(), data.test().len()),
            (80, 40, 40)
        );
        for (split, samples) in [(Split::Train, data.train()), (Split::Test, data.test())] {
            let mut counts = [0; CLASSES];
            for s in samples {
                assert_eq!(s.split, split);
                counts[s.label] += 1;
            }
            assert_eq!(counts, [10; CLASSES], "{split:?}");
        }
        assert_eq!(data.iter().count(), 80);
        assert_eq!(data.get(40).unwrap().split, Split::Test);
        assert!(data.get(80).is_none());
    }

    /// The `.ts` decimals of the first train recording (Standing) at steps 0 and 1 (its six
    /// dimensions, in order) and of the last test recording (Badminton) at step 99.
    #[test]
    fn committed_file_is_channels_last_in_ts_dimension_order() {
        let data = bundled().unwrap();
        let first = data.get(0).unwrap();
        let step0 = [0.079106, 0.394032, 0.551444, 0.351565, 0.02397, 0.633883];
        assert_eq!((first.label, first.step(0)), (0, Some(step0)));
        assert_eq!(first.step(1), Some(step0));
        assert_eq!(&first.to_f32()[..CHANNELS], &step0);
        assert_eq!(first.value(0, 3), Some(0.351565));
        let last = data.test().last().unwrap();
        let step99 = [
            -2.074749, -6.892377, 4.848379, -1.35033, -1.203844, -1.77647,
        ];
        assert_eq!((last.label, last.step(LEN - 1)), (3, Some(step99)));
        assert_eq!(last.value(LEN - 1, CHANNELS - 1), Some(-1.77647));
        assert!(last.step(LEN).is_none() && last.value(0, CHANNELS).is_none());
        assert!(last.value(LEN, 0).is_none());
    }

    #[test]
    fn train_statistics_match_the_constants() {
        let data = bundled().unwrap();
        let (mut sum, mut sq) = ([0f64; CHANNELS], [0f64; CHANNELS]);
        let mut n = 0f64;
        for s in data.train() {
            for t in 0..LEN {
                for (c, v) in s.step(t).unwrap().into_iter().enumerate() {
                    sum[c] += f64::from(v);
                    sq[c] += f64::from(v) * f64::from(v);
                }
                n += 1.0;
            }
        }
        for c in 0..CHANNELS {
            let mean = sum[c] / n;
            let std = (sq[c] / n - mean * mean).sqrt();
            assert!(
                (mean - f64::from(TRAIN_MEAN[c])).abs() < 1e-5,
                "{c}: {mean}"
            );
            assert!((std - f64::from(TRAIN_STD[c])).abs() < 1e-4, "{c}: {std}");
        }
    }

    #[test]
    fn damaged_files_are_rejected_with_their_error() {
        let mut flipped = BYTES.to_vec();
        flipped[HEADER_LEN + 100] ^= 1;
        assert!(matches!(
            parse(&flipped),
            Err(LoadError::CrcMismatch { .. })
        ));
        let short = &BYTES[..BYTES.len() - 1];
        assert_eq!(
            parse(short),
            Err(LoadError::Truncated {
                needed: BYTES.len(),
                found: BYTES.len() - 1
            })
        );
        assert!(matches!(
            parse(&BYTES[..5]),
            Err(LoadError::Truncated { .. })
        ));
        assert!(matches!(parse(&[]), Err(LoadError::Truncated { .. })));
        let mut long = BYTES.to_vec();
        long.push(0);
        assert!(matches!(parse(&long), Err(LoadError::TrailingBytes { .. })));
        let mut magic = BYTES.to_vec();
        magic[0] = b'X';
        assert!(matches!(parse(&magic), Err(LoadError::BadMagic { .. })));
        let mut version = BYTES.to_vec();
        version[4] = 2;
        assert_eq!(
            parse(&version),
            Err(LoadError::UnsupportedVersion { found: 2 })
        );
        let mut reserved = BYTES.to_vec();
        reserved[7] = 1;
        assert_eq!(
            parse(&recrc(reserved)),
            Err(LoadError::ReservedNotZero { offset: 6 })
        );
        let mut count = BYTES.to_vec();
        count[8] = 81;
        assert!(matches!(parse(&count), Err(LoadError::Truncated { .. })));
    }

    #[test]
    fn out_of_range_fields_are_rejected_with_the_recording_index() {
        let ok = (0, 0, 0, 1.5);
        let empty = file(&[]);
        assert!(parse(&empty).unwrap().is_empty());
        assert_eq!(parse(&file(&[ok, (1, 3, 0, -2.0)])).unwrap().len(), 2);
        let invalid = |index| Err(LoadError::InvalidSample { index });
        assert_eq!(parse(&file(&[ok, (0, 4, 0, 0.0)])), invalid(1));
        assert_eq!(parse(&file(&[ok, (2, 0, 0, 0.0)])), invalid(1));
        assert_eq!(parse(&file(&[(0, 0, 0, f32::NAN)])), invalid(0));
        assert_eq!(parse(&file(&[ok, (0, 1, 0, f32::INFINITY)])), invalid(1));
        assert_eq!(parse(&file(&[(1, 0, 0, 0.0), ok])), invalid(1));
        assert_eq!(
            parse(&file(&[ok, (0, 0, 0x100, 0.0)])),
            Err(LoadError::ReservedNotZero {
                offset: HEADER_LEN + RECORD_LEN + 2
            })
        );
        let mut one_nan = file(&[ok, ok]);
        let at = HEADER_LEN + RECORD_LEN + RECORD_HEADER_LEN + 4 * 599;
        one_nan[at..at + 4].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
        assert_eq!(parse(&recrc(one_nan)), invalid(1));
    }

    #[test]
    fn split_iterators_follow_the_split_bytes() {
        let f = file(&[(0, 1, 0, 1.0), (1, 2, 0, 2.0), (1, 3, 0, 3.0)]);
        let data = parse(&f).unwrap();
        let train: Vec<_> = data.train().map(|s| s.label).collect();
        let test: Vec<_> = data.test().map(|s| (s.label, s.value(50, 2))).collect();
        assert_eq!(train, [1]);
        assert_eq!(test, [(2, Some(2.0)), (3, Some(3.0))]);
        let only_test = file(&[(1, 0, 0, 0.0)]);
        let data = parse(&only_test).unwrap();
        assert_eq!((data.train().len(), data.test().len()), (0, 1));
    }
}

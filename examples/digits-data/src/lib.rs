//! The 8×8 handwritten digits data set (`ETDG` files): 64 pixels of 0..=16 and a label 0..=9
//! per sample, read in place from a byte slice.
//!
//! Demo data, not part of the edgetune library: the `adapt` example, the tests and the boards'
//! fine-tuning firmware and pretraining tool share this one reader. The file is an edgetune
//! container (magic, version, exact length, CRC-32), checked by [`edgetune::io::check_frame`];
//! only the digits-specific part lives here. `no_std`, no allocation, no `unsafe`.
//!
//! `scripts/digits.py` writes `tests/data/digits.bin` from the copy of the UCI "Optical
//! Recognition of Handwritten Digits" test set bundled with scikit-learn (1,797 samples; source
//! and licence in `scripts/README.md`). On a device, `include_bytes!` puts the file (116,821
//! bytes) in flash and [`parse`] reads it there: no copy in RAM.
//!
//! ```
//! use edgetune_digits as digits;
//! # fn main() -> Result<(), edgetune::io::LoadError> {
//! # let bytes = make_file();
//! let data = digits::parse(&bytes)?;
//! for sample in data.iter() {
//!     let x: [f32; 64] = sample.to_f32(); // pixels scaled to 0.0..=1.0
//!     assert!(sample.label < 10 && x.iter().all(|&p| (0.0..=1.0).contains(&p)));
//! }
//! # assert_eq!(data.len(), 2);
//! # Ok(())
//! # }
//! # fn make_file() -> Vec<u8> {
//! #     let mut f = b"ETDG\x01\x00\x00\x00\x02\x00\x00\x00".to_vec();
//! #     for label in [3u8, 7] { f.extend_from_slice(&[16; 64]); f.push(label); }
//! #     let crc = edgetune::io::crc32(&f);
//! #     f.extend_from_slice(&crc.to_le_bytes());
//! #     f
//! # }
//! ```
//!
//! # Format `ETDG` version 1
//! All integers little-endian; `n` is the sample count.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"ETDG"` (`45 54 44 47`) |
//! | 4 | 2 | format version, `u16` = 1 |
//! | 6 | 2 | reserved, `u16` = 0 |
//! | 8 | 4 | sample count `n`, `u32` |
//! | 12 | 65·`n` | samples: 64 pixel bytes (row-major 8×8, each 0..=16), then 1 label byte (0..=9) |
//! | 12 + 65·`n` | 4 | CRC-32/ISO-HDLC of bytes `0 .. 12 + 65·n`, `u32` |
//!
//! A pixel takes a whole byte because 0..=16 is seventeen values, one more than four bits hold.
//!
//! [`parse`] checks magic, version, exact length, CRC, the reserved field and every pixel and
//! label, so iterating a parsed set cannot fail.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use edgetune::io::{check_frame, LoadError};

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

/// The file's magic, `b"ETDG"`.
pub const MAGIC: [u8; 4] = *b"ETDG";
/// The format version this module reads and documents.
pub const VERSION: u16 = 1;
/// Bytes before the first sample.
pub const HEADER_LEN: usize = 12;
/// Pixels per sample (8×8, row-major).
pub const PIXELS: usize = 64;
/// Bytes per sample: the pixels, then the label.
pub const RECORD_LEN: usize = PIXELS + 1;
/// The largest pixel value (a pixel counts the set dots in a 4×4 block).
pub const MAX_PIXEL: u8 = 16;
/// The number of classes; labels are `0..CLASSES`.
pub const CLASSES: usize = 10;

/// A checked digits file: the sample records, borrowed from the bytes it was parsed from.
///
/// Size: one slice, 2 words (8 bytes on a 32-bit target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digits<'a> {
    records: &'a [u8],
}

/// One sample, borrowed from the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample<'a> {
    /// The 8×8 image, row-major, each pixel in `0..=16`.
    pub pixels: &'a [u8; PIXELS],
    /// The digit shown, `0..=9`.
    pub label: u8,
}

impl Sample<'_> {
    /// The pixels as `f32` in `0.0..=1.0` (`pixel / 16`, exact: 16 is a power of two).
    pub fn to_f32(&self) -> [f32; PIXELS] {
        self.pixels.map(|p| f32::from(p) / f32::from(MAX_PIXEL))
    }
}

/// Parses and validates a digits file (see the [module docs](self)); copies nothing.
///
/// # Errors
/// The first check that fails: [`LoadError::BadMagic`], [`LoadError::Truncated`],
/// [`LoadError::UnsupportedVersion`], [`LoadError::TrailingBytes`], [`LoadError::CrcMismatch`],
/// [`LoadError::ReservedNotZero`] or [`LoadError::InvalidSample`].
pub fn parse(bytes: &[u8]) -> Result<Digits<'_>, LoadError> {
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
    for (index, record) in records.chunks_exact(RECORD_LEN).enumerate() {
        let (pixels, label) = record.split_at(PIXELS.min(record.len()));
        let bad_pixel = pixels.iter().any(|&p| p > MAX_PIXEL);
        let bad_label = label.iter().any(|&l| usize::from(l) >= CLASSES);
        if bad_pixel || bad_label {
            return Err(LoadError::InvalidSample { index });
        }
    }
    Ok(Digits { records })
}

impl<'a> Digits<'a> {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_LEN
    }

    /// Whether the file holds no samples.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Sample `index`, or `None` past the last.
    pub fn get(&self, index: usize) -> Option<Sample<'a>> {
        let start = index.checked_mul(RECORD_LEN)?;
        let record = self.records.get(start..start.checked_add(RECORD_LEN)?)?;
        record_to_sample(record)
    }

    /// The samples in file order.
    pub fn iter(&self) -> Samples<'a> {
        Samples {
            records: self.records.chunks_exact(RECORD_LEN),
        }
    }
}

impl<'a> IntoIterator for Digits<'a> {
    type Item = Sample<'a>;
    type IntoIter = Samples<'a>;

    fn into_iter(self) -> Samples<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Digits<'a> {
    type Item = Sample<'a>;
    type IntoIter = Samples<'a>;

    fn into_iter(self) -> Samples<'a> {
        self.iter()
    }
}

/// Iterator over the samples of a [`Digits`] set, in file order.
#[derive(Clone, Debug)]
pub struct Samples<'a> {
    records: core::slice::ChunksExact<'a, u8>,
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

/// Views a 65-byte record as a sample (`None` only for a record of another length, which a
/// parsed file never has).
fn record_to_sample(record: &[u8]) -> Option<Sample<'_>> {
    let (pixels, rest) = record.split_first_chunk::<PIXELS>()?;
    let &label = rest.first()?;
    Some(Sample { pixels, label })
}

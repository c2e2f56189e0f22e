//! Helpers shared by the fuzz targets: reading typed values from the fuzzer's bytes, and a
//! bit-exact fingerprint of any checkpointable state.

use edgetune::checkpoint::{Checkpointable, SliceSink};

/// Pops values from the front of the input; past the end everything reads as zero.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    /// A hyperparameter: usually a "reasonable" value from a small table (so that steps get
    /// past validation), sometimes arbitrary `f64` bits (NaN, infinities, negatives, huge).
    pub fn hyper(&mut self, typical: &[f64]) -> f64 {
        let sel = self.u8();
        if sel < 200 && !typical.is_empty() {
            typical[usize::from(sel) % typical.len()]
        } else {
            f64::from_bits(self.u64())
        }
    }

    /// A boolean.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}

/// The exact words a checkpoint would hold for `x`: equal fingerprints mean bit-identical state.
pub fn words<T: Checkpointable>(x: &T) -> Vec<u32> {
    let mut out = vec![0u32; T::WORDS];
    let mut sink = SliceSink::new(&mut out);
    x.save(&mut sink)
        .expect("a slice sink of WORDS words never fills up");
    assert_eq!(
        sink.len(),
        T::WORDS,
        "save wrote a different length from WORDS"
    );
    out
}

pub mod bound;

//! The `.etw` weight loader on arbitrary bytes and expected shapes.
//!
//! Invariants: no panic; a failed load leaves the destination bit-for-bit unchanged; a
//! successful parse reports a length consistent with the expected shapes.
#![no_main]

use edgetune::io::weights;
use edgetune::io::weights::NumberType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    // Up to three expected layers with small shapes taken from the selector byte.
    let shapes = [(2usize, 3usize), (3, 1), (4, 4)];
    let expected = &shapes[..usize::from(sel % 4)];
    let mut dst = [f32::from_bits(0x7FC0_BEEF); 64];
    let raw = [0x5A5A_5A5Ai32; 64];
    let len = usize::from(sel >> 2) % 65;
    let before = (dst.map(f32::to_bits), raw);
    let ok = weights::load_f32(data, expected, &mut dst[..len]).is_ok();
    if !ok {
        assert_eq!(dst.map(f32::to_bits), before.0, "a failed load wrote");
    }
    if let Ok(w) = weights::parse(data, expected) {
        let n: usize = expected.iter().map(|(i, o)| i * o + o).sum();
        assert_eq!(w.len(), n);
        assert_eq!(w.layer_count(), expected.len());
        for nt in [NumberType::I16F16, NumberType::I8F24] {
            let mut r = raw;
            if w.load_raw_into(nt, &mut r[..len]).is_err() {
                assert_eq!(r, before.1);
            }
        }
    }
});

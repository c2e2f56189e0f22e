//! Restoring from a flash whose contents are arbitrary.
//!
//! The input fills both slots; a flag byte can make the input's record "valid" by writing the
//! right CRC for the length its header declares, so the fuzzer gets past the CRC check and
//! exercises header, kind, shape and value validation. Invariants: no panic; on error every
//! destination is bit-for-bit unchanged (sentinels); on success the restored state saves and
//! restores again to the same bits.
#![no_main]

use edgetune::checkpoint::{Checkpointable, Progress, SimFlash, Store};
use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, Optimizer};
use edgetune_fuzz::words;
use libfuzzer_sys::fuzz_target;

const SLOT: usize = 1024;
type Flash = SimFlash<{ 2 * SLOT }, 8, 256>;
type Opt = Adam<I16F16, 4>;

fn sentinels() -> ([I16F16; 4], Opt, Progress) {
    let mut opt = Opt::new(AdamConfig::adam(0.125)).unwrap();
    let mut p = [I16F16::from_bits(0x1234_5678); 4];
    opt.step(&mut p, &[I16F16::from_bits(77); 4]).unwrap();
    let progress = Progress {
        epoch: 0xAAAA_AAAA,
        step: 0x5555,
        user: [0xEE; 4],
    };
    (p, opt, progress)
}

fn fingerprint(s: &([I16F16; 4], Opt, Progress)) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    (words(&s.0), words(&s.1), words(&s.2))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let mut flash = Flash::new();
    let n = data.len().min(2 * SLOT);
    flash.bytes_mut()[..n].copy_from_slice(&data[..n]);
    for slot in 0..2 {
        if flags >> slot & 1 == 1 {
            // A CRC over the declared length, where the format puts it (if it fits).
            let mem = &mut flash.bytes_mut()[slot * SLOT..(slot + 1) * SLOT];
            let word = |i: usize| u32::from_le_bytes(mem[4 * i..4 * i + 4].try_into().unwrap());
            let total = (word(2) as usize).saturating_add(word(3) as usize);
            if let Some(bytes) = total
                .checked_mul(4)
                .filter(|&b| b.div_ceil(8) * 8 + 4 <= SLOT)
            {
                let crc = edgetune::io::crc32(&mem[..bytes]);
                let at = bytes.div_ceil(8) * 8;
                mem[at..at + 4].copy_from_slice(&crc.to_le_bytes());
            }
        }
    }
    let mut store = Store::new(&mut flash, 0, SLOT as u32).unwrap();
    let mut s = sentinels();
    let before = fingerprint(&s);
    match store.restore(&mut s.0, &mut s.1, &mut s.2) {
        Err(_) => assert_eq!(fingerprint(&s), before, "a failed restore wrote something"),
        Ok(_) => {
            // Whatever was accepted saves and restores to the same bits.
            let got = fingerprint(&s);
            store.save(&s.0, &s.1, &s.2).unwrap();
            let mut t = sentinels();
            store.restore(&mut t.0, &mut t.1, &mut t.2).unwrap();
            assert_eq!(fingerprint(&t), got);
            assert_eq!(<[I16F16; 4]>::WORDS, 4);
        }
    }
});

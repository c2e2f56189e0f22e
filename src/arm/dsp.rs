//! The int8 dot product with the Cortex-M4/M7 DSP extension (feature `arm-dsp`, default off):
//! `sxtb16` widens four int8 values into two pairs of 16-bit lanes, `sadd16` adds the input
//! offset to both lanes, and `smlad` multiplies two lane pairs and adds both products to the
//! accumulator (eight MACs per loop iteration on runs of 16 or more, four on shorter ones) where LLVM's own code (`ldrsb`, `ldrsb`, `sub`, `mla`)
//! takes 4, because LLVM does not form `sxtb16`/`smlad` from Rust.
//!
//! Compiled only on targets with the DSP extension (`thumbv7em-*`: `target_feature = "dsp"`);
//! elsewhere the feature changes nothing. The result is the same `i32` bits as the portable
//! [`dot`](super::conv2d): integer addition modulo 2^32 does not depend on the order, each
//! `x + offset` lies in `[-255, 255]` (an `i16` lane holds it) and each product fits 17 bits, so
//! no lane wraps; `smlad` wraps its 32-bit sum like `wrapping_add` (its Q flag, set on overflow,
//! is never read). The boards' on-target int8 tests pass with it on the Cortex-M4F (command in
//! `README.md`, "int8 backbones"; `scripts/embedded.sh` does not build it).
//!
//! # Safety
//! The only `unsafe` is `core::arch::asm!` on register operands: no memory access, no stack, no
//! flags read (`options(pure, nomem, nostack)`), every output register declared. The instructions
//! exist on every core this module compiles for (`target_feature = "dsp"`).

use core::arch::asm;

/// `acc + Σ (x_k + offset) · w_k` over the four int8 lanes of `xv` and `wv` (`off2`: the offset
/// in both 16-bit halves).
#[inline(always)]
fn quad(mut acc: i32, xv: u32, wv: u32, off2: u32) -> i32 {
    // SAFETY: register-only DSP instructions (module docs).
    unsafe {
        asm!(
            "sxtb16 {a}, {xv}",
            "sxtb16 {b}, {xv}, ror #8",
            "sadd16 {a}, {a}, {off}",
            "sadd16 {b}, {b}, {off}",
            "sxtb16 {c}, {wv}",
            "sxtb16 {d}, {wv}, ror #8",
            "smlad {acc}, {a}, {c}, {acc}",
            "smlad {acc}, {b}, {d}, {acc}",
            xv = in(reg) xv,
            wv = in(reg) wv,
            off = in(reg) off2,
            a = out(reg) _,
            b = out(reg) _,
            c = out(reg) _,
            d = out(reg) _,
            acc = inout(reg) acc,
            options(pure, nomem, nostack),
        );
    }
    acc
}

/// Four int8 values as one little-endian word (one unaligned `ldr`).
#[inline(always)]
fn word(b: &[i8]) -> u32 {
    u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
}

/// `Σ (x[i] + offset) · w[i]` in `i32`, wrapping; `x` and `w` of equal length (the caller's
/// slices; a shorter one ends the sum, as `zip` does), `offset` in `[-128, 127]` (`-zero_point`).
#[inline(always)]
pub(crate) fn dot(x: &[i8], w: &[i8], offset: i32) -> i32 {
    let n = x.len().min(w.len());
    let (x, w) = (&x[..n], &w[..n]);
    // The offset in both 16-bit lanes (it fits: |offset| <= 128).
    let off2 = (offset as u32 & 0xffff) | ((offset as u32) << 16);
    let mut acc = 0i32;
    let (mut xr, mut wr) = (x, w);
    if n >= 16 {
        // Long runs (dense rows): eight MACs per asm block (LLVM does not unroll around asm).
        let mut xs = x.chunks_exact(8);
        let mut ws = w.chunks_exact(8);
        for (xc, wc) in (&mut xs).zip(&mut ws) {
            acc = quad(acc, word(&xc[..4]), word(&wc[..4]), off2);
            acc = quad(acc, word(&xc[4..]), word(&wc[4..]), off2);
        }
        (xr, wr) = (xs.remainder(), ws.remainder());
    }
    // Short runs (a conv's kernel row) and what is left: four at a time.
    let mut xs = xr.chunks_exact(4);
    let mut ws = wr.chunks_exact(4);
    for (xc, wc) in (&mut xs).zip(&mut ws) {
        acc = quad(acc, word(xc), word(wc), off2);
    }
    for (&xv, &wv) in xs.remainder().iter().zip(ws.remainder()) {
        acc = acc.wrapping_add((xv as i32 + offset) * wv as i32);
    }
    acc
}

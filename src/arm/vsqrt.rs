//! The `f32` square root by the FPU's `vsqrt.f32` on stable Rust (feature `arm-vsqrt`): the
//! instruction `core::f32::math::sqrt` compiles to under the `nightly` feature, which stable
//! `core` does not expose. IEEE 754 requires the root correctly rounded, so it gives the bits of
//! `libm::sqrtf`; the boards' bench checks that on the Cortex-M4F
//! (`num::sqrt::SQRT_F32_CORRECTLY_ROUNDED`).
//!
//! The instruction sits in a two-instruction leaf function, `vsqrt.f32 s0, s0; bx lr`, called
//! by the hard-float procedure call standard (argument and result in `s0`). Not inline assembly:
//! rustc 1.96 lets `asm!` name FPU registers (`sreg`) only under its `vfp2` feature, which
//! implies double precision, so a single-precision FPU (Cortex-M4F, M33F) cannot pass an `f32`
//! to it in one; through core registers the round trip costs four instructions more per root
//! (M4F Adam, the two builds side by side: 36.5 instructions per parameter against 32.5 with the
//! call; `boards/baseline.toml` has the call against `nightly` and the refined root). The
//! instruction is written as its encoding (`.inst.w`): module-level assembly is assembled
//! without the target's FPU features, and a `.fpu` directive would change the object's
//! build attributes.
//!
//! The symbol is weak and hidden, so two copies of the crate in one firmware link to one
//! function (both are the same two instructions).
//!
//! # Safety
//! The function reads `s0` and writes `s0` only, touches no memory and no stack, and returns to
//! the caller: every register the calling convention says a callee preserves is preserved. It
//! may raise the FPSCR's cumulative exception flags, as any floating-point instruction does.
//! `vsqrt.f32` exists on every core this module compiles for (`eabihf` targets: a hardware FPU,
//! enabled by the start-up code as for any hard-float firmware, and the `s0` argument
//! convention).

core::arch::global_asm!(
    ".section .text.edgetune_arm_vsqrt_f32,\"ax\",%progbits",
    ".weak edgetune_arm_vsqrt_f32",
    ".hidden edgetune_arm_vsqrt_f32",
    ".type edgetune_arm_vsqrt_f32,%function",
    ".thumb_func",
    ".p2align 1",
    "edgetune_arm_vsqrt_f32:",
    // vsqrt.f32 s0, s0 (encoding T1: cond 1110, D = 0, Vd = 0, sz = 0, M = 0, Vm = 0)
    ".inst.w 0xeeb10ac0",
    "bx lr",
    ".size edgetune_arm_vsqrt_f32, . - edgetune_arm_vsqrt_f32",
);

unsafe extern "C" {
    /// `vsqrt.f32 s0, s0; bx lr` (above).
    fn edgetune_arm_vsqrt_f32(x: f32) -> f32;
}

/// `√x`, correctly rounded (NaN for a negative `x` or a NaN, `±0` for `±0`, `+∞` for `+∞`).
#[inline(always)]
pub(crate) fn sqrt(x: f32) -> f32 {
    // SAFETY: the leaf function above follows the hard-float calling convention (module docs).
    unsafe { edgetune_arm_vsqrt_f32(x) }
}

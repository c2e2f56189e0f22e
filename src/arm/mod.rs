//! The crate's only `unsafe` code: ARM instructions that safe stable Rust cannot reach, in
//! assembly (`asm!` on register operands; leaf functions for the root and for the `f32` sums,
//! whose FPU registers `asm!` cannot name), each behind an opt-in feature and compiled only on
//! the cores that have the instruction (elsewhere the feature changes nothing).
//!
//! | file | feature | cores | instruction | what uses it |
//! |---|---|---|---|---|
//! | `dsp` | `arm-dsp` | Cortex-M4/M7 (`target_feature = "dsp"`) | `sxtb16`, `sadd16`, `smlad` | the int8 dense and conv dot product |
//! | `vldm` | `arm-vldm` | Cortex-M with an FPU (`eabihf` targets) | `vldmia`, `vmla.f32`, `vstmia` | the `f32` dense rows, dense weight-gradient rows, convolution forward windows, depthwise forward rows and the range checks' sums |
//! | `adam` | `arm-vldm` | the same | `vldmia`, `vstmia`, `vsqrt.f32` with a correctly rounded build root | the `f32` Adam and AdamW update |
//! | `vsqrt` | `arm-vsqrt` | Cortex-M with an FPU (`eabihf` targets: M4F, M7, M33F) | `vsqrt.f32` | [`sqrt_f32`](crate::num::sqrt::sqrt_f32) |
//!
//! Each gives the bits of the portable code it replaces (the int8 sum is the same integer; the
//! `f32` sums add the same products in the same order; the root is correctly rounded, as
//! `libm::sqrtf`), so a host replays these devices bit for bit.
//! Without any of them the crate is `forbid(unsafe_code)`; with one, `deny(unsafe_code)`
//! everywhere but here.
#![allow(unsafe_code)]

#[cfg(all(feature = "arm-vldm", target_abi = "eabihf"))]
pub(crate) mod adam;
#[cfg(all(feature = "arm-dsp", target_feature = "dsp"))]
pub(crate) mod dsp;
#[cfg(all(feature = "arm-vldm", target_abi = "eabihf"))]
pub(crate) mod vldm;
#[cfg(all(feature = "arm-vsqrt", target_abi = "eabihf"))]
pub(crate) mod vsqrt;

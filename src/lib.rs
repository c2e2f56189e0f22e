//! # edgetune
//!
//! Train and fine-tune small neural networks on the microcontroller itself: `#![no_std]`, no
//! `alloc`, no heap. Every buffer (parameters, gradients, optimizer moments) is sized at compile
//! time and can live in a `static`.
//!
//! The optimizers in [`optim`] follow `torch.optim` exactly (SGD, momentum and Nesterov, Adam,
//! AdamW, AMSGrad, RMSprop, Adagrad) plus Lion from its authors' code. They are generic over the
//! number type through [`num::Num`] and one kernel trait per optimizer, so `f32` on the device and
//! `f64` on the host run the same code.
//!
//! With the `reference` feature (host only) the `reference` module provides a deliberately plain
//! `f64` implementation of every optimizer, sharing no code with the generic path, for checking
//! device training in host tests.
//!
//! ## What lives where in memory
//! An optimizer is one struct: its configuration (`f64` hyperparameters), a `u32` step counter and
//! its moment buffers as `[S; N]` arrays; nothing is allocated. [`optim`] gives the exact
//! `size_of` of every type.
#![no_std]
#![cfg_attr(feature = "nightly", feature(core_float_math, optimize_attribute))]
// No unsafe code, except `arm` (features `arm-dsp`, `arm-vldm`, `arm-vsqrt`: ARM instructions in
// inline assembly or leaf functions), which allows it for itself alone.
#![cfg_attr(
    not(any(feature = "arm-dsp", feature = "arm-vldm", feature = "arm-vsqrt")),
    forbid(unsafe_code)
)]
#![cfg_attr(
    any(feature = "arm-dsp", feature = "arm-vldm", feature = "arm-vsqrt"),
    deny(unsafe_code)
)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(all(
    target_arch = "arm",
    any(feature = "arm-dsp", feature = "arm-vldm", feature = "arm-vsqrt")
))]
mod arm;
mod check;
pub mod checkpoint;
#[cfg(feature = "std")]
pub mod dynamic;
mod error;
pub mod io;
pub mod nn;
pub mod num;
pub mod optim;
#[cfg(feature = "reference")]
pub mod reference;
pub mod train;

pub use error::{Error, ValueFault};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

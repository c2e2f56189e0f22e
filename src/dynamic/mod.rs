//! Run-time-sized optimizers and layers for the host (feature `std`): the optimizers of
//! [`crate::optim`] with `Vec`-backed state whose length is chosen when the optimizer is
//! created, for host tools (the Python bindings, simulators of a fleet) that learn a model's
//! sizes only at run time.
//!
//! # The same arithmetic as the `[S; N]` optimizers
//! Each type here holds the same configuration, step counter, number-type state
//! ([`Num::Aux`](crate::num::Num::Aux)) and buffers as its static counterpart, and its
//! [`step`](DynAdam::step) runs the same code: the shared step body (group validation, the
//! read-only gradient and overflow checks, the step count) and the same per-number-type kernel
//! ([`AdamNum::adam_update`](crate::optim::AdamNum::adam_update) and so on). Parameters, every
//! state buffer, the step count, the stochastic-rounding state and every error are bit for bit
//! those of the static optimizer of the same length fed the same gradients (`tests/dynamic.rs`
//! checks it for every optimizer, option and number type).
//!
//! | type | static counterpart | heap (`S = f32`) |
//! |---|---|---|
//! | [`DynSgd<S>`] | [`Sgd<S, N>`](crate::optim::Sgd) | none |
//! | [`DynMomentum<S>`] | [`Momentum<S, N>`](crate::optim::Momentum) | `4·len` |
//! | [`DynAdam<S>`] | [`Adam<S, N, A>`](crate::optim::Adam) (AMSGrad when created with it) | `8·len` (`12·len` with AMSGrad) |
//! | [`DynRmsProp<S>`] | [`RmsProp<S, N, M, C>`](crate::optim::RmsProp) | `4·len`, `+4·len` for momentum, `+4·len` centered |
//! | [`DynAdagrad<S>`] | [`Adagrad<S, N>`](crate::optim::Adagrad) | `4·len` |
//! | [`DynLion<S>`] | [`Lion<S, N>`](crate::optim::Lion) | `4·len` |
//!
//! Fixed-point state has the static optimizers' formats (4 bytes per element too).
//!
//! # Errors
//! Creation validates the configuration exactly as the static `new` does (with the static type
//! the options select). A step returns the static step's errors, with nothing changed:
//! [`Error::LengthMismatch`] as [`Optimizer::step_slices`](crate::optim::Optimizer::step_slices)
//! (`expected` the optimizer's length), [`Error::NonFiniteGradient`], [`Error::StepOverflow`],
//! [`Error::StepCountOverflow`].
//!
//! # Layers
//! [`dense_forward`], [`dense_backward`], [`relu_forward`], [`relu_backward`] and
//! [`softmax_cross_entropy`] run the static layers' bodies on slices checked at entry, bit for
//! bit those of [`nn`](crate::nn) (`tests/dynamic_layers.rs`).
//!
//! # Checkpoints
//! Each optimizer here and a parameter slice `[S]` are a
//! [`RuntimePart`](crate::checkpoint::RuntimePart):
//! [`Store::save_parts`](crate::checkpoint::Store::save_parts) writes the very record
//! [`Store::save`](crate::checkpoint::Store::save) writes for the static optimizer and `[S; N]`
//! arena of the same sizes, and each restores the other's (`tests/dynamic_checkpoint.rs`).
//!
//! # What is not here
//! Parameter groups and steps in parts (use one optimizer per tensor instead) and `const`
//! construction.

mod adagrad;
mod adam;
mod checkpoint;
mod layers;
mod lion;
mod momentum;
mod rmsprop;
mod sgd;

pub use adagrad::DynAdagrad;
pub use adam::DynAdam;
pub use layers::{
    dense_backward, dense_forward, relu_backward, relu_forward, softmax_cross_entropy,
};
pub use lion::DynLion;
pub use momentum::DynMomentum;
pub use rmsprop::DynRmsProp;
pub use sgd::DynSgd;

use crate::Error;

/// [`Error::LengthMismatch`] unless `params` and `grads` both have `len` elements, with the
/// `found` that [`Optimizer::step_slices`](crate::optim::Optimizer::step_slices) reports.
fn check_lengths(len: usize, params: usize, grads: usize) -> Result<(), Error> {
    if params != len {
        Err(Error::LengthMismatch {
            expected: len,
            found: params,
        })
    } else if grads != len {
        Err(Error::LengthMismatch {
            expected: len,
            found: grads,
        })
    } else {
        Ok(())
    }
}

/// A buffer of `len` zeros.
fn zeros<T: crate::num::StateValue>(len: usize) -> std::vec::Vec<T> {
    std::vec![T::ZERO; len]
}

//! On-target layer tests on the Cortex-M4F (QEMU mps2-an386): dense forward and backward (37
//! inputs, 11 outputs, two accumulated backward passes), tanh and sigmoid forward and backward,
//! softmax cross-entropy loss and gradient (10 classes, five rows up to logits of ±40 and one of
//! equal logits), and three training steps of an `mlp!` network (12-9-5, tanh, mini-batches of
//! 2; once with Adam, once with Nesterov momentum): losses and every parameter after each step, in f32, I16F16 and I8F24, against the host's results
//! (`boards/common-data/target_expect.rs`, from the same case code over the same input bits).
//!
//! Fixed point: bit-identical (integer arithmetic and integer-only transcendental functions).
//!
//! f32: bound 0 ulp. Why: the layers use only IEEE basic operations (correctly rounded on the host
//! and on the M4F's FPU; Rust never contracts `a·b + c` into a fused multiply-add), the division
//! `1/x` of the softmax, and `libm::expf`, `logf`, `tanhf`, pure Rust built from basic operations
//! on every target (src/nn/scalar.rs: never std's, which would call the host's C library). The
//! network's Adam step takes the same square-root code as the host on this target
//! (`sqrt_f32_refined`, see tests/optim.rs). Identical operations on identical bits give identical
//! bits. Measured: 0 ulp for every case.
#![no_std]
#![no_main]

// The test lists and helpers shared by both QEMU boards, with `cases`, `check` and `expect`.
#[path = "../../tools/target-expect/src/target_tests.rs"]
#[macro_use]
mod target_tests;

/// The f32 network with Adam: within the layers' bound (0 ulp), as every f32 case here (see the
/// module docs).
fn f32_net_adam(input: &[u32], want: &[u32]) {
    target_tests::net_adam::<f32>("f32", "NET_ADAM", input, want, true)
}

layers_tests!(f32_net_adam = crate::f32_net_adam);

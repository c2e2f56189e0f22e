//! On-target layer tests on the Cortex-M0 (QEMU microbit) in the 16-bit storage format I4F12
//! (`edgetune::num::fixed16`): the dense layer, tanh and sigmoid, the softmax cross-entropy, two
//! `mlp!` training steps (Adam, Nesterov), conv1d, conv2d and depthwise conv2d forward and
//! backward and three `cnn!` training steps, every output word bit-identical to the host's
//! (`boards/common-data/target_expect.rs`, module `q12`): 16×16→32-bit products, exact 64-bit
//! accumulation, integer-only transcendental functions.
#![no_std]
#![no_main]

// The test lists and helpers shared by both QEMU boards, with `cases`, `check` and `expect`.
#[path = "../../tools/target-expect/src/target_tests.rs"]
#[macro_use]
mod target_tests;

#[defmt_test::tests]
mod tests {
    use crate::target_tests::expect::q12 as w;
    use crate::target_tests::{
        activations, cnet, conv1d, conv2d, dense, dwconv2d, net_adam, net_nesterov, softmax_ce,
    };
    use edgetune::num::fixed::I4F12;

    #[test]
    fn i4f12_dense_forward_backward() {
        dense::<I4F12>("I4F12", "DENSE", &w::DENSE_IN, &w::DENSE_OUT, false)
    }
    #[test]
    fn i4f12_tanh_sigmoid() {
        activations::<I4F12>("I4F12", "ACT", &w::ACT_IN, &w::ACT_OUT, false)
    }
    #[test]
    fn i4f12_softmax_cross_entropy() {
        softmax_ce::<I4F12>("I4F12", "CE", &w::CE_IN, &w::CE_OUT, false)
    }
    #[test]
    fn i4f12_mlp_adam_steps() {
        net_adam::<I4F12>("I4F12", "NET_ADAM", &w::NET_IN, &w::NET_ADAM_OUT, false)
    }
    #[test]
    fn i4f12_mlp_nesterov_steps() {
        let want = &w::NET_NESTEROV_OUT;
        net_nesterov::<I4F12>("I4F12", "NET_NESTEROV", &w::NET_IN, want, false)
    }
    #[test]
    fn i4f12_conv1d_forward_backward() {
        conv1d::<I4F12>("I4F12", "CONV1D", &w::CONV1D_IN, &w::CONV1D_OUT, false)
    }
    #[test]
    fn i4f12_conv2d_forward_backward() {
        conv2d::<I4F12>("I4F12", "CONV2D", &w::CONV2D_IN, &w::CONV2D_OUT, false)
    }
    #[test]
    fn i4f12_depthwise_conv2d_forward_backward() {
        let want = &w::DWCONV2D_OUT;
        dwconv2d::<I4F12>("I4F12", "DWCONV2D", &w::DWCONV2D_IN, want, false)
    }
    #[test]
    fn i4f12_cnn_nesterov_steps() {
        cnet::<I4F12>("I4F12", "CNET", &w::CNET_IN, &w::CNET_OUT, false)
    }
}

//! On-target optimizer tests on the Cortex-M0 (QEMU microbit) in the 16-bit storage format I4F12
//! (`edgetune::num::fixed16`): every optimizer, four steps over 37 parameters (values next to
//! the range's ends included), stochastic rounding and round to nearest, against the host's
//! results (`boards/common-data/target_expect.rs`, module `q12`, written by
//! `boards/tools/target-expect` with the same case code over the same input bits): bit-identical
//! parameters after every step and the same rounding-generator state. Integer arithmetic only
//! (the I8F24 kernel and the 16-bit rounding), so the bound is 0.
#![no_std]
#![no_main]

// The test lists and helpers shared by both QEMU boards, with `cases`, `check` and `expect`.
#[path = "../../tools/target-expect/src/target_tests.rs"]
#[macro_use]
mod target_tests;

#[defmt_test::tests]
mod tests {
    use crate::target_tests::cases::Opt;
    use crate::target_tests::expect::q12 as w;
    use crate::target_tests::q12;

    #[test]
    fn i4f12_sgd() {
        q12("SGD", Opt::Sgd, false, &w::OPT_SGD)
    }
    #[test]
    fn i4f12_sgd_nearest() {
        q12("SGD_NEAREST", Opt::Sgd, true, &w::OPT_SGD_NEAREST)
    }
    #[test]
    fn i4f12_sgd_decay_maximize() {
        q12("SGD_WD", Opt::SgdWd, false, &w::OPT_SGD_WD)
    }
    #[test]
    fn i4f12_momentum() {
        q12("MOMENTUM", Opt::Momentum, false, &w::OPT_MOMENTUM)
    }
    #[test]
    fn i4f12_momentum_dampening_decay() {
        q12(
            "MOMENTUM_DAMP",
            Opt::MomentumDamp,
            false,
            &w::OPT_MOMENTUM_DAMP,
        )
    }
    #[test]
    fn i4f12_nesterov() {
        q12("NESTEROV", Opt::Nesterov, false, &w::OPT_NESTEROV)
    }
    #[test]
    fn i4f12_adam() {
        q12("ADAM", Opt::Adam, false, &w::OPT_ADAM)
    }
    #[test]
    fn i4f12_adam_nearest() {
        q12("ADAM_NEAREST", Opt::Adam, true, &w::OPT_ADAM_NEAREST)
    }
    #[test]
    fn i4f12_adam_l2_maximize() {
        q12("ADAM_L2", Opt::AdamL2, false, &w::OPT_ADAM_L2)
    }
    #[test]
    fn i4f12_adamw() {
        q12("ADAMW", Opt::AdamW, false, &w::OPT_ADAMW)
    }
    #[test]
    fn i4f12_amsgrad() {
        q12("AMSGRAD", Opt::AmsGrad, false, &w::OPT_AMSGRAD)
    }
    #[test]
    fn i4f12_rmsprop() {
        q12("RMSPROP", Opt::RmsProp, false, &w::OPT_RMSPROP)
    }
    #[test]
    fn i4f12_rmsprop_centered_momentum() {
        q12(
            "RMSPROP_CM",
            Opt::RmsPropCenteredMomentum,
            false,
            &w::OPT_RMSPROP_CM,
        )
    }
    #[test]
    fn i4f12_adagrad() {
        q12("ADAGRAD", Opt::Adagrad, false, &w::OPT_ADAGRAD)
    }
    #[test]
    fn i4f12_lion() {
        q12("LION", Opt::Lion, false, &w::OPT_LION)
    }
    #[test]
    fn i4f12_lion_nearest() {
        q12("LION_NEAREST", Opt::Lion, true, &w::OPT_LION_NEAREST)
    }
    #[test]
    fn i4f12_lion_decay() {
        q12("LION_WD", Opt::LionWd, false, &w::OPT_LION_WD)
    }
}

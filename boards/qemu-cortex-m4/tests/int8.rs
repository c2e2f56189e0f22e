//! On-target int8 tests on the Cortex-M4F (QEMU mps2-an386): two TFLite-converted CNNs
//! (`tests/data/int8/`: a 1-D CNN on BasicMotions with a strided SAME conv, a depthwise conv with
//! depth multiplier 2 and ReLU6, a max pool, a dilated VALID conv, a SAME average pool and two
//! dense layers, per tensor and ReLU; a 2-D CNN on the digits with a SAME conv, a stride-2
//! depthwise conv, a pointwise conv, SAME max and VALID average pools and a per-channel dense
//! layer; and that model with its quantisation edited so its ReLU and ReLU6 clamps bind) run
//! through edgetune's int8 kernels, chained and layer by layer, on two held-out inputs each: every
//! output bit-identical to TFLite's reference kernels (`boards/common-data/int8_expect.rs`).
//! Integer arithmetic throughout, so the bound is 0.
#![no_std]
#![no_main]

// The int8 test list and its helpers, shared by the QEMU boards.
#[path = "../../tools/target-expect/src/int8_tests.rs"]
#[macro_use]
mod int8_tests;

int8_tests!();

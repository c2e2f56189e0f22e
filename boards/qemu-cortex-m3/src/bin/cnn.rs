//! On-device fine-tuning of a 1-D CNN (`cnn!`) on a Cortex-M3 (QEMU `mps2-an385`, 4 MiB RAM, no
//! FPU) in fixed point (I16F16): the Cortex-M0's firmware with this board's clock and RAM (the
//! shared run of `bench_common::har`: BasicMotions windows through a rotated, gain-drifted
//! sensor; convolutions frozen in flash, batch norms and head trained with Adam). Its verdict
//! requires the host simulation's I16F16 figures and parameter hash, like the M0's.
#![no_std]
#![no_main]

use bench_common::har::{self, Har, FROZEN, PARAMS, TRAINABLE};
use bench_common::Board;
use core::cell::RefCell;
use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger
use edgetune::num::fixed::I16F16;

const BOARD: Board = Board {
    title: "QEMU mps2-an385 (Cortex-M3, soft-float), I16F16",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

type S = I16F16;

const PRETRAINED: [S; PARAMS] = har::pretrained_i16f16();
/// Convolution weights and biases, in flash.
static FROZEN_W: [S; FROZEN] = Har::<S>::split_frozen(&PRETRAINED);
/// The pretrained values of the trained parameters, in flash.
static INIT: [S; TRAINABLE] = Har::<S>::split_trainable(&PRETRAINED);

static NET: Mutex<RefCell<Har<S, &'static [S; FROZEN]>>> =
    Mutex::new(RefCell::new(Har::with_frozen(&FROZEN_W)));
static TRAINER: Mutex<RefCell<har::Train<S>>> = Mutex::new(RefCell::new(har::trainer()));

#[entry]
fn main() -> ! {
    // The whole run is one critical section (no interrupt handler uses the state here).
    interrupt::free(|cs| {
        let mut net = NET.borrow(cs).borrow_mut();
        let mut trainer = TRAINER.borrow(cs).borrow_mut();
        har::main(
            &BOARD,
            "I16F16",
            &har::EXPECTED_I16F16,
            &mut net,
            &INIT,
            &mut trainer,
        )
    })
}

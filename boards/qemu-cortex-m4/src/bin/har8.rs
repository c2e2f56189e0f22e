//! On-device fine-tuning of a head on a frozen int8 backbone on a QEMU mps2-an386 (Cortex-M4F): the
//! shared run of `bench_common::har8` (the TFLite-converted imu1d CNN in int8, BasicMotions
//! recordings through a rotated, gain-drifted sensor; the head's last dense layer trained with Adam
//! in f32), with this board's statics.
//!
//! The training state is const-initialised `static`s behind critical-section
//! `Mutex<RefCell<_>>`; the backbone's constants and the head's frozen layer are in flash. The
//! RAM figures are printed by the firmware (`RAM of the training state`, `memory:`).
#![no_std]
#![no_main]

use bench_common::har8::{self, Head8, Net, FROZEN, TRAINABLE};
use bench_common::Board;
use core::cell::RefCell;
use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger
use edgetune::nn::network::Int8Network;

const BOARD: Board = Board {
    title: "QEMU mps2-an386 (Cortex-M4F), f32 head",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

type S = f32;

/// The head's first dense layer, in flash.
static FROZEN_W: [S; FROZEN] = har8::frozen_f32();
/// The trained layer's initial values, in flash.
static INIT: [S; TRAINABLE] = har8::trainable_f32();

static NET: Mutex<RefCell<Net<S, &'static [S; FROZEN]>>> = Mutex::new(RefCell::new(
    match Int8Network::new(har8::model::BACKBONE, Head8::with_frozen(&FROZEN_W)) {
        Ok(n) => n,
        Err(_) => panic!("the head does not fit the backbone"),
    },
));
static TRAINER: Mutex<RefCell<har8::Train<S>>> = Mutex::new(RefCell::new(har8::trainer()));

#[entry]
fn main() -> ! {
    // The whole run is one critical section (no interrupt handler uses the state here).
    interrupt::free(|cs| {
        let mut net = NET.borrow(cs).borrow_mut();
        let mut trainer = TRAINER.borrow(cs).borrow_mut();
        har8::main(
            &BOARD,
            "f32",
            &har8::EXPECTED_F32,
            &mut net,
            &INIT,
            &mut trainer,
        )
    })
}

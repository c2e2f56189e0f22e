//! On-device fine-tuning on a Cortex-M4F (QEMU `mps2-an386`, single-precision FPU) in f32: the
//! shared run of `bench_common::finetune` (64-16-10 digits network, first-layer weights frozen in
//! flash, first-layer bias and last layer trained with Adam from a 128-sample buffer, after a
//! gain/offset/pixel-shift sensor change), with this board's statics. The same run as the
//! Cortex-M0's I16F16 firmware, so the two can be compared.
//!
//! Every piece of training state is a const-initialised `static` (in `.data`: its initial values
//! are not all zero) behind a critical-section `Mutex<RefCell<_>>`; the frozen weights and the pretrained trainable values are `static`s in
//! flash.
#![no_std]
#![no_main]

use bench_common::finetune::{self, data, Net, Rec, FROZEN, TRAINABLE};
use bench_common::Board;
use core::cell::RefCell;
use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger
use edgetune::train::{Policy, SampleBuffer};

const BOARD: Board = Board {
    title: "QEMU mps2-an386 (Cortex-M4F), f32",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

type S = f32;
/// Samples the buffer holds (65 bytes each).
const CAP: usize = 128;

/// First-layer weights, in flash.
static FROZEN_W: [S; FROZEN] = Net::<S>::split_frozen(&data::PRETRAINED_F32);
/// The pretrained values of the trained parameters, in flash (to start or to reset from).
static INIT: [S; TRAINABLE] = Net::<S>::split_trainable(&data::PRETRAINED_F32);

static NET: Mutex<RefCell<Net<S, &'static [S; FROZEN]>>> =
    Mutex::new(RefCell::new(Net::with_frozen(&FROZEN_W)));
static TRAINER: Mutex<RefCell<finetune::Train<S>>> = Mutex::new(RefCell::new(finetune::trainer()));
static BUF: Mutex<RefCell<SampleBuffer<Rec, CAP>>> =
    Mutex::new(RefCell::new(SampleBuffer::new(Policy::Reservoir, 7)));

#[entry]
fn main() -> ! {
    // The whole run is one critical section (no interrupt handler uses the state here).
    interrupt::free(|cs| {
        let mut net = NET.borrow(cs).borrow_mut();
        let mut trainer = TRAINER.borrow(cs).borrow_mut();
        let mut buf = BUF.borrow(cs).borrow_mut();
        finetune::main(
            &BOARD,
            "f32",
            &finetune::EXPECTED_F32,
            &mut net,
            &INIT,
            &mut trainer,
            &mut buf,
        )
    })
}

//! On-device fine-tuning on a Cortex-M0 (QEMU `microbit`, 16 KiB RAM, no FPU) in the 16-bit
//! storage format I4F12 (`edgetune::num::fixed16`), beside the I16F16 `finetune` firmware: the
//! same shared run of `bench_common::finetune` (64-16-10 digits network, first-layer
//! weights frozen in flash, first-layer bias and last layer trained with Adam from a 128-sample
//! buffer, after a gain/offset/pixel-shift sensor change), with this board's statics.
//!
//! Every piece of training state is a const-initialised `static` behind a critical-section
//! `Mutex<RefCell<_>>` (never built on the stack). They land in `.data`, not `.bss` (Adam's
//! configuration, the buffer's generator seed and the pointer to the flash weights are not zero),
//! so their image also costs flash. The frozen weights and the pretrained trainable values are
//! `static`s in flash. RAM: network 852 B (I16F16: 1 700 B) + trainer (Adam, its moments stay
//! 32-bit) 1 568 B + buffer 8 360 B (10 800 B of `.data`) plus a 2.4 KiB stack peak, of the
//! 16 KiB. Measured (QEMU, `-icount`): 19.28 instructions per MAC for a mini-batch step of 16
//! (I16F16: 75.1), 78.99 for one sample, and the host simulation's 72.6 % after fine-tuning.
#![no_std]
#![no_main]

use bench_common::finetune::{self, Net, Rec, FROZEN, PARAMS, TRAINABLE};
use bench_common::Board;
use core::cell::RefCell;
use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger
use edgetune::num::fixed::I4F12;
use edgetune::train::{Policy, SampleBuffer};

const BOARD: Board = Board {
    title: "QEMU microbit (Cortex-M0, soft-float), I4F12",
    cpu_hz: 16_000_000,
    ram_bytes: 16 * 1024,
};

type S = I4F12;
/// Samples the buffer holds (65 bytes each).
const CAP: usize = 128;

const PRETRAINED: [S; PARAMS] = finetune::pretrained_i4f12();
/// First-layer weights, in flash.
static FROZEN_W: [S; FROZEN] = Net::<S>::split_frozen(&PRETRAINED);
/// The pretrained values of the trained parameters, in flash (to start or to reset from).
static INIT: [S; TRAINABLE] = Net::<S>::split_trainable(&PRETRAINED);

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
        finetune::main_as(
            "finetune16",
            &BOARD,
            "I4F12",
            &finetune::EXPECTED_I4F12,
            &mut net,
            &INIT,
            &mut trainer,
            &mut buf,
        )
    })
}

//! On-device fine-tuning on a Cortex-M3 (QEMU `mps2-an385`, 4 MiB RAM, no FPU) in fixed point
//! (I16F16), the Cortex-M0's firmware with this board's clock and RAM: the shared run of
//! `bench_common::finetune` (64-16-10 digits network, first-layer weights frozen in flash,
//! first-layer bias and last layer trained with Adam from a 128-sample buffer, after a
//! gain/offset/pixel-shift sensor change). Same statics as the M0 (`.data`, behind
//! critical-section `Mutex<RefCell<_>>`s), so the RAM figures compare one to one; the instruction
//! counts show what thumbv7m's `smull`/`umull` save on the fixed-point products.
#![no_std]
#![no_main]

use bench_common::finetune::{self, Net, Rec, FROZEN, PARAMS, TRAINABLE};
use bench_common::Board;
use core::cell::RefCell;
use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger
use edgetune::num::fixed::I16F16;
use edgetune::train::{Policy, SampleBuffer};

const BOARD: Board = Board {
    title: "QEMU mps2-an385 (Cortex-M3, soft-float), I16F16",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

type S = I16F16;
/// Samples the buffer holds (65 bytes each).
const CAP: usize = 128;

const PRETRAINED: [S; PARAMS] = finetune::pretrained_i16f16();
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
        finetune::main(
            &BOARD,
            "I16F16",
            &finetune::EXPECTED_I16F16,
            &mut net,
            &INIT,
            &mut trainer,
            &mut buf,
        )
    })
}

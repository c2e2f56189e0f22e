//! nRF52840-DK (nRF52840, Cortex-M4F at 64 MHz, single-precision FPU): learns a gesture on the
//! device, in f32. A LIS3DH breakout on TWIM0 (the Arduino header's SDA = P0.26, SCL = P0.27)
//! gives the data, the board's button 1 (P0.11, low when pressed) the label. Everything else is
//! `sensor_app::firmware::run`; see README.md for wiring and what the log shows.
#![no_std]
#![no_main]

use defmt_rtt as _;
use panic_probe as _;

use cortex_m_rt::entry;
use nrf52840_hal::clocks::Clocks;
use nrf52840_hal::gpio::p0;
use nrf52840_hal::twim::{self, Twim};
use nrf52840_hal::{pac, Delay};
use sensor_app::{firmware, Address, App, Button, Lis3dh};

/// The training state's RAM on this target (README, "Size"), checked at compile time.
const _: () = assert!(core::mem::size_of::<App<f32>>() == 2296);

#[entry]
fn main() -> ! {
    let (Some(p), Some(cp)) = (pac::Peripherals::take(), pac::CorePeripherals::take()) else {
        defmt::panic!("peripherals taken twice");
    };
    // The 32 MHz crystal as the high-frequency clock (accurate I2C timing).
    let _clocks = Clocks::new(p.CLOCK).enable_ext_hfosc();
    let port0 = p0::Parts::new(p.P0);

    // TWIM moves data by EasyDMA, which reads RAM only; nrf-hal's embedded-hal 1.0 `I2c`
    // copies a write buffer that sits in flash (a constant register address) to RAM first.
    let pins = twim::Pins {
        scl: port0.p0_27.into_floating_input().degrade(),
        sda: port0.p0_26.into_floating_input().degrade(),
    };
    let i2c = Twim::new(p.TWIM0, pins, twim::Frequency::K400);
    let mut sensor = Lis3dh::new(i2c, Address::Sa0Low);
    let mut button = Button::active_low(port0.p0_11.into_pullup_input());
    let mut delay = Delay::new(cp.SYST);

    defmt::info!(
        "edgetune on nRF52840: 6-8-2 network pretrained on a PC, head learns here in f32, training state {=usize} bytes",
        core::mem::size_of::<App<f32>>()
    );
    let app = match App::<f32>::pretrained() {
        Ok(app) => app,
        Err(e) => defmt::panic!("{}", e),
    };
    let Some(app) = cortex_m::singleton!(: App<f32> = app) else {
        defmt::panic!("app state taken twice");
    };
    firmware::run(app, &mut sensor, &mut button, &mut delay)
}

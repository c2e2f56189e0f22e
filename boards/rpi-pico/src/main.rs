//! Raspberry Pi Pico (RP2040, Cortex-M0+ at 125 MHz, no FPU): learns a gesture on the device, in
//! I16F16 fixed point. A LIS3DH breakout on I2C0 (GP4 = SDA, GP5 = SCL) gives the data, a push
//! button from GP15 to GND the label. Everything else is `sensor_app::firmware::run`; see
//! README.md for wiring and what the log shows.
#![no_std]
#![no_main]

use defmt_rtt as _;
use panic_probe as _;

use edgetune::num::fixed::I16F16;
use rp2040_hal as hal;

use hal::fugit::RateExtU32;
use hal::gpio::{FunctionI2C, Pin, PullUp};
use hal::{clocks::init_clocks_and_plls, pac, Clock, Sio, Timer, Watchdog, I2C};
use sensor_app::{firmware, Address, App, Button, Lis3dh};

/// Second-stage bootloader for the Pico's W25Q16JV flash, at the start of flash.
#[link_section = ".boot2"]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The Pico's crystal.
const XTAL_FREQ_HZ: u32 = 12_000_000;

/// The training state's RAM on this target (README, "Size"), checked at compile time.
const _: () = assert!(core::mem::size_of::<App<I16F16>>() == 2304);

#[hal::entry]
fn main() -> ! {
    let Some(mut pac) = pac::Peripherals::take() else {
        defmt::panic!("peripherals taken twice");
    };
    let mut watchdog = Watchdog::new(pac.WATCHDOG);
    // 125 MHz system clock from the 12 MHz crystal.
    let Ok(clocks) = init_clocks_and_plls(
        XTAL_FREQ_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        defmt::panic!("clock setup failed");
    };
    let sio = Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );

    let sda: Pin<_, FunctionI2C, PullUp> = pins.gpio4.reconfigure();
    let scl: Pin<_, FunctionI2C, PullUp> = pins.gpio5.reconfigure();
    let i2c = I2C::i2c0(
        pac.I2C0,
        sda,
        scl,
        400.kHz(),
        &mut pac.RESETS,
        clocks.system_clock.freq(),
    );
    let mut sensor = Lis3dh::new(i2c, Address::Sa0Low);
    let mut button = Button::active_low(pins.gpio15.into_pull_up_input());
    let mut delay = Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);

    defmt::info!(
        "edgetune on RP2040: 6-8-2 network pretrained on a PC, head learns here in I16F16, training state {=usize} bytes",
        core::mem::size_of::<App<I16F16>>()
    );
    let app = match App::<I16F16>::pretrained() {
        Ok(app) => app,
        Err(e) => defmt::panic!("{}", e),
    };
    let Some(app) = cortex_m::singleton!(: App<I16F16> = app) else {
        defmt::panic!("app state taken twice");
    };
    firmware::run(app, &mut sensor, &mut button, &mut delay)
}

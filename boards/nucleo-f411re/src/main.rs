//! NUCLEO-F411RE (STM32F411RE, Cortex-M4F at 84 MHz, single-precision FPU): learns a gesture on
//! the device, in f32. A LIS3DH breakout on I2C1 (Arduino D15 = PB8 = SCL, D14 = PB9 = SDA)
//! gives the data, the blue user button B1 (PC13, low when pressed) the label. Everything else
//! is `sensor_app::firmware::run`; see README.md for wiring and what the log shows.
#![no_std]
#![no_main]

use defmt_rtt as _;
use panic_probe as _;

use cortex_m_rt::entry;
use sensor_app::{firmware, Address, App, Button, Lis3dh};
use stm32f4xx_hal::{i2c::I2c, pac, prelude::*, rcc::Config};

/// The training state's RAM on this target (README, "Size"), checked at compile time.
const _: () = assert!(core::mem::size_of::<App<f32>>() == 2296);

#[entry]
fn main() -> ! {
    let (Some(dp), Some(cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        defmt::panic!("peripherals taken twice");
    };
    // 84 MHz from the internal 16 MHz oscillator through the PLL: no dependence on the
    // ST-LINK's MCO or on solder bridges for an external clock.
    let mut rcc = dp.RCC.freeze(Config::hsi().sysclk(84.MHz()));
    let gpiob = dp.GPIOB.split(&mut rcc);
    let gpioc = dp.GPIOC.split(&mut rcc);

    let i2c = I2c::new(dp.I2C1, (gpiob.pb8, gpiob.pb9), 400.kHz(), &mut rcc);
    let mut sensor = Lis3dh::new(i2c, Address::Sa0Low);
    // B1 has its own pull-up on the board; the internal one is harmless.
    let mut button = Button::active_low(gpioc.pc13.into_pull_up_input());
    let mut delay = cp.SYST.delay(&rcc.clocks);

    defmt::info!(
        "edgetune on STM32F411RE: 6-8-2 network pretrained on a PC, head learns here in f32, training state {=usize} bytes",
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

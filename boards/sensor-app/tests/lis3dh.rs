//! The LIS3DH driver against exact I2C transactions (embedded-hal-mock), and its scaling
//! against the datasheet's sensitivities (DocID17530 table 4, high-resolution mode).

use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as DelayTx};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2cTx};
use sensor_app::lis3dh::{self, scale, Error, POLL_US, READY_POLLS};
use sensor_app::{Accel, Address, DataRate, Lis3dh, Range};

const ADDR: u8 = 0x18;

fn init_transactions(addr: u8, ctrl1: u8, ctrl4: u8) -> Vec<I2cTx> {
    vec![
        I2cTx::write_read(addr, vec![0x0F], vec![0x33]),
        I2cTx::write(addr, vec![0x20, ctrl1]),
        I2cTx::write(addr, vec![0x23, ctrl4]),
    ]
}

#[test]
fn init_checks_who_am_i_then_writes_ctrl_reg1_and_ctrl_reg4() {
    // 50 Hz = ODR 0100, xyz enabled: 0x47. BDU | FS=01 (±4 g) | HR: 0x98.
    let mut i2c = I2cMock::new(&init_transactions(ADDR, 0x47, 0x98));
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    dev.init(Range::G4, DataRate::Hz50).unwrap();
    assert_eq!(dev.range(), Range::G4);
    i2c.done();
}

#[test]
fn init_register_values_for_every_range_and_rate() {
    // (range, rate, CTRL_REG1, CTRL_REG4) written out by hand from the register maps.
    let cases = [
        (Range::G2, DataRate::Hz10, 0x27, 0x88),
        (Range::G4, DataRate::Hz25, 0x37, 0x98),
        (Range::G8, DataRate::Hz100, 0x57, 0xA8),
        (Range::G16, DataRate::Hz400, 0x77, 0xB8),
        (Range::G2, DataRate::Hz200, 0x67, 0x88),
    ];
    for (range, rate, c1, c4) in cases {
        let mut i2c = I2cMock::new(&init_transactions(0x19, c1, c4));
        let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0High);
        dev.init(range, rate).unwrap();
        i2c.done();
    }
}

#[test]
fn init_rejects_another_part_and_writes_nothing() {
    // 0x32 is the LIS331DLH / LIS2DH family's identifier; no configuration write may follow.
    let mut i2c = I2cMock::new(&[I2cTx::write_read(ADDR, vec![0x0F], vec![0x32])]);
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    assert_eq!(
        dev.init(Range::G2, DataRate::Hz50),
        Err(Error::WrongDevice(0x32))
    );
    assert_eq!(dev.range(), Range::G2);
    i2c.done();
}

#[test]
fn init_propagates_a_nack_as_a_typed_error() {
    let mut i2c = I2cMock::new(&[
        I2cTx::write_read(ADDR, vec![0x0F], vec![0x33]),
        I2cTx::write(ADDR, vec![0x20, 0x47]).with_error(ErrorKind::Other),
    ]);
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    assert_eq!(
        dev.init(Range::G4, DataRate::Hz50),
        Err(Error::I2c(ErrorKind::Other))
    );
    // The range is only taken once the part is configured.
    assert_eq!(dev.range(), Range::G2);
    i2c.done();
}

#[test]
fn read_is_one_auto_increment_transaction_from_status_reg() {
    // x = +1 g, y = -1 g, z = 0.5 g at ±2 g (1 mg/digit): digits 1000, -1000, 500.
    let x = (1000i16 << 4).to_le_bytes();
    let y = (-1000i16 << 4).to_le_bytes();
    let z = (500i16 << 4).to_le_bytes();
    let mut i2c = I2cMock::new(&[I2cTx::write_read(
        ADDR,
        vec![0xA7],
        vec![0x08, x[0], x[1], y[0], y[1], z[0], z[1]],
    )]);
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    assert_eq!(
        dev.read(),
        Ok(Some(Accel {
            x: 1000,
            y: -1000,
            z: 500
        }))
    );
    i2c.done();
}

#[test]
fn read_returns_none_while_zyxda_is_clear() {
    // Other status bits (XDA, YDA, overrun) set, ZYXDA clear: no complete new set.
    let mut i2c = I2cMock::new(&[I2cTx::write_read(
        ADDR,
        vec![0xA7],
        vec![0xF7, 1, 2, 3, 4, 5, 6],
    )]);
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    assert_eq!(dev.read(), Ok(None));
    i2c.done();
}

#[test]
fn read_when_ready_polls_with_the_stated_delay() {
    let ready = vec![0x08, 0, 0, 0, 0, 0x10, 0];
    let mut i2c = I2cMock::new(&[
        I2cTx::write_read(ADDR, vec![0xA7], vec![0; 7]),
        I2cTx::write_read(ADDR, vec![0xA7], vec![0; 7]),
        I2cTx::write_read(ADDR, vec![0xA7], ready),
    ]);
    let mut delay = CheckedDelay::new(&[DelayTx::delay_us(POLL_US), DelayTx::delay_us(POLL_US)]);
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    assert_eq!(
        dev.read_when_ready(&mut delay),
        Ok(Accel { x: 0, y: 0, z: 1 })
    );
    i2c.done();
    delay.done();
}

#[test]
fn read_when_ready_gives_up_with_not_ready_after_the_poll_limit() {
    let polls = vec![I2cTx::write_read(ADDR, vec![0xA7], vec![0; 7]); READY_POLLS as usize];
    let mut i2c = I2cMock::new(&polls);
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    assert_eq!(dev.read_when_ready(&mut NoopDelay), Err(Error::NotReady));
    i2c.done();
}

#[test]
fn read_propagates_a_bus_error_as_a_typed_error() {
    let mut i2c = I2cMock::new(&[
        I2cTx::write_read(ADDR, vec![0xA7], vec![0; 7]).with_error(ErrorKind::ArbitrationLoss)
    ]);
    let mut dev = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    assert_eq!(
        dev.read_when_ready(&mut NoopDelay),
        Err(Error::I2c(ErrorKind::ArbitrationLoss))
    );
    i2c.done();
}

#[test]
fn scaling_matches_the_datasheet_sensitivity_in_every_range() {
    // Table 4, high-resolution mode: So = 1, 2, 4, 12 mg/digit at FS ±2, ±4, ±8, ±16 g.
    // 0x4000 left-justified is digit 1024: 1.024 g at ±2 g, 12.288 g at ±16 g.
    let cases = [
        (Range::G2, 1_024),
        (Range::G4, 2_048),
        (Range::G8, 4_096),
        (Range::G16, 12_288),
    ];
    for (range, mg) in cases {
        assert_eq!(scale(0x4000i16.to_le_bytes(), range), mg, "{range:?}");
        assert_eq!(scale((-0x4000i16).to_le_bytes(), range), -mg, "{range:?}");
    }
}

#[test]
fn scaling_ignores_the_four_unused_low_bits_and_keeps_the_extremes() {
    // 0x400F: digit 1024 plus junk in bits 3:0.
    assert_eq!(scale([0x0F, 0x40], Range::G2), 1024);
    // Full scale: 0x7FF0 = digit 2047, 0x8000 = digit -2048.
    assert_eq!(scale([0xF0, 0x7F], Range::G16), 2047 * 12);
    assert_eq!(scale([0x00, 0x80], Range::G16), -2048 * 12);
    assert_eq!(scale([0xFF, 0xFF], Range::G2), -1); // -1 >> 4 = -1 (arithmetic shift)
}

#[test]
fn one_g_at_rest_reads_one_thousand_mg_within_a_digit() {
    // A part lying flat at ±4 g reads 1 g = 500 digits of 2 mg: raw 500 << 4 = 0x1F40.
    assert_eq!(scale([0x40, 0x1F], Range::G4), 1000);
    assert_eq!(lis3dh::Range::G4.mg_per_digit(), 2);
}

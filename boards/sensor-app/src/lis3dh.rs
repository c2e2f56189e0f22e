//! ST LIS3DH 3-axis accelerometer over I2C (datasheet DocID17530, rev. 2), high-resolution mode.
//!
//! Generic over [`embedded_hal::i2c::I2c`]: any HAL's I2C peripheral, or a mock in tests. The
//! driver owns the bus (use `embedded-hal-bus` to share it) and [`release`](Lis3dh::release)
//! gives it back.
//!
//! # Registers used
//! | register | address | written / read |
//! |---|---|---|
//! | `WHO_AM_I` | `0x0F` | read, must be `0x33` |
//! | `CTRL_REG1` | `0x20` | `ODR[3:0] << 4 \| Zen Yen Xen` (`LPen` = 0: normal or high-resolution) |
//! | `CTRL_REG4` | `0x23` | `BDU` (bit 7) `\| FS[1:0] << 4 \| HR` (bit 3) |
//! | `STATUS_REG` | `0x27` | bit 3 `ZYXDA`: a new X, Y, Z set is ready |
//! | `OUT_X_L` .. `OUT_Z_H` | `0x28..=0x2D` | 16-bit two's complement, little endian, left-justified |
//!
//! A reading is one I2C transaction: `STATUS_REG` and the six output bytes, read from `0x27` with
//! the sub-address's most significant bit set (`0xA7`: auto-increment, datasheet §6.1.1).
//!
//! # Scaling
//! In high-resolution mode the output has 12 significant bits: the raw 16-bit value shifted
//! right by 4 (arithmetic), times the sensitivity of datasheet table 4: 1, 2, 4 and 12 mg/digit
//! at ±2, ±4, ±8 and ±16 g ([`Range::mg_per_digit`]).

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

/// `WHO_AM_I`.
pub const WHO_AM_I: u8 = 0x0F;
/// The value `WHO_AM_I` holds on a LIS3DH.
pub const DEVICE_ID: u8 = 0x33;
/// `CTRL_REG1`: data rate, low-power enable, axis enables.
pub const CTRL_REG1: u8 = 0x20;
/// `CTRL_REG4`: block data update, full scale, high resolution.
pub const CTRL_REG4: u8 = 0x23;
/// `STATUS_REG`.
pub const STATUS_REG: u8 = 0x27;
/// Sub-address bit asking for auto-increment on multi-byte reads.
pub const AUTO_INCREMENT: u8 = 0x80;
/// `STATUS_REG` bit 3: new X, Y and Z data available.
pub const ZYXDA: u8 = 0x08;

/// The 7-bit I2C address, set by the SDO/SA0 pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Address {
    /// SA0 tied low: `0x18` (Adafruit's LIS3DH breakout as shipped).
    Sa0Low,
    /// SA0 tied high: `0x19`.
    Sa0High,
}

impl Address {
    /// The 7-bit address.
    pub const fn bits(self) -> u8 {
        match self {
            Address::Sa0Low => 0x18,
            Address::Sa0High => 0x19,
        }
    }
}

/// Full scale (`CTRL_REG4` `FS[1:0]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Range {
    /// ±2 g.
    G2,
    /// ±4 g.
    G4,
    /// ±8 g.
    G8,
    /// ±16 g.
    G16,
}

impl Range {
    /// `FS[1:0]`.
    pub const fn fs_bits(self) -> u8 {
        match self {
            Range::G2 => 0b00,
            Range::G4 => 0b01,
            Range::G8 => 0b10,
            Range::G16 => 0b11,
        }
    }

    /// Sensitivity in high-resolution mode, mg per digit of the 12-bit value (datasheet
    /// table 4).
    pub const fn mg_per_digit(self) -> i16 {
        match self {
            Range::G2 => 1,
            Range::G4 => 2,
            Range::G8 => 4,
            Range::G16 => 12,
        }
    }
}

/// Output data rate (`CTRL_REG1` `ODR[3:0]`), the rates valid in high-resolution mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DataRate {
    /// 10 Hz.
    Hz10,
    /// 25 Hz.
    Hz25,
    /// 50 Hz.
    Hz50,
    /// 100 Hz.
    Hz100,
    /// 200 Hz.
    Hz200,
    /// 400 Hz.
    Hz400,
}

impl DataRate {
    /// `ODR[3:0]`.
    pub const fn odr_bits(self) -> u8 {
        match self {
            DataRate::Hz10 => 0b0010,
            DataRate::Hz25 => 0b0011,
            DataRate::Hz50 => 0b0100,
            DataRate::Hz100 => 0b0101,
            DataRate::Hz200 => 0b0110,
            DataRate::Hz400 => 0b0111,
        }
    }

    /// The period in microseconds (rounded down).
    pub const fn period_us(self) -> u32 {
        match self {
            DataRate::Hz10 => 100_000,
            DataRate::Hz25 => 40_000,
            DataRate::Hz50 => 20_000,
            DataRate::Hz100 => 10_000,
            DataRate::Hz200 => 5_000,
            DataRate::Hz400 => 2_500,
        }
    }
}

/// One reading, in milli-g (1 g = 9.80665 m/s²). The largest magnitude is 2047 · 12 = 24 564
/// mg at ±16 g, so `i16` holds every reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Accel {
    /// X axis, mg.
    pub x: i16,
    /// Y axis, mg.
    pub y: i16,
    /// Z axis, mg.
    pub z: i16,
}

/// What went wrong talking to the sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The I2C transaction failed (no acknowledge, arbitration loss, bus error, ...).
    I2c(E),
    /// `WHO_AM_I` did not read `0x33`: another part, or a wrong address.
    WrongDevice(u8),
    /// `ZYXDA` stayed clear for [`READY_POLLS`] polls [`POLL_US`] apart: the sensor is not
    /// sampling (powered down, or reset behind the driver's back).
    NotReady,
}

impl<E> From<E> for Error<E> {
    fn from(e: E) -> Self {
        Error::I2c(e)
    }
}

/// How long [`Lis3dh::read_when_ready`] waits between polls of `STATUS_REG`.
pub const POLL_US: u32 = 1_000;
/// How many times [`Lis3dh::read_when_ready`] polls before giving up (with [`POLL_US`]: 0.2 s,
/// twice the slowest period used by the firmware, 100 ms at 10 Hz).
pub const READY_POLLS: u32 = 200;

/// A LIS3DH on an I2C bus.
#[derive(Debug)]
pub struct Lis3dh<I2C> {
    i2c: I2C,
    address: u8,
    range: Range,
}

impl<I2C: I2c> Lis3dh<I2C> {
    /// A driver for the sensor at `address`; no bus traffic until [`init`](Lis3dh::init).
    pub const fn new(i2c: I2C, address: Address) -> Self {
        Lis3dh {
            i2c,
            address: address.bits(),
            range: Range::G2,
        }
    }

    /// Checks `WHO_AM_I`, then starts sampling all three axes at `rate` in high-resolution mode
    /// with full scale `range` and block data update (the two bytes of an axis always come from
    /// the same sample). Three transactions, in this order: read `WHO_AM_I`, write `CTRL_REG1`,
    /// write `CTRL_REG4`.
    ///
    /// # Errors
    /// [`Error::I2c`] from the bus, [`Error::WrongDevice`] with the identifier read; nothing
    /// is written to a part that is not a LIS3DH.
    pub fn init(&mut self, range: Range, rate: DataRate) -> Result<(), Error<I2C::Error>> {
        let id = self.read_register(WHO_AM_I)?;
        if id != DEVICE_ID {
            return Err(Error::WrongDevice(id));
        }
        self.i2c
            .write(self.address, &[CTRL_REG1, rate.odr_bits() << 4 | 0b111])?;
        self.i2c.write(
            self.address,
            &[CTRL_REG4, 0x80 | range.fs_bits() << 4 | 0x08],
        )?;
        self.range = range;
        Ok(())
    }

    /// The full scale set by the last successful [`init`](Lis3dh::init) (±2 g before).
    pub const fn range(&self) -> Range {
        self.range
    }

    /// One register.
    ///
    /// # Errors
    /// [`Error::I2c`].
    pub fn read_register(&mut self, register: u8) -> Result<u8, Error<I2C::Error>> {
        let mut byte = [0u8];
        self.i2c.write_read(self.address, &[register], &mut byte)?;
        Ok(byte[0])
    }

    /// `STATUS_REG` and the three outputs in one transaction: `None` if `ZYXDA` is clear (no
    /// new data since the last reading), else the reading in mg.
    ///
    /// # Errors
    /// [`Error::I2c`].
    pub fn read(&mut self) -> Result<Option<Accel>, Error<I2C::Error>> {
        let mut b = [0u8; 7];
        self.i2c
            .write_read(self.address, &[STATUS_REG | AUTO_INCREMENT], &mut b)?;
        if b[0] & ZYXDA == 0 {
            return Ok(None);
        }
        Ok(Some(Accel {
            x: scale([b[1], b[2]], self.range),
            y: scale([b[3], b[4]], self.range),
            z: scale([b[5], b[6]], self.range),
        }))
    }

    /// Polls [`read`](Lis3dh::read) every [`POLL_US`] until a new reading is ready.
    ///
    /// # Errors
    /// [`Error::I2c`]; [`Error::NotReady`] after [`READY_POLLS`] polls without data.
    pub fn read_when_ready<D: DelayNs>(
        &mut self,
        delay: &mut D,
    ) -> Result<Accel, Error<I2C::Error>> {
        for _ in 0..READY_POLLS {
            if let Some(a) = self.read()? {
                return Ok(a);
            }
            delay.delay_us(POLL_US);
        }
        Err(Error::NotReady)
    }

    /// Gives the bus back.
    pub fn release(self) -> I2C {
        self.i2c
    }
}

/// A raw little-endian, left-justified output pair to mg in high-resolution mode: 12 bits
/// (arithmetic shift right by 4) times the sensitivity. Cannot overflow: `|raw >> 4| ≤ 2048`
/// and `2048 · 12 = 24 576 < 32 767`.
pub const fn scale(le: [u8; 2], range: Range) -> i16 {
    (i16::from_le_bytes(le) >> 4) * range.mg_per_digit()
}

//! [`SimFlash`]: a NOR flash in RAM that can lose power at a chosen operation, for testing
//! checkpoint code on the host (and in firmware self-tests). Compiled only with the `sim-flash`
//! feature: it is a test double, not part of the default API.

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash,
};

/// How the interrupted operation is left when power is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// The operation did not start: nothing changed.
    Before,
    /// The operation stopped half way: a write programmed its first half of write units and
    /// then half the bits of the next unit (a partially programmed word: some of the bits that
    /// should have been cleared are still 1); an erase erased its first half of sectors and then
    /// every other byte of the next one.
    Midway,
}

/// A power cut: operation number `op` (0-based count of `write` and `erase` calls since the cut
/// was armed) is interrupted as `tear` says, and every later operation fails until
/// [`power_on`](SimFlash::power_on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The operation that is interrupted.
    pub op: u32,
    /// How it is left.
    pub tear: Tear,
}

/// A NOR flash of `SIZE` bytes in RAM with `WRITE`-byte write units and `ERASE`-byte sectors
/// (`READ_SIZE` 4). NOR semantics: erase sets every byte of a sector to `0xFF`; a write can only
/// clear bits (the stored byte becomes `old & new`); misaligned or out-of-bounds calls fail.
///
/// It counts operations and write units programmed when not fully erased
/// ([`overwrites`](SimFlash::overwrites)): flash with ECC (STM32L4, H7) forbids those, so
/// checkpoint code should never cause one.
#[derive(Clone, Debug)]
pub struct SimFlash<const SIZE: usize, const WRITE: usize, const ERASE: usize> {
    mem: [u8; SIZE],
    ops: u32,
    cut: Option<Cut>,
    powered: bool,
    overwrites: u32,
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> Default
    for SimFlash<SIZE, WRITE, ERASE>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> SimFlash<SIZE, WRITE, ERASE> {
    /// An erased flash (every byte `0xFF`), powered, no cut armed.
    pub const fn new() -> Self {
        SimFlash {
            mem: [0xFF; SIZE],
            ops: 0,
            cut: None,
            powered: true,
            overwrites: 0,
        }
    }

    /// Arms a power cut (and restarts the operation count), or disarms it with `None`.
    pub fn arm(&mut self, cut: Option<Cut>) {
        self.cut = cut;
        self.ops = 0;
    }

    /// Restores power after a cut and disarms it; the contents stay as the cut left them.
    pub fn power_on(&mut self) {
        self.powered = true;
        self.cut = None;
        self.ops = 0;
    }

    /// Whether the power is on.
    pub const fn is_powered(&self) -> bool {
        self.powered
    }

    /// `write` and `erase` calls since the last [`arm`](Self::arm) or
    /// [`power_on`](Self::power_on).
    pub const fn ops(&self) -> u32 {
        self.ops
    }

    /// Write units programmed while not fully erased, since construction.
    pub const fn overwrites(&self) -> u32 {
        self.overwrites
    }

    /// The raw contents.
    pub const fn bytes(&self) -> &[u8; SIZE] {
        &self.mem
    }

    /// The raw contents, mutably (to corrupt them in tests).
    pub fn bytes_mut(&mut self) -> &mut [u8; SIZE] {
        &mut self.mem
    }

    /// Counts an operation; `Some(tear)` if it is the one to interrupt, an error if the power is
    /// already off.
    fn begin(&mut self) -> Result<Option<Tear>, NorFlashErrorKind> {
        if !self.powered {
            return Err(NorFlashErrorKind::Other);
        }
        let op = self.ops;
        self.ops = self.ops.wrapping_add(1);
        match self.cut {
            Some(cut) if cut.op == op => {
                self.powered = false;
                Ok(Some(cut.tear))
            }
            _ => Ok(None),
        }
    }

    fn program(&mut self, at: usize, data: &[u8], mask: u8) {
        if let Some(dst) = self.mem.get_mut(at..at + data.len()) {
            if dst.iter().any(|&b| b != 0xFF) {
                self.overwrites += 1;
            }
            for (d, &s) in dst.iter_mut().zip(data) {
                *d &= s | mask;
            }
        }
    }
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> ErrorType
    for SimFlash<SIZE, WRITE, ERASE>
{
    type Error = NorFlashErrorKind;
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> ReadNorFlash
    for SimFlash<SIZE, WRITE, ERASE>
{
    const READ_SIZE: usize = 4;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if !self.powered {
            return Err(NorFlashErrorKind::Other);
        }
        check_read(self, offset, bytes.len())?;
        let at = offset as usize;
        let src = self
            .mem
            .get(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> NorFlash
    for SimFlash<SIZE, WRITE, ERASE>
{
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        let tear = self.begin()?;
        let (from, to) = (from as usize, to as usize);
        let sectors = (to - from) / ERASE;
        let done = match tear {
            None => sectors,
            Some(Tear::Before) => 0,
            Some(Tear::Midway) => sectors / 2,
        };
        self.mem
            .get_mut(from..from + done * ERASE)
            .unwrap_or_default()
            .fill(0xFF);
        if tear == Some(Tear::Midway) {
            let next = from + done * ERASE;
            let part = self.mem.get_mut(next..next + ERASE).unwrap_or_default();
            part.iter_mut().step_by(2).for_each(|b| *b = 0xFF);
        }
        match tear {
            None => Ok(()),
            Some(_) => Err(NorFlashErrorKind::Other),
        }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let tear = self.begin()?;
        let at = offset as usize;
        let units = bytes.len() / WRITE;
        let done = match tear {
            None => units,
            Some(Tear::Before) => 0,
            Some(Tear::Midway) => units / 2,
        };
        for (u, unit) in bytes.chunks_exact(WRITE).enumerate() {
            if u < done {
                self.program(at + u * WRITE, unit, 0);
            } else if u == done && tear == Some(Tear::Midway) {
                // Half the bits of this unit stay 1 whatever was to be programmed.
                self.program(at + u * WRITE, unit, 0x55);
            }
        }
        match tear {
            None => Ok(()),
            Some(_) => Err(NorFlashErrorKind::Other),
        }
    }
}

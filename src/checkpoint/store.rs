//! [`Store`]: two checkpoint slots on a NOR flash, written so that a power cut at any point
//! leaves the newest complete checkpoint restorable.

use super::codec::{Checkpointable, Progress, Sink, Source, Tag};
use super::error::Part;
use super::runtime::RuntimePart;
use super::CheckpointError;
use crate::io::CRC32;
use crc::{Digest, NoTable};
use embedded_storage::nor_flash::{NorFlash, NorFlashError};

/// The first word of every checkpoint: the bytes `ETCK`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"ETCK");
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// Parts in a version-1 checkpoint: parameters, optimizer, progress.
const PARTS: usize = 3;
/// Header words of a version-1 checkpoint: 8 fixed words and 4 per part.
pub const HEADER_WORDS: usize = 8 + 4 * PARTS;
/// Bytes moved per flash read or write call (a stack buffer); `READ_SIZE` and `WRITE_SIZE` must
/// divide it.
pub const CHUNK: usize = 128;

const fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

fn flash_err<E: NorFlashError>(e: E) -> CheckpointError {
    CheckpointError::Flash(e.kind())
}

/// Whether sequence number `a` is newer than `b` (serial-number arithmetic: wraps cleanly,
/// since the two slots' numbers always differ by far less than `2^31`).
const fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Which slot a checkpoint came from, and its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    /// The slot, 0 or 1.
    pub slot: usize,
    /// The sequence number (higher is newer, with wrap-around).
    pub sequence: u32,
}

/// The first [`HEADER_WORDS`] words of a slot whose CRC checked out.
#[derive(Clone, Copy, Debug)]
struct Header {
    words: [u32; HEADER_WORDS],
    header_words: usize,
    payload_words: usize,
}

impl Header {
    fn version(&self) -> u32 {
        self.words[1]
    }
    fn sequence(&self) -> u32 {
        self.words[4]
    }
}

/// What one slot holds.
enum SlotState {
    /// No magic: erased, never written, or foreign data.
    Empty,
    /// The magic, but the header or the CRC is wrong.
    Damaged(CheckpointError),
    /// A complete record (any version).
    Valid(Header),
}

/// Reads words from one slot through `CHUNK`-byte reads at chunk-aligned offsets.
struct Reader<'a, F> {
    flash: &'a mut F,
    start: u32,
    slot_len: usize,
    pos: usize,
    end: usize,
    buf: [u8; CHUNK],
    loaded: Option<usize>,
    digest: Option<Digest<'static, u32, NoTable>>,
}

impl<'a, F: NorFlash> Reader<'a, F> {
    fn new(flash: &'a mut F, start: u32, slot_len: usize, pos: usize, end: usize) -> Self {
        Reader {
            flash,
            start,
            slot_len,
            pos,
            end,
            buf: [0; CHUNK],
            loaded: None,
            digest: None,
        }
    }
}

impl<F: NorFlash> Source for Reader<'_, F> {
    fn take(&mut self) -> Result<u32, CheckpointError> {
        if self.pos + 4 > self.end {
            return Err(CheckpointError::BadHeader);
        }
        let chunk = self.pos / CHUNK;
        if self.loaded != Some(chunk) {
            let at = chunk * CHUNK;
            let n = CHUNK.min(self.slot_len - at);
            let buf = self.buf.get_mut(..n).ok_or(CheckpointError::BadHeader)?;
            self.flash
                .read(self.start + at as u32, buf)
                .map_err(flash_err)?;
            self.loaded = Some(chunk);
        }
        let i = self.pos % CHUNK;
        let bytes: [u8; 4] = self
            .buf
            .get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(CheckpointError::BadHeader)?;
        if let Some(d) = self.digest.as_mut() {
            d.update(&bytes);
        }
        self.pos += 4;
        Ok(u32::from_le_bytes(bytes))
    }
}

/// Writes words to one (erased) slot in `CHUNK`-byte writes, computing the CRC as it goes.
struct Writer<'a, F> {
    flash: &'a mut F,
    start: u32,
    offset: usize,
    fill: usize,
    words: usize,
    buf: [u8; CHUNK],
    digest: Digest<'static, u32, NoTable>,
    /// Where each part's words must end (header included).
    ends: [usize; PARTS],
}

impl<F: NorFlash> Writer<'_, F> {
    /// Checks that part `i` wrote exactly the words its header entry announced.
    fn part_done(&self, i: usize) -> Result<(), CheckpointError> {
        if self.ends.get(i) == Some(&self.words) {
            Ok(())
        } else {
            Err(CheckpointError::InvalidValue {
                what: "a part wrote a different length from its WORDS",
            })
        }
    }

    /// Writes what is buffered (padded with `0xFF` to `WRITE_SIZE`), then the CRC in its own
    /// write unit, last: until that write completes the slot cannot validate.
    fn finish(mut self) -> Result<(), CheckpointError> {
        if self.fill > 0 {
            let padded = align_up(self.fill, F::WRITE_SIZE);
            let buf = self
                .buf
                .get_mut(..padded)
                .ok_or(CheckpointError::BadHeader)?;
            buf.get_mut(self.fill..).unwrap_or_default().fill(0xFF);
            self.flash
                .write(self.start + self.offset as u32, buf)
                .map_err(flash_err)?;
            self.offset += padded;
        }
        let crc = self.digest.finalize();
        let len = align_up(4, F::WRITE_SIZE);
        let buf = self.buf.get_mut(..len).ok_or(CheckpointError::BadHeader)?;
        buf.fill(0xFF);
        buf.get_mut(..4)
            .unwrap_or_default()
            .copy_from_slice(&crc.to_le_bytes());
        self.flash
            .write(self.start + self.offset as u32, buf)
            .map_err(flash_err)
    }
}

impl<F: NorFlash> Sink for Writer<'_, F> {
    fn put(&mut self, word: u32) -> Result<(), CheckpointError> {
        let bytes = word.to_le_bytes();
        self.buf
            .get_mut(self.fill..self.fill + 4)
            .ok_or(CheckpointError::BadHeader)?
            .copy_from_slice(&bytes);
        self.digest.update(&bytes);
        self.fill += 4;
        self.words += 1;
        if self.fill == CHUNK {
            self.flash
                .write(self.start + self.offset as u32, &self.buf)
                .map_err(flash_err)?;
            self.offset += CHUNK;
            self.fill = 0;
        }
        Ok(())
    }
}

/// Two checkpoint slots in a NOR flash: `[base, base + slot_size)` and
/// `[base + slot_size, base + 2·slot_size)`, each a whole number of erase sectors.
///
/// [`save`](Store::save) writes into the slot that does not hold the newest valid checkpoint;
/// [`restore`](Store::restore) reads the newest valid one. See the [module docs](super) for the
/// format and the guarantees. `F` may be a `&mut` to a driver (the traits are implemented for
/// references). RAM: the driver, two words, and a 128-byte stack buffer while saving or
/// restoring.
#[derive(Debug)]
pub struct Store<F> {
    flash: F,
    base: u32,
    slot_size: u32,
}

impl<F: NorFlash> Store<F> {
    /// A store over two slots of `slot_size` bytes from `base`.
    ///
    /// # Errors
    /// [`CheckpointError::Geometry`] unless `base` and `slot_size` are multiples of
    /// `ERASE_SIZE` (and of 4 and `READ_SIZE`), `slot_size > 0`, both slots fit in the flash's
    /// capacity, and `WRITE_SIZE` and `READ_SIZE` divide [`CHUNK`].
    pub fn new(flash: F, base: u32, slot_size: u32) -> Result<Self, CheckpointError> {
        let geometry = |reason| Err(CheckpointError::Geometry { reason });
        let (b, s) = (base as usize, slot_size as usize);
        if F::WRITE_SIZE == 0 || F::READ_SIZE == 0 || F::ERASE_SIZE == 0 {
            return geometry("a flash size constant is 0");
        }
        if !CHUNK.is_multiple_of(F::WRITE_SIZE) || !CHUNK.is_multiple_of(F::READ_SIZE) {
            return geometry("WRITE_SIZE and READ_SIZE must divide 128");
        }
        if s == 0
            || !s.is_multiple_of(F::ERASE_SIZE)
            || !s.is_multiple_of(4)
            || !s.is_multiple_of(F::READ_SIZE)
        {
            return geometry("slot_size must be a nonzero multiple of ERASE_SIZE, READ_SIZE and 4");
        }
        if !b.is_multiple_of(F::ERASE_SIZE) {
            return geometry("base must be a multiple of ERASE_SIZE");
        }
        match s.checked_mul(2).and_then(|two| two.checked_add(b)) {
            Some(end) if end <= flash.capacity() => {}
            _ => return geometry("two slots from base do not fit in the flash"),
        }
        Ok(Store {
            flash,
            base,
            slot_size,
        })
    }

    /// The flash driver.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash driver, mutably (do not write inside the slots).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash driver back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// Bytes of one slot a checkpoint of these parts occupies: header and payload padded to
    /// `WRITE_SIZE`, then the CRC in its own write unit. A slot must be at least this, rounded
    /// up to `ERASE_SIZE`.
    pub const fn record_bytes<P: Checkpointable, O: Checkpointable>() -> usize {
        let words = HEADER_WORDS + P::WORDS + O::WORDS + Progress::WORDS;
        align_up(words * 4, F::WRITE_SIZE) + align_up(4, F::WRITE_SIZE)
    }

    /// [`record_bytes`](Self::record_bytes) for parts whose sizes are known at run time;
    /// `None` if it does not fit a `usize`.
    pub fn record_bytes_of<P: RuntimePart + ?Sized, O: RuntimePart + ?Sized>(
        params: &P,
        optimizer: &O,
    ) -> Option<usize> {
        let words = [params.words(), optimizer.words(), Progress::WORDS]
            .into_iter()
            .try_fold(HEADER_WORDS, usize::checked_add)?;
        let bytes = words
            .checked_mul(4)?
            .checked_next_multiple_of(F::WRITE_SIZE)?;
        bytes.checked_add(align_up(4, F::WRITE_SIZE))
    }

    fn slot_start(&self, slot: usize) -> u32 {
        self.base + slot as u32 * self.slot_size
    }

    /// Reads one slot's header and checks its CRC.
    fn scan(&mut self, slot: usize) -> Result<SlotState, CheckpointError> {
        let start = self.slot_start(slot);
        let len = self.slot_size as usize;
        let mut r = Reader::new(&mut self.flash, start, len, 0, len);
        r.digest = Some(CRC32.digest());
        if r.take()? != MAGIC {
            return Ok(SlotState::Empty);
        }
        let mut words = [0u32; HEADER_WORDS];
        words[0] = MAGIC;
        for w in words.iter_mut().take(5).skip(1) {
            *w = r.take()?;
        }
        let (header_words, payload_words) = (words[2] as usize, words[3] as usize);
        let record = header_words
            .checked_add(payload_words)
            .and_then(|w| w.checked_mul(4));
        let fits = match record {
            Some(bytes) if header_words >= 5 => {
                let crc_at = align_up(bytes, F::WRITE_SIZE);
                crc_at.checked_add(4).is_some_and(|end| end <= len)
            }
            _ => false,
        };
        let Some(record) = record.filter(|_| fits) else {
            return Ok(SlotState::Damaged(CheckpointError::BadHeader));
        };
        for i in 5..header_words + payload_words {
            let w = r.take()?;
            if let Some(slot) = words.get_mut(i).filter(|_| i < header_words) {
                *slot = w;
            }
        }
        let computed = r.digest.take().map_or(0, |d| d.finalize());
        r.pos = align_up(record, F::WRITE_SIZE);
        let stored = r.take()?;
        if stored != computed {
            return Ok(SlotState::Damaged(CheckpointError::BadCrc {
                stored,
                computed,
            }));
        }
        Ok(SlotState::Valid(Header {
            words,
            header_words,
            payload_words,
        }))
    }

    /// The slot holding the newest complete checkpoint and its header, or why there is none.
    fn newest_valid(&mut self) -> Result<(usize, Header), CheckpointError> {
        let states = [self.scan(0)?, self.scan(1)?];
        let mut best: Option<(usize, Header)> = None;
        let mut damage = None;
        for (slot, state) in states.into_iter().enumerate() {
            match state {
                SlotState::Empty => {}
                SlotState::Damaged(e) => damage = damage.or(Some(e)),
                SlotState::Valid(h) => {
                    if best.is_none_or(|(_, b)| newer(h.sequence(), b.sequence())) {
                        best = Some((slot, h));
                    }
                }
            }
        }
        best.ok_or(damage.unwrap_or(CheckpointError::NoCheckpoint))
    }

    /// The slot and sequence number of the newest complete checkpoint (of any version or shape).
    ///
    /// # Errors
    /// [`CheckpointError::NoCheckpoint`], [`CheckpointError::BadCrc`] or
    /// [`CheckpointError::BadHeader`] if neither slot holds a complete checkpoint; a flash error.
    pub fn newest(&mut self) -> Result<Saved, CheckpointError> {
        self.newest_valid().map(|(slot, h)| Saved {
            slot,
            sequence: h.sequence(),
        })
    }

    /// Saves parameters, optimizer and progress as a new checkpoint, into the slot that does not
    /// hold the newest valid checkpoint: erase, write header and payload, then the CRC last.
    ///
    /// `params` is usually the trainable arena (`[S; N]`, e.g. a network's `trainable()`);
    /// `optimizer` any optimizer, or `&()` for none.
    ///
    /// # Errors
    /// [`CheckpointError::TooLarge`] (nothing written) or a flash error; on any error, including
    /// a power cut, the previous newest checkpoint is still the one [`restore`](Store::restore)
    /// returns.
    pub fn save<P: Checkpointable, O: Checkpointable>(
        &mut self,
        params: &P,
        optimizer: &O,
        progress: &Progress,
    ) -> Result<Saved, CheckpointError> {
        let parts = [
            (P::TAG, P::WORDS),
            (O::TAG, O::WORDS),
            (Progress::TAG, Progress::WORDS),
        ];
        self.write_record(Self::record_bytes::<P, O>(), parts, |w| {
            params.save(w)?;
            w.part_done(0)?;
            optimizer.save(w)?;
            w.part_done(1)?;
            progress.save(w)?;
            w.part_done(2)
        })
    }

    /// [`save`](Self::save) for parts whose sizes are known only at run time (a parameter
    /// slice, a run-time-sized optimizer of `dynamic`, a `dyn RuntimePart`, `&()` for none): the same record, byte
    /// for byte, as `save` writes for the `[S; N]` arena and optimizer of the same sizes.
    ///
    /// # Errors
    /// As [`save`](Self::save).
    pub fn save_parts<P: RuntimePart + ?Sized, O: RuntimePart + ?Sized>(
        &mut self,
        params: &P,
        optimizer: &O,
        progress: &Progress,
    ) -> Result<Saved, CheckpointError> {
        let slot = self.slot_size as usize;
        let needed = Self::record_bytes_of(params, optimizer).ok_or(CheckpointError::TooLarge {
            needed: usize::MAX,
            slot,
        })?;
        let parts = [
            (params.tag(), params.words()),
            (optimizer.tag(), optimizer.words()),
            (Progress::TAG, Progress::WORDS),
        ];
        self.write_record(needed, parts, |w| {
            params.save_words(w)?;
            w.part_done(0)?;
            optimizer.save_words(w)?;
            w.part_done(1)?;
            progress.save(w)?;
            w.part_done(2)
        })
    }

    /// Writes a record of `needed` bytes whose parts `parts` describes into the slot that does
    /// not hold the newest valid checkpoint: erase, header, `payload`, CRC last.
    fn write_record(
        &mut self,
        needed: usize,
        parts: [(Tag, usize); PARTS],
        payload: impl FnOnce(&mut Writer<'_, F>) -> Result<(), CheckpointError>,
    ) -> Result<Saved, CheckpointError> {
        let slot_len = self.slot_size as usize;
        let too_large = |needed| CheckpointError::TooLarge {
            needed,
            slot: slot_len,
        };
        if needed > slot_len {
            return Err(too_large(needed));
        }
        let word = |n: usize| u32::try_from(n).map_err(|_| too_large(needed));
        let mut ends = [0; PARTS];
        let mut end = HEADER_WORDS;
        for (e, (_, words)) in ends.iter_mut().zip(&parts) {
            end = end.checked_add(*words).ok_or(too_large(needed))?;
            *e = end;
        }
        let payload_words = word(end - HEADER_WORDS)?;
        let (slot, sequence) = match self.newest_valid() {
            Ok((keep, h)) => (1 - keep, h.sequence().wrapping_add(1)),
            Err(CheckpointError::Flash(e)) => return Err(CheckpointError::Flash(e)),
            Err(_) => (0, 1),
        };
        let start = self.slot_start(slot);
        let sectors = needed.div_ceil(F::ERASE_SIZE);
        for s in 0..sectors {
            let from = start + (s * F::ERASE_SIZE) as u32;
            self.flash
                .erase(from, from + F::ERASE_SIZE as u32)
                .map_err(flash_err)?;
        }
        let mut w = Writer {
            flash: &mut self.flash,
            start,
            offset: 0,
            fill: 0,
            words: 0,
            buf: [0xFF; CHUNK],
            digest: CRC32.digest(),
            ends,
        };
        for x in [
            MAGIC,
            VERSION,
            HEADER_WORDS as u32,
            payload_words,
            sequence,
            PARTS as u32,
            0,
            0,
        ] {
            w.put(x)?;
        }
        for (tag, words) in parts {
            for x in [tag.kind_code(), tag.number, tag.elements, word(words)?] {
                w.put(x)?;
            }
        }
        payload(&mut w)?;
        w.finish()?;
        Ok(Saved { slot, sequence })
    }

    /// Restores the newest valid checkpoint into `params`, `optimizer` (its configuration too:
    /// call `set_config` afterwards to change it) and `progress`.
    ///
    /// Everything is validated first: the CRC, the version, every part's kind, number type and
    /// size, and every stored value (each hyperparameter, each state encoding); only then is
    /// anything written. On an error the destinations are untouched.
    ///
    /// # Errors
    /// [`CheckpointError::NoCheckpoint`], [`BadCrc`](CheckpointError::BadCrc),
    /// [`BadHeader`](CheckpointError::BadHeader) when no slot holds a complete checkpoint;
    /// [`UnsupportedVersion`](CheckpointError::UnsupportedVersion),
    /// [`WrongKind`](CheckpointError::WrongKind),
    /// [`WrongNumberType`](CheckpointError::WrongNumberType),
    /// [`WrongShape`](CheckpointError::WrongShape),
    /// [`InvalidConfig`](CheckpointError::InvalidConfig) or
    /// [`InvalidValue`](CheckpointError::InvalidValue) when the newest one does not fit the
    /// destinations; a flash error.
    pub fn restore<P: Checkpointable, O: Checkpointable>(
        &mut self,
        params: &mut P,
        optimizer: &mut O,
        progress: &mut Progress,
    ) -> Result<Saved, CheckpointError> {
        let parts = [
            (Part::Params, P::TAG, P::WORDS),
            (Part::Optimizer, O::TAG, O::WORDS),
            (Part::Progress, Progress::TAG, Progress::WORDS),
        ];
        self.read_record(
            parts,
            (params, optimizer, progress),
            |_, r| {
                P::check(r)?;
                O::check(r)?;
                Progress::check(r)
            },
            |(params, optimizer, progress), r| {
                params.load(r)?;
                optimizer.load(r)?;
                progress.load(r)
            },
        )
    }

    /// [`restore`](Self::restore) into parts whose sizes are known only at run time; reads
    /// exactly the records `restore` reads for the `[S; N]` arena and optimizer of the same
    /// sizes, with the same validation before anything is written.
    ///
    /// # Errors
    /// As [`restore`](Self::restore).
    pub fn restore_parts<P: RuntimePart + ?Sized, O: RuntimePart + ?Sized>(
        &mut self,
        params: &mut P,
        optimizer: &mut O,
        progress: &mut Progress,
    ) -> Result<Saved, CheckpointError> {
        let parts = [
            (Part::Params, params.tag(), params.words()),
            (Part::Optimizer, optimizer.tag(), optimizer.words()),
            (Part::Progress, Progress::TAG, Progress::WORDS),
        ];
        self.read_record(
            parts,
            (params, optimizer, progress),
            |(params, optimizer, _), r| {
                params.check_words(r)?;
                optimizer.check_words(r)?;
                Progress::check(r)
            },
            |(params, optimizer, progress), r| {
                params.load_words(r)?;
                optimizer.load_words(r)?;
                progress.load(r)
            },
        )
    }

    /// Restores the newest valid record whose header matches `parts` into `dest`: `check`
    /// decodes and validates every value writing nothing, then `load` reads the same words into
    /// the destinations.
    fn read_record<D>(
        &mut self,
        parts: [(Part, Tag, usize); PARTS],
        mut dest: D,
        check: impl FnOnce(&D, &mut Reader<'_, F>) -> Result<(), CheckpointError>,
        load: impl FnOnce(&mut D, &mut Reader<'_, F>) -> Result<(), CheckpointError>,
    ) -> Result<Saved, CheckpointError> {
        let (slot, h, end) = self.validate_header(&parts)?;
        let start = self.slot_start(slot);
        let len = self.slot_size as usize;
        // Pass 1: decode and check every value, writing nothing.
        check(
            &dest,
            &mut Reader::new(&mut self.flash, start, len, HEADER_WORDS * 4, end),
        )?;
        // Pass 2: the same words, into the destinations.
        load(
            &mut dest,
            &mut Reader::new(&mut self.flash, start, len, HEADER_WORDS * 4, end),
        )?;
        Ok(Saved {
            slot,
            sequence: h.sequence(),
        })
    }

    /// The newest valid slot, its header and the byte offset where its payload ends, if its
    /// version and every part's kind, number type and size match `parts`.
    fn validate_header(
        &mut self,
        parts: &[(Part, Tag, usize); PARTS],
    ) -> Result<(usize, Header, usize), CheckpointError> {
        let (slot, h) = self.newest_valid()?;
        if h.version() != VERSION {
            return Err(CheckpointError::UnsupportedVersion { found: h.version() });
        }
        let w = &h.words;
        if h.header_words != HEADER_WORDS || w[5] != PARTS as u32 || w[6] != 0 || w[7] != 0 {
            return Err(CheckpointError::BadHeader);
        }
        let mut total = 0usize;
        for (i, &(part, tag, words)) in parts.iter().enumerate() {
            let d = &w[8 + 4 * i..12 + 4 * i];
            if d[0] != tag.kind_code() {
                return Err(CheckpointError::WrongKind {
                    part,
                    expected: tag.kind_code(),
                    found: d[0],
                });
            }
            if d[1] != tag.number {
                return Err(CheckpointError::WrongNumberType {
                    part,
                    expected: tag.number,
                    found: d[1],
                });
            }
            if d[2] != tag.elements {
                return Err(CheckpointError::WrongShape {
                    part,
                    expected: tag.elements,
                    found: d[2],
                });
            }
            if d[3] as usize != words {
                return Err(CheckpointError::WrongShape {
                    part,
                    expected: u32::try_from(words).unwrap_or(u32::MAX),
                    found: d[3],
                });
            }
            total = total.saturating_add(words);
        }
        if h.payload_words != total {
            return Err(CheckpointError::BadHeader);
        }
        Ok((slot, h, (HEADER_WORDS + total) * 4))
    }
}

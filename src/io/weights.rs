//! The edgetune weight file (`.etw`): a trained network's parameters, checked and copied into
//! a flat parameter arena without allocating.
//!
//! `scripts/export_weights.py` writes it from a PyTorch `state_dict` of an `nn.Sequential` of
//! `nn.Linear` layers and activations (and, as the alternative path, Rust source with the same
//! values as a `const` array); `scripts/export_model.py` writes it, with the `cnn!` declaration,
//! from a torch CNN (a convolution is the entry `(KH·KW·C_in/G, C_out)`, a batch norm `(1, C)`;
//! a `cnn!` network's `WEIGHT_SHAPES` lists them).
//!
//! ```
//! use edgetune::io::weights;
//! # fn main() -> Result<(), edgetune::io::LoadError> {
//! # let file = edgetune_doc_file();
//! // A 2-3-1 MLP: two dense layers, shapes as (inputs, outputs).
//! const SHAPES: [(usize, usize); 2] = [(2, 3), (3, 1)];
//! let mut arena = [0.0f32; 2 * 3 + 3 + 3 * 1 + 1];
//! weights::load_f32(&file, &SHAPES, &mut arena)?;
//! assert_eq!(arena[0], 0.5); // W1[0][0]
//! // A file for another model is refused, and `arena` is left as it was.
//! assert!(weights::load_f32(&file, &[(2, 4), (4, 1)], &mut arena).is_err());
//! # Ok(())
//! # }
//! # fn edgetune_doc_file() -> Vec<u8> {
//! #     let mut f = Vec::new();
//! #     f.extend_from_slice(b"ETWF\x01\x00\x01\x00\x02\x00\x00\x00");
//! #     f.extend_from_slice(&(13u32 * 4).to_le_bytes());
//! #     for (i, o) in [(2u32, 3u32), (3, 1)] {
//! #         f.extend_from_slice(&[1, 0, 0, 0]);
//! #         f.extend_from_slice(&i.to_le_bytes());
//! #         f.extend_from_slice(&o.to_le_bytes());
//! #     }
//! #     for k in 0..13 { f.extend_from_slice(&(0.5f32 * (1 + k) as f32).to_le_bytes()); }
//! #     let crc = edgetune::io::crc32(&f);
//! #     f.extend_from_slice(&crc.to_le_bytes());
//! #     f
//! # }
//! ```
//!
//! # Format `ETWF` version 1
//! All integers little-endian. `L` is the layer count, `P` the payload length in bytes.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"ETWF"` (`45 54 57 46`) |
//! | 4 | 2 | format version, `u16` = 1 |
//! | 6 | 1 | number type, `u8`: 1 = `f32`, 2 = I16F16, 3 = I8F24 (see [`NumberType`]) |
//! | 7 | 1 | reserved, `u8` = 0 |
//! | 8 | 2 | layer count `L`, `u16` |
//! | 10 | 2 | reserved, `u16` = 0 |
//! | 12 | 4 | payload length `P` in bytes, `u32` |
//! | 16 | 12·`L` | layer table, 12 bytes per layer (below) |
//! | 16 + 12·`L` | `P` | payload: every element as 4 bytes (below) |
//! | 16 + 12·`L` + `P` | 4 | CRC-32/ISO-HDLC of bytes `0 .. 16 + 12·L + P`, `u32` |
//!
//! A layer table entry:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | kind, `u16`: 1 = dense (`y = W x + b`) |
//! | 2 | 2 | reserved, `u16` = 0 |
//! | 4 | 4 | inputs `I`, `u32` |
//! | 8 | 4 | outputs `O`, `u32` |
//!
//! The payload is the layers in order; a dense layer is `W` row-major `[O][I]` (row `o` holds
//! the weights into output `o`) then `b` `[O]`, i.e. `nn.Linear`'s `weight` then `bias` in
//! `state_dict` order, and the layout of [`nn::dense::split`](crate::nn::dense::split). So
//! `P = 4 · Σ (I·O + O)`, and the payload is exactly the flat parameter arena an
//! [`Optimizer`](crate::optim::Optimizer) steps. An element is 4 bytes in every number type:
//! an `f32` as its IEEE 754 bits, a fixed-point number as its raw `i32` bits.
//!
//! The file's total length is `16 + 12·L + P + 4`; for a 64-32-10 MLP (2,410 parameters) that
//! is 9,684 bytes.
//!
//! # What parsing checks
//! [`parse`] checks, in order: magic ([`LoadError::BadMagic`]), version
//! ([`LoadError::UnsupportedVersion`]), exact length ([`LoadError::Truncated`],
//! [`LoadError::TrailingBytes`]), CRC ([`LoadError::CrcMismatch`]), number-type code
//! ([`LoadError::UnknownNumberType`]), reserved fields ([`LoadError::ReservedNotZero`]), the layer
//! count and every layer's kind and shape against the caller's model
//! ([`LoadError::LayerCountMismatch`], [`LoadError::UnknownLayerKind`],
//! [`LoadError::ShapeMismatch`]), and that `P` matches the shapes
//! ([`LoadError::PayloadLengthMismatch`]). Loading then checks the number type
//! ([`LoadError::WrongNumberType`]) and the destination's length
//! ([`LoadError::DestinationLength`]) before writing anything.

use super::{bytes_at, check_frame, u16_at, u32_at, LoadError};

/// The file's magic, `b"ETWF"`.
pub const MAGIC: [u8; 4] = *b"ETWF";
/// The format version this module reads and documents.
pub const VERSION: u16 = 1;
/// Bytes before the layer table.
pub const HEADER_LEN: usize = 16;
/// Bytes per layer table entry.
pub const LAYER_ENTRY_LEN: usize = 12;
/// Bytes per payload element, in every number type.
pub const ELEMENT_LEN: usize = 4;
/// Layer kind code of a dense layer.
pub const KIND_DENSE: u16 = 1;

/// How the payload's 4-byte elements are to be read.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberType {
    /// IEEE 754 binary32 (code 1).
    F32,
    /// Fixed point with 16 integer and 16 fractional bits, stored as its raw `i32` (code 2).
    I16F16,
    /// Fixed point with 8 integer and 24 fractional bits, stored as its raw `i32` (code 3).
    I8F24,
}

impl NumberType {
    /// The type's code in the file header.
    pub const fn code(self) -> u8 {
        match self {
            NumberType::F32 => 1,
            NumberType::I16F16 => 2,
            NumberType::I8F24 => 3,
        }
    }

    /// The type with header code `code`, if there is one.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(NumberType::F32),
            2 => Some(NumberType::I16F16),
            3 => Some(NumberType::I8F24),
            _ => None,
        }
    }
}

/// A checked weight file, borrowed from the bytes it was parsed from.
///
/// Every field has been validated by [`parse`], so loading can fail only on what the caller asks
/// (number type, destination length). Size: one byte and two slices, 5 words with padding
/// (20 bytes on a 32-bit target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weights<'a> {
    number_type: NumberType,
    table: &'a [u8],
    payload: &'a [u8],
}

/// Parses and validates a weight file for a model whose dense layers have the shapes
/// `expected`, each `(inputs, outputs)`, in order.
///
/// Checks everything listed in the [module docs](self); allocates and copies nothing.
///
/// # Errors
/// The first check that fails, as a [`LoadError`].
pub fn parse<'a>(bytes: &'a [u8], expected: &[(usize, usize)]) -> Result<Weights<'a>, LoadError> {
    parse_shapes(bytes, Some(expected))
}

/// Parses and validates a weight file whatever its layer shapes: every check of [`parse`]
/// except the comparison with a model's shapes. The shapes are then
/// [`Weights::shape`]`(0..`[`layer_count`](Weights::layer_count)`)`: for host tools that read
/// a file before knowing its model (a fleet server decoding a device's update).
///
/// # Errors
/// As [`parse`], without [`LoadError::LayerCountMismatch`] and [`LoadError::ShapeMismatch`].
pub fn parse_any(bytes: &[u8]) -> Result<Weights<'_>, LoadError> {
    parse_shapes(bytes, None)
}

/// [`parse`], comparing the table with `expected` when it is given.
fn parse_shapes<'a>(
    bytes: &'a [u8],
    expected: Option<&[(usize, usize)]>,
) -> Result<Weights<'a>, LoadError> {
    let body = check_frame(bytes, MAGIC, VERSION, HEADER_LEN, |header| {
        let layers = usize::from(u16_at(header, 8)?);
        let payload = usize::try_from(u32_at(header, 12)?).ok()?;
        HEADER_LEN
            .checked_add(layers.checked_mul(LAYER_ENTRY_LEN)?)?
            .checked_add(payload)?
            .checked_add(4)
    })?;
    // `check_frame` has checked that `body` holds the header, the table and the payload.
    let truncated = LoadError::Truncated {
        needed: HEADER_LEN,
        found: bytes.len(),
    };
    let code = bytes_at::<1>(body, 6).ok_or(truncated)?[0];
    let number_type = NumberType::from_code(code).ok_or(LoadError::UnknownNumberType { code })?;
    if bytes_at::<1>(body, 7).ok_or(truncated)?[0] != 0 {
        return Err(LoadError::ReservedNotZero { offset: 7 });
    }
    if u16_at(body, 10).ok_or(truncated)? != 0 {
        return Err(LoadError::ReservedNotZero { offset: 10 });
    }
    let layers = usize::from(u16_at(body, 8).ok_or(truncated)?);
    let payload_len = u32_at(body, 12).ok_or(truncated)?;
    let (_, rest) = body.split_at_checked(HEADER_LEN).ok_or(truncated)?;
    let (table, payload) = rest
        .split_at_checked(layers.checked_mul(LAYER_ENTRY_LEN).ok_or(truncated)?)
        .ok_or(truncated)?;

    if let Some(expected) = expected {
        if layers != expected.len() {
            return Err(LoadError::LayerCountMismatch {
                expected: expected.len(),
                found: layers,
            });
        }
    }
    let mut elements: u64 = 0;
    for (layer, entry) in table.chunks_exact(LAYER_ENTRY_LEN).enumerate() {
        let offset = HEADER_LEN + layer * LAYER_ENTRY_LEN;
        let kind = u16_at(entry, 0).ok_or(truncated)?;
        if kind != KIND_DENSE {
            return Err(LoadError::UnknownLayerKind { layer, kind });
        }
        if u16_at(entry, 2).ok_or(truncated)? != 0 {
            return Err(LoadError::ReservedNotZero { offset: offset + 2 });
        }
        let inputs = u32_at(entry, 4).ok_or(truncated)?;
        let outputs = u32_at(entry, 8).ok_or(truncated)?;
        if let Some(&(want_in, want_out)) = expected.and_then(|e| e.get(layer)) {
            if u64::from(inputs) != want_in as u64 || u64::from(outputs) != want_out as u64 {
                return Err(LoadError::ShapeMismatch {
                    layer,
                    expected: (want_in, want_out),
                    found: (saturate(inputs), saturate(outputs)),
                });
            }
        }
        // Both factors fit in u32, so each layer's count fits in u64 without overflow.
        let layer_elements = u64::from(inputs) * u64::from(outputs) + u64::from(outputs);
        elements = elements.saturating_add(layer_elements);
    }
    let payload_bytes = elements.saturating_mul(ELEMENT_LEN as u64);
    if payload_bytes != u64::from(payload_len) {
        return Err(LoadError::PayloadLengthMismatch {
            expected: usize::try_from(payload_bytes).unwrap_or(usize::MAX),
            found: saturate(payload_len),
        });
    }
    Ok(Weights {
        number_type,
        table,
        payload,
    })
}

/// Parses `bytes` for a model with layer shapes `expected` and copies the `f32` weights into
/// `dst`, which must have exactly the file's element count: [`parse`] then
/// [`Weights::load_into`]. Nothing is written unless everything validates.
///
/// # Errors
/// Any error of [`parse`] or [`Weights::load_into`].
pub fn load_f32(
    bytes: &[u8],
    expected: &[(usize, usize)],
    dst: &mut [f32],
) -> Result<(), LoadError> {
    parse(bytes, expected)?.load_into(dst)
}

/// Why [`write_f32`] or [`write_raw`] could not write a file. Nothing useful is in the buffer
/// then (it may be partly written).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The buffer is shorter than the file.
    BufferTooShort {
        /// The file's length in bytes.
        needed: usize,
        /// The buffer's length.
        found: usize,
    },
    /// The parameters are not `Σ (I·O + O)` elements for the shapes given.
    ElementCount {
        /// The element count the shapes call for.
        expected: usize,
        /// The elements given.
        found: usize,
    },
    /// The model cannot be described in the format: more than 65,535 layers, a dimension above
    /// `u32::MAX`, or a payload of more than `u32::MAX` bytes.
    TooLarge,
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            WriteError::BufferTooShort { needed, found } => write!(
                f,
                "buffer of {found} bytes is too short for the {needed}-byte weight file"
            ),
            WriteError::ElementCount { expected, found } => write!(
                f,
                "{found} parameters given, the layer shapes hold {expected}"
            ),
            WriteError::TooLarge => {
                write!(f, "model too large for the weight format")
            }
        }
    }
}

impl core::error::Error for WriteError {}

/// The number of payload elements of `shapes`, `Σ (I·O + O)`, and the file length
/// `16 + 12·L + 4·elements + 4`, checked against the format's field sizes.
fn sizes(shapes: &[(usize, usize)]) -> Result<(usize, usize), WriteError> {
    if shapes.len() > usize::from(u16::MAX) {
        return Err(WriteError::TooLarge);
    }
    let mut elements: usize = 0;
    for &(inputs, outputs) in shapes {
        if u32::try_from(inputs).is_err() || u32::try_from(outputs).is_err() {
            return Err(WriteError::TooLarge);
        }
        elements = inputs
            .checked_mul(outputs)
            .and_then(|w| w.checked_add(outputs))
            .and_then(|n| elements.checked_add(n))
            .ok_or(WriteError::TooLarge)?;
    }
    let payload = elements
        .checked_mul(ELEMENT_LEN)
        .filter(|&p| u32::try_from(p).is_ok())
        .ok_or(WriteError::TooLarge)?;
    let total = HEADER_LEN
        .checked_add(shapes.len() * LAYER_ENTRY_LEN)
        .and_then(|t| t.checked_add(payload))
        .and_then(|t| t.checked_add(4))
        .ok_or(WriteError::TooLarge)?;
    Ok((elements, total))
}

/// The length in bytes of the file [`write_f32`] or [`write_raw`] writes for dense layers of
/// shapes `shapes` (each `(inputs, outputs)`): `16 + 12·L + 4·Σ (I·O + O) + 4`.
///
/// # Errors
/// [`WriteError::TooLarge`] if the format cannot describe the model.
pub fn encoded_len(shapes: &[(usize, usize)]) -> Result<usize, WriteError> {
    sizes(shapes).map(|(_, total)| total)
}

/// Writes a weight file holding the `f32` parameters `params` (the flat arena, torch's order; see
/// the [module docs](self)) of dense layers of shapes `shapes` into the start of `out`, and
/// returns its length ([`encoded_len`]).
///
/// # Errors
/// [`WriteError::TooLarge`], then [`WriteError::ElementCount`] unless `params` has
/// `Σ (I·O + O)` elements, then [`WriteError::BufferTooShort`]; `out` is not written on error.
pub fn write_f32(
    shapes: &[(usize, usize)],
    params: &[f32],
    out: &mut [u8],
) -> Result<usize, WriteError> {
    write_words(
        NumberType::F32,
        shapes,
        params.len(),
        params.iter().map(|p| p.to_bits()),
        out,
    )
}

/// Writes a weight file of number type `number_type` whose payload is the raw 32-bit words `raw`
/// (a fixed-point value's raw bits, or an `f32`'s bits as `i32`), as [`write_f32`] does; the
/// inverse of [`Weights::load_raw_into`].
///
/// # Errors
/// As [`write_f32`].
pub fn write_raw(
    number_type: NumberType,
    shapes: &[(usize, usize)],
    raw: &[i32],
    out: &mut [u8],
) -> Result<usize, WriteError> {
    write_words(
        number_type,
        shapes,
        raw.len(),
        raw.iter().map(|&w| u32::from_le_bytes(w.to_le_bytes())),
        out,
    )
}

/// The writer behind [`write_f32`] and [`write_raw`]: `count` words from `words`.
fn write_words(
    number_type: NumberType,
    shapes: &[(usize, usize)],
    count: usize,
    words: impl Iterator<Item = u32>,
    out: &mut [u8],
) -> Result<usize, WriteError> {
    let (elements, total) = sizes(shapes)?;
    if count != elements {
        return Err(WriteError::ElementCount {
            expected: elements,
            found: count,
        });
    }
    let found = out.len();
    let file = out.get_mut(..total).ok_or(WriteError::BufferTooShort {
        needed: total,
        found,
    })?;
    // `sizes` checked every narrowing below; a failure cannot happen and would write zeros.
    let layers = u16::try_from(shapes.len()).unwrap_or(0);
    let payload = u32::try_from(elements * ELEMENT_LEN).unwrap_or(0);
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4..6].copy_from_slice(&VERSION.to_le_bytes());
    header[6] = number_type.code();
    header[8..10].copy_from_slice(&layers.to_le_bytes());
    header[12..16].copy_from_slice(&payload.to_le_bytes());
    let mut chunks = file.chunks_exact_mut(4);
    // The source first: `zip` stops on it without taking a chunk more.
    for (src, dst) in header.chunks_exact(4).zip(&mut chunks) {
        dst.copy_from_slice(src);
    }
    for &(inputs, outputs) in shapes {
        let mut entry = [0u8; LAYER_ENTRY_LEN];
        entry[..2].copy_from_slice(&KIND_DENSE.to_le_bytes());
        entry[4..8].copy_from_slice(&u32::try_from(inputs).unwrap_or(0).to_le_bytes());
        entry[8..12].copy_from_slice(&u32::try_from(outputs).unwrap_or(0).to_le_bytes());
        for (src, dst) in entry.chunks_exact(4).zip(&mut chunks) {
            dst.copy_from_slice(src);
        }
    }
    for (word, dst) in words.zip(&mut chunks) {
        dst.copy_from_slice(&word.to_le_bytes());
    }
    let (body, crc) = file.split_at_mut(total - 4);
    crc.copy_from_slice(&super::crc32(body).to_le_bytes());
    Ok(total)
}

/// A `u32` from the file as `usize`, saturating on targets where `usize` is narrower.
fn saturate(x: u32) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

impl<'a> Weights<'a> {
    /// The number type the payload is stored in.
    pub fn number_type(&self) -> NumberType {
        self.number_type
    }

    /// The number of layers.
    pub fn layer_count(&self) -> usize {
        self.table.len() / LAYER_ENTRY_LEN
    }

    /// Layer `index`'s shape `(inputs, outputs)`, or `None` past the last layer.
    pub fn shape(&self, index: usize) -> Option<(usize, usize)> {
        let at = index.checked_mul(LAYER_ENTRY_LEN)?;
        let inputs = u32_at(self.table, at.checked_add(4)?)?;
        let outputs = u32_at(self.table, at.checked_add(8)?)?;
        Some((saturate(inputs), saturate(outputs)))
    }

    /// The number of elements (parameters) in the payload: `Σ (I·O + O)`.
    pub fn len(&self) -> usize {
        self.payload.len() / ELEMENT_LEN
    }

    /// Whether the file holds no parameters (no layers).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The raw payload bytes (4 little-endian bytes per element).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Copies the weights into `dst`, a flat arena laid out like the payload (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// [`LoadError::WrongNumberType`] unless the file holds `f32`;
    /// [`LoadError::DestinationLength`] unless `dst.len() == self.len()`. On error `dst` is
    /// unchanged.
    pub fn load_into(&self, dst: &mut [f32]) -> Result<(), LoadError> {
        self.check(NumberType::F32, dst.len())?;
        for (d, src) in dst.iter_mut().zip(self.payload.chunks_exact(ELEMENT_LEN)) {
            if let Ok(word) = src.try_into() {
                *d = f32::from_le_bytes(word);
            }
        }
        Ok(())
    }

    /// Copies the payload's raw 32-bit words into `dst`, for the fixed-point number types (an
    /// I16F16 value is `raw / 2^16`, an I8F24 value `raw / 2^24`).
    ///
    /// # Errors
    /// [`LoadError::WrongNumberType`] unless the file holds `number_type`;
    /// [`LoadError::DestinationLength`] unless `dst.len() == self.len()`. On error `dst` is
    /// unchanged.
    pub fn load_raw_into(&self, number_type: NumberType, dst: &mut [i32]) -> Result<(), LoadError> {
        self.check(number_type, dst.len())?;
        for (d, src) in dst.iter_mut().zip(self.payload.chunks_exact(ELEMENT_LEN)) {
            if let Ok(word) = src.try_into() {
                *d = i32::from_le_bytes(word);
            }
        }
        Ok(())
    }

    fn check(&self, expected: NumberType, dst_len: usize) -> Result<(), LoadError> {
        if self.number_type != expected {
            return Err(LoadError::WrongNumberType {
                expected,
                found: self.number_type,
            });
        }
        if dst_len != self.len() {
            return Err(LoadError::DestinationLength {
                expected: self.len(),
                found: dst_len,
            });
        }
        Ok(())
    }
}

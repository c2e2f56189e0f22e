//! Reading edgetune's binary files from a byte slice: trained weights ([`weights`], `.etw`), and
//! the container every edgetune file shares ([`check_frame`]), on which an application can define
//! its own data files (the examples' digits set, crate `edgetune-digits` in
//! `examples/digits-data`, is one).
//!
//! The readers work on a `&[u8]` that can come from anywhere: `include_bytes!` into flash, a
//! `static` buffer filled from an SD card or a radio, or a `Vec` on the host. Nothing is
//! allocated and nothing is copied until the caller asks: a parsed file is a struct of borrowed
//! slices, checked once, in full, when it is parsed.
//!
//! | file | parse | what a parsed file costs in RAM | file docs |
//! |---|---|---|---|
//! | weights, `.etw` | [`weights::parse`] | [`weights::Weights`]: 1 byte + two slices (5 words) | [`weights`] |
//! | any edgetune container | [`check_frame`] | the body, one slice (2 words) | [`check_frame`] |
//!
//! # Shared conventions
//! - Every integer is little-endian; every file starts with a 4-byte magic and a `u16` format
//!   version, and ends with a CRC-32 of every byte before it.
//! - The CRC is CRC-32/ISO-HDLC (the CRC of zlib, PNG, Ethernet and Python's `zlib.crc32`;
//!   check value `0xCBF43926` for `b"123456789"`), computed by the [`crc`] crate without a
//!   lookup table (no flash spent on one: about eight shift-and-xor steps per byte, run once
//!   when a file is parsed). A CRC-32 detects every error confined to 32 consecutive bits, so
//!   every single flipped byte.
//! - Parsing checks, in this order: magic, version, that the length is exactly what the header
//!   says (else [`LoadError::Truncated`] or [`LoadError::TrailingBytes`]), the CRC, then the
//!   meaning of each field. A damaged file therefore reports itself as damaged
//!   ([`LoadError::CrcMismatch`]) rather than as a file with odd contents, and a well-formed
//!   file that does not fit the caller says exactly what does not fit.
//! - Reserved fields must be zero, so a later version can give them a meaning.
//! - No function panics on any input: every failure is a [`LoadError`], and a failed load
//!   writes nothing to its destination.

mod error;

pub mod weights;

pub use error::LoadError;

use crc::{Crc, NoTable, CRC_32_ISO_HDLC};

/// CRC-32/ISO-HDLC, bitwise (no 1 KiB table in flash): the check of every edgetune file and of
/// every checkpoint record ([`crate::checkpoint`]).
pub(crate) static CRC32: Crc<u32, NoTable> = Crc::<u32, NoTable>::new(&CRC_32_ISO_HDLC);

/// The CRC-32/ISO-HDLC of `bytes`, as stored at the end of every edgetune file.
///
/// ```
/// assert_eq!(edgetune::io::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// The `N` bytes at `at`, or `None` if they run past the end.
fn bytes_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    bytes.get(at..end)?.try_into().ok()
}

/// The little-endian `u16` at `at`, or `None` past the end.
fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    bytes_at(bytes, at).map(u16::from_le_bytes)
}

/// The little-endian `u32` at `at`, or `None` past the end.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes_at(bytes, at).map(u32::from_le_bytes)
}

/// Checks the frame every edgetune file shares: `magic` and `version` at the start, a header of
/// `header_len` bytes, a length of exactly `total(header)` bytes and a CRC-32 in the last four.
///
/// `total` reads the header (guaranteed to be `header_len` bytes long) and returns the full file
/// length it describes, or `None` if that length overflows `usize`. Returns the file without its
/// CRC (header included), so a format built on it checks only its own fields afterwards.
///
/// # Errors
/// The first check that fails, in the order of the [module docs](self): [`LoadError::BadMagic`],
/// [`LoadError::Truncated`], [`LoadError::UnsupportedVersion`], [`LoadError::TrailingBytes`],
/// [`LoadError::CrcMismatch`].
///
/// ```
/// use edgetune::io::{check_frame, crc32, LoadError};
/// // A format "DEMO" v1: 8-byte header (magic, version, u16 payload length), payload, CRC.
/// let mut file = b"DEMO\x01\x00\x03\x00abc".to_vec();
/// file.extend_from_slice(&crc32(&file).to_le_bytes());
/// let total = |h: &[u8]| Some(8 + usize::from(u16::from_le_bytes([h[6], h[7]])) + 4);
/// let body = check_frame(&file, *b"DEMO", 1, 8, total).unwrap();
/// assert_eq!(&body[8..], b"abc");
/// file[9] ^= 1;
/// assert!(matches!(check_frame(&file, *b"DEMO", 1, 8, total), Err(LoadError::CrcMismatch { .. })));
/// ```
pub fn check_frame(
    bytes: &[u8],
    magic: [u8; 4],
    version: u16,
    header_len: usize,
    total: impl FnOnce(&[u8]) -> Option<usize>,
) -> Result<&[u8], LoadError> {
    if let Some(found) = bytes_at::<4>(bytes, 0) {
        if found != magic {
            return Err(LoadError::BadMagic { found });
        }
    }
    let header = match bytes.get(..header_len) {
        Some(header) => header,
        None => {
            return Err(LoadError::Truncated {
                needed: header_len,
                found: bytes.len(),
            })
        }
    };
    if let Some(found) = u16_at(header, 4) {
        if found != version {
            return Err(LoadError::UnsupportedVersion { found });
        }
    }
    let needed = total(header).unwrap_or(usize::MAX);
    if bytes.len() < needed {
        return Err(LoadError::Truncated {
            needed,
            found: bytes.len(),
        });
    }
    if bytes.len() > needed {
        return Err(LoadError::TrailingBytes {
            expected: needed,
            found: bytes.len(),
        });
    }
    let body_len = needed.checked_sub(4).ok_or(LoadError::Truncated {
        needed: 4,
        found: bytes.len(),
    })?;
    let (body, tail) = bytes
        .split_at_checked(body_len)
        .ok_or(LoadError::Truncated {
            needed,
            found: bytes.len(),
        })?;
    let stored = u32_at(tail, 0).ok_or(LoadError::Truncated {
        needed,
        found: bytes.len(),
    })?;
    let computed = crc32(body);
    if stored != computed {
        return Err(LoadError::CrcMismatch { stored, computed });
    }
    Ok(body)
}

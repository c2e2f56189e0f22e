//! `edgetune::io`: the committed weight file loads bit-exactly, every kind of damage or mismatch
//! is rejected with its own error (and writes nothing), and the committed digits set has
//! scikit-learn's 1,797 samples.
//!
//! The references are independent of the loader: the weights' `const` array is Rust source
//! written by `scripts/export_weights.py` as decimal literals (a different path from the binary
//! file), test files are built here by [`etw`] straight from the layout table in the module docs,
//! and CRCs are checked with a bitwise CRC-32 written here ([`reference_crc32`]).

use edgetune::io::weights::{self, NumberType, Weights};
use edgetune::io::{crc32, LoadError};
use edgetune_digits::{self as digits, Digits};
use proptest::prelude::*;

/// The generated Rust source: `SHAPES`, `WEIGHTS_LEN` and `WEIGHTS`.
mod mlp {
    include!("data/mlp-64-32-10.rs");
}

const ETW: &[u8] = include_bytes!("data/mlp-64-32-10.etw");
const DIGITS: &[u8] = include_bytes!("data/digits.bin");

/// A bitwise CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320, init and xorout all ones).
fn reference_crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Appends the CRC of everything so far.
fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let crc = reference_crc32(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Re-seals a file whose body was edited: replaces its last four bytes by the body's CRC.
fn reseal(file: &[u8]) -> Vec<u8> {
    seal(file[..file.len() - 4].to_vec())
}

/// A weight file built from the documented layout: number-type code, layers as
/// `(kind, inputs, outputs)`, the payload's 32-bit words.
fn etw(code: u8, layers: &[(u16, u32, u32)], words: &[u32]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(b"ETWF");
    f.extend_from_slice(&1u16.to_le_bytes());
    f.push(code);
    f.push(0);
    f.extend_from_slice(&(layers.len() as u16).to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&(words.len() as u32 * 4).to_le_bytes());
    for &(kind, inputs, outputs) in layers {
        f.extend_from_slice(&kind.to_le_bytes());
        f.extend_from_slice(&0u16.to_le_bytes());
        f.extend_from_slice(&inputs.to_le_bytes());
        f.extend_from_slice(&outputs.to_le_bytes());
    }
    for w in words {
        f.extend_from_slice(&w.to_le_bytes());
    }
    seal(f)
}

fn dense(shapes: &[(usize, usize)]) -> Vec<(u16, u32, u32)> {
    shapes
        .iter()
        .map(|&(i, o)| (1, i as u32, o as u32))
        .collect()
}

fn mlp_words() -> Vec<u32> {
    mlp::WEIGHTS.iter().map(|w| w.to_bits()).collect()
}

/// An arena filled with a sentinel, to see that failed loads write nothing.
const SENTINEL: f32 = -12345.5;

fn load(bytes: &[u8], shapes: &[(usize, usize)]) -> Result<Vec<f32>, LoadError> {
    let mut arena = vec![SENTINEL; mlp::WEIGHTS_LEN];
    let result = weights::load_f32(bytes, shapes, &mut arena);
    if result.is_err() {
        assert!(
            arena.iter().all(|&x| x.to_bits() == SENTINEL.to_bits()),
            "a failed load wrote to the destination"
        );
    }
    result.map(|()| arena)
}

fn le_u16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le_u32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

// ---------------------------------------------------------------------------------------------
// Weights: the good file

#[test]
fn crc32_matches_the_check_value_and_the_bitwise_reference() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(reference_crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(ETW), reference_crc32(ETW));
}

#[test]
fn committed_weights_load_bit_exactly_equal_to_the_generated_rust_constants() {
    let w = weights::parse(ETW, &mlp::SHAPES).unwrap();
    assert_eq!(w.number_type(), NumberType::F32);
    assert_eq!(w.layer_count(), 2);
    assert_eq!(w.shape(0), Some((64, 32)));
    assert_eq!(w.shape(1), Some((32, 10)));
    assert_eq!(w.shape(2), None);
    assert_eq!(w.len(), mlp::WEIGHTS_LEN);
    assert_eq!(mlp::WEIGHTS_LEN, 64 * 32 + 32 + 32 * 10 + 10);
    let mut arena = [SENTINEL; mlp::WEIGHTS_LEN];
    w.load_into(&mut arena).unwrap();
    assert_eq!(arena.map(f32::to_bits), mlp::WEIGHTS.map(f32::to_bits));
    // Not a trivially constant file: nn.Linear's init is uniform in ±1/sqrt(in), per layer.
    let (layer0, layer1) = arena.split_at(64 * 32 + 32);
    assert!(layer0.iter().all(|x| x.abs() <= 0.125));
    assert!(layer1.iter().all(|x| x.abs() <= 0.176_776_7));
    assert!(layer0.iter().any(|&x| x > 0.12) && layer0.iter().any(|&x| x < -0.12));
    assert!(layer1.iter().any(|&x| x > 0.17) && layer1.iter().any(|&x| x < -0.17));
}

#[test]
fn committed_weights_file_matches_the_documented_layout_byte_for_byte() {
    let built = etw(1, &dense(&mlp::SHAPES), &mlp_words());
    assert_eq!(built.len(), 16 + 12 * 2 + 4 * 2410 + 4);
    assert_eq!(built.len(), 9684);
    assert_eq!(built, ETW);
}

#[test]
fn weights_load_f32_and_parse_then_load_into_agree() {
    let a = load(ETW, &mlp::SHAPES).unwrap();
    let b = {
        let mut arena = vec![0.0f32; mlp::WEIGHTS_LEN];
        weights::parse(ETW, &mlp::SHAPES)
            .unwrap()
            .load_into(&mut arena)
            .unwrap();
        arena
    };
    assert_eq!(a, b);
}

#[test]
fn fixed_point_files_load_raw_bits_and_refuse_f32() {
    let words: Vec<u32> = (0..13u32)
        .map(|k| (k as i32 * 65_536 - 300_000) as u32)
        .collect();
    for (code, ty) in [(2, NumberType::I16F16), (3, NumberType::I8F24)] {
        let file = etw(code, &dense(&[(2, 3), (3, 1)]), &words);
        let w = weights::parse(&file, &[(2, 3), (3, 1)]).unwrap();
        assert_eq!(w.number_type(), ty);
        assert_eq!(ty.code(), code);
        assert_eq!(NumberType::from_code(code), Some(ty));
        let mut raw = [7i32; 13];
        w.load_raw_into(ty, &mut raw).unwrap();
        assert_eq!(raw.map(|r| r as u32).to_vec(), words);
        let mut f = [SENTINEL; 13];
        assert_eq!(
            w.load_into(&mut f),
            Err(LoadError::WrongNumberType {
                expected: NumberType::F32,
                found: ty
            })
        );
        assert!(f.iter().all(|x| x.to_bits() == SENTINEL.to_bits()));
    }
    // And an f32 file refuses a raw fixed-point load.
    let w = weights::parse(ETW, &mlp::SHAPES).unwrap();
    let mut raw = vec![7i32; mlp::WEIGHTS_LEN];
    assert_eq!(
        w.load_raw_into(NumberType::I8F24, &mut raw),
        Err(LoadError::WrongNumberType {
            expected: NumberType::I8F24,
            found: NumberType::F32
        })
    );
    assert!(raw.iter().all(|&r| r == 7));
}

#[test]
fn parsed_types_cost_what_the_docs_say() {
    use core::mem::size_of;
    let word = size_of::<usize>();
    assert_eq!(size_of::<Weights<'_>>(), 5 * word);
    assert_eq!(size_of::<Digits<'_>>(), 2 * word);
    assert_eq!(size_of::<digits::Sample<'_>>(), 2 * word);
}

// ---------------------------------------------------------------------------------------------
// Weights: every failure has its error

#[test]
fn weights_every_header_and_table_byte_flip_is_rejected_with_its_error() {
    let stored = le_u32(ETW, ETW.len() - 4) as u32;
    for at in 0..16 + 12 * 2 {
        for mask in [0x01u8, 0x10, 0x80, 0xFF] {
            let mut f = ETW.to_vec();
            f[at] ^= mask;
            let got = weights::parse(&f, &mlp::SHAPES).map(|_| ());
            let expected = match at {
                0..=3 => LoadError::BadMagic {
                    found: f[..4].try_into().unwrap(),
                },
                4 | 5 => LoadError::UnsupportedVersion {
                    found: le_u16(&f, 4) as u16,
                },
                8 | 9 | 12..=15 => {
                    let needed = 16 + 12 * le_u16(&f, 8) + le_u32(&f, 12) + 4;
                    if needed > f.len() {
                        LoadError::Truncated {
                            needed,
                            found: f.len(),
                        }
                    } else {
                        LoadError::TrailingBytes {
                            expected: needed,
                            found: f.len(),
                        }
                    }
                }
                _ => LoadError::CrcMismatch {
                    stored,
                    computed: reference_crc32(&f[..f.len() - 4]),
                },
            };
            assert_eq!(got, Err(expected), "byte {at} ^ {mask:#04x}");
            // No flip reaches the shape comparison: the shape-free parse fails the same way.
            assert_eq!(weights::parse_any(&f).map(|_| ()), got, "byte {at}");
            assert!(load(&f, &mlp::SHAPES).is_err());
        }
    }
}

#[test]
fn weights_every_payload_and_crc_byte_flip_is_a_crc_mismatch() {
    let stored = le_u32(ETW, ETW.len() - 4) as u32;
    for at in 16 + 12 * 2..ETW.len() {
        let mut f = ETW.to_vec();
        f[at] ^= 1 << (at % 8);
        match weights::parse(&f, &mlp::SHAPES) {
            Err(LoadError::CrcMismatch {
                stored: s,
                computed,
            }) => {
                assert_ne!(s, computed);
                if at < ETW.len() - 4 {
                    assert_eq!(s, stored, "byte {at}");
                } else {
                    assert_eq!(computed, stored, "byte {at}");
                }
            }
            other => panic!("byte {at}: {other:?}"),
        }
    }
}

#[test]
fn weights_truncated_at_every_length_is_rejected() {
    for len in 0..ETW.len() {
        let expected = if len < 16 {
            LoadError::Truncated {
                needed: 16,
                found: len,
            }
        } else {
            LoadError::Truncated {
                needed: ETW.len(),
                found: len,
            }
        };
        assert_eq!(
            weights::parse(&ETW[..len], &mlp::SHAPES),
            Err(expected),
            "{len}"
        );
        assert_eq!(weights::parse_any(&ETW[..len]).map(|_| ()), Err(expected));
    }
    assert!(load(&ETW[..ETW.len() - 1], &mlp::SHAPES).is_err());
}

/// `parse_any` reads a file of any shapes with every other check, and gives the table's shapes
/// and the same payload as `parse` with the right shapes; `parse` with other shapes refuses it.
#[test]
fn weights_parse_any_reads_the_tables_shapes_and_checks_the_rest() {
    let any = weights::parse_any(ETW).expect("the committed file");
    let shapes: Vec<(usize, usize)> = (0..any.layer_count())
        .map(|l| any.shape(l).expect("in range"))
        .collect();
    assert_eq!(shapes, mlp::SHAPES);
    let (mut a, mut b) = (vec![0f32; any.len()], vec![0f32; any.len()]);
    any.load_into(&mut a).unwrap();
    weights::parse(ETW, &mlp::SHAPES)
        .unwrap()
        .load_into(&mut b)
        .unwrap();
    assert_eq!(
        a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        mlp_words()
    );
    assert_eq!(a, b);
    // A file of other shapes: parse_any takes it, parse with the model's shapes does not.
    let other = [(3, 2), (2, 1)];
    let f = etw(1, &dense(&other), &[0x3F80_0000; 3 * 2 + 2 + 2 + 1]);
    let w = weights::parse_any(&f).expect("consistent file");
    assert_eq!(
        (w.layer_count(), w.shape(0), w.shape(1)),
        (2, Some((3, 2)), Some((2, 1)))
    );
    assert!(matches!(
        weights::parse(&f, &mlp::SHAPES),
        Err(LoadError::LayerCountMismatch { .. } | LoadError::ShapeMismatch { .. })
    ));
    // Payload length disagreeing with the table is still refused.
    let short = etw(1, &dense(&other), &[0; 10]);
    assert!(matches!(
        weights::parse_any(&short),
        Err(LoadError::PayloadLengthMismatch { .. })
    ));
}

#[test]
fn weights_trailing_bytes_are_rejected() {
    for extra in [1, 3, 4, 100] {
        let mut f = ETW.to_vec();
        f.extend(std::iter::repeat_n(0u8, extra));
        assert_eq!(
            weights::parse(&f, &mlp::SHAPES),
            Err(LoadError::TrailingBytes {
                expected: ETW.len(),
                found: ETW.len() + extra
            })
        );
        assert!(load(&f, &mlp::SHAPES).is_err());
    }
}

#[test]
fn weights_bad_crc_is_rejected() {
    let mut f = ETW.to_vec();
    let n = f.len();
    f[n - 1] ^= 0x40;
    let stored = le_u32(&f, n - 4) as u32;
    assert_eq!(
        weights::parse(&f, &mlp::SHAPES),
        Err(LoadError::CrcMismatch {
            stored,
            computed: reference_crc32(ETW[..n - 4].as_ref())
        })
    );
    assert!(load(&f, &mlp::SHAPES).is_err());
}

#[test]
fn weights_wrong_shapes_name_the_layer() {
    let cases: [(&[(usize, usize)], LoadError); 5] = [
        (
            &[(64, 32), (32, 11)],
            LoadError::ShapeMismatch {
                layer: 1,
                expected: (32, 11),
                found: (32, 10),
            },
        ),
        (
            &[(63, 32), (32, 10)],
            LoadError::ShapeMismatch {
                layer: 0,
                expected: (63, 32),
                found: (64, 32),
            },
        ),
        (
            &[(10, 32), (32, 64)],
            LoadError::ShapeMismatch {
                layer: 0,
                expected: (10, 32),
                found: (64, 32),
            },
        ),
        (
            &[(64, 32)],
            LoadError::LayerCountMismatch {
                expected: 1,
                found: 2,
            },
        ),
        (
            &[(64, 32), (32, 10), (10, 10)],
            LoadError::LayerCountMismatch {
                expected: 3,
                found: 2,
            },
        ),
    ];
    for (shapes, err) in cases {
        assert_eq!(weights::parse(ETW, shapes), Err(err), "{shapes:?}");
        let mut arena = vec![SENTINEL; 5000];
        assert_eq!(weights::load_f32(ETW, shapes, &mut arena), Err(err));
        assert!(arena.iter().all(|x| x.to_bits() == SENTINEL.to_bits()));
    }
}

#[test]
fn weights_unknown_number_type_codes_are_rejected() {
    for code in [0u8, 4, 0x7F, 0xFF] {
        let f = etw(code, &dense(&mlp::SHAPES), &mlp_words());
        assert_eq!(
            weights::parse(&f, &mlp::SHAPES),
            Err(LoadError::UnknownNumberType { code })
        );
        assert_eq!(NumberType::from_code(code), None);
    }
}

#[test]
fn weights_unsupported_version_is_rejected() {
    for version in [0u16, 2, 0x0100, u16::MAX] {
        let mut f = ETW.to_vec();
        f[4..6].copy_from_slice(&version.to_le_bytes());
        let f = reseal(&f);
        assert_eq!(
            weights::parse(&f, &mlp::SHAPES),
            Err(LoadError::UnsupportedVersion { found: version })
        );
    }
}

#[test]
fn weights_nonzero_reserved_fields_are_rejected() {
    for (at, offset) in [(7, 7), (10, 10), (11, 10), (18, 18), (19, 18), (30, 30)] {
        let mut f = ETW.to_vec();
        f[at] = 0x5A;
        let f = reseal(&f);
        assert_eq!(
            weights::parse(&f, &mlp::SHAPES),
            Err(LoadError::ReservedNotZero { offset }),
            "byte {at}"
        );
    }
}

#[test]
fn weights_unknown_layer_kind_is_rejected() {
    for kind in [0u16, 2, 0xFFFF] {
        let layers = [(1, 64, 32), (kind, 32, 10)];
        let f = etw(1, &layers, &mlp_words());
        assert_eq!(
            weights::parse(&f, &mlp::SHAPES),
            Err(LoadError::UnknownLayerKind { layer: 1, kind })
        );
    }
}

#[test]
fn weights_payload_length_must_match_the_shapes() {
    let mut words = mlp_words();
    words.pop();
    let f = etw(1, &dense(&mlp::SHAPES), &words);
    assert_eq!(
        weights::parse(&f, &mlp::SHAPES),
        Err(LoadError::PayloadLengthMismatch {
            expected: 2410 * 4,
            found: 2409 * 4
        })
    );
    // Huge shapes whose payload could never fit: still a typed error, no overflow.
    let f = etw(1, &[(1, u32::MAX, u32::MAX)], &[0; 4]);
    let max = u32::MAX as usize;
    assert!(matches!(
        weights::parse(&f, &[(max, max)]),
        Err(LoadError::PayloadLengthMismatch { found: 16, .. })
    ));
}

#[test]
fn weights_destination_of_the_wrong_length_is_rejected_and_untouched() {
    let w = weights::parse(ETW, &mlp::SHAPES).unwrap();
    for len in [0, 1, mlp::WEIGHTS_LEN - 1, mlp::WEIGHTS_LEN + 1] {
        let mut arena = vec![SENTINEL; len];
        assert_eq!(
            w.load_into(&mut arena),
            Err(LoadError::DestinationLength {
                expected: mlp::WEIGHTS_LEN,
                found: len
            })
        );
        assert!(arena.iter().all(|x| x.to_bits() == SENTINEL.to_bits()));
    }
}

#[test]
fn weights_with_no_layers_parse_as_empty() {
    let f = etw(1, &[], &[]);
    let w = weights::parse(&f, &[]).unwrap();
    assert!(w.is_empty());
    assert_eq!(w.layer_count(), 0);
    w.load_into(&mut []).unwrap();
}

#[test]
fn load_errors_display_a_message() {
    let errors = [
        weights::parse(b"nope", &[]).unwrap_err(),
        weights::parse(&ETW[..100], &mlp::SHAPES).unwrap_err(),
        weights::parse(ETW, &[(1, 1)]).unwrap_err(),
        digits::parse(&DIGITS[..20]).unwrap_err(),
    ];
    for e in errors {
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(
        LoadError::ShapeMismatch {
            layer: 1,
            expected: (32, 11),
            found: (32, 10)
        }
        .to_string(),
        "layer 1 is 32x10 (in x out), expected 32x11"
    );
}

// ---------------------------------------------------------------------------------------------
// Digits

/// Pixels of sklearn's `load_digits().data[0]` (label 0) and `data[-1]` (label 8), printed by
/// scikit-learn 1.9.1.
const FIRST: [u8; 64] = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0,
    8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6,
    13, 10, 0, 0, 0,
];
const LAST: [u8; 64] = [
    0, 0, 10, 14, 8, 1, 0, 0, 0, 2, 16, 14, 6, 1, 0, 0, 0, 0, 15, 15, 8, 15, 0, 0, 0, 0, 5, 16, 16,
    10, 0, 0, 0, 0, 12, 15, 15, 12, 0, 0, 0, 4, 16, 6, 4, 16, 6, 0, 0, 8, 16, 10, 8, 16, 8, 0, 0,
    1, 8, 12, 14, 12, 1, 0,
];

#[test]
fn digits_file_has_sklearns_1797_samples_and_class_counts() {
    let d = digits::parse(DIGITS).unwrap();
    assert_eq!(DIGITS.len(), 12 + 65 * 1797 + 4);
    assert_eq!(d.len(), 1797);
    assert_eq!(d.iter().len(), 1797);
    let mut counts = [0usize; digits::CLASSES];
    let mut pixel_sum = 0u64;
    for s in &d {
        counts[usize::from(s.label)] += 1;
        pixel_sum += s.pixels.iter().map(|&p| u64::from(p)).sum::<u64>();
        assert!(s.pixels.iter().all(|&p| p <= digits::MAX_PIXEL));
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // sklearn: int(load_digits().data.sum())
    assert_eq!(pixel_sum, 561_718);
    let first = d.get(0).unwrap();
    assert_eq!((*first.pixels, first.label), (FIRST, 0));
    let last = d.get(1796).unwrap();
    assert_eq!((*last.pixels, last.label), (LAST, 8));
    assert_eq!(d.get(1797), None);
    assert_eq!(d.get(usize::MAX), None);
    let x = first.to_f32();
    assert_eq!(x[3], 13.0 / 16.0);
    assert_eq!(d.iter().nth(1796), Some(last));
}

fn digits_file(samples: &[([u8; 64], u8)]) -> Vec<u8> {
    let mut f = b"ETDG".to_vec();
    f.extend_from_slice(&1u16.to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    for (pixels, label) in samples {
        f.extend_from_slice(pixels);
        f.push(*label);
    }
    seal(f)
}

#[test]
fn digits_file_matches_the_documented_layout_for_its_first_samples() {
    let d = digits::parse(DIGITS).unwrap();
    let mut head = DIGITS[..12 + 2 * 65].to_vec();
    head[8..12].copy_from_slice(&2u32.to_le_bytes());
    let built = digits_file(&[(FIRST, 0), (*d.get(1).unwrap().pixels, 1)]);
    assert_eq!(&built[..built.len() - 4], &head[..]);
    assert_eq!(digits::parse(&built).unwrap().len(), 2);
}

#[test]
fn digits_out_of_range_samples_are_rejected() {
    let ok = ([16u8; 64], 9u8);
    let mut bad_pixel = ok;
    bad_pixel.0[63] = 17;
    let bad_label = ([0u8; 64], 10u8);
    for (samples, index) in [
        (vec![ok, bad_pixel], 1),
        (vec![bad_label, ok], 0),
        (vec![ok, ok, ([255; 64], 255)], 2),
    ] {
        assert_eq!(
            digits::parse(&digits_file(&samples)),
            Err(LoadError::InvalidSample { index })
        );
    }
    let empty = digits_file(&[]);
    assert!(digits::parse(&empty).unwrap().is_empty());
}

#[test]
fn digits_header_damage_is_rejected_with_its_error() {
    let stored = le_u32(DIGITS, DIGITS.len() - 4) as u32;
    for at in 0..12 {
        let mut f = DIGITS.to_vec();
        f[at] ^= 0x04;
        let expected = match at {
            0..=3 => LoadError::BadMagic {
                found: f[..4].try_into().unwrap(),
            },
            4 | 5 => LoadError::UnsupportedVersion {
                found: le_u16(&f, 4) as u16,
            },
            8..=11 => {
                let needed = 12 + 65 * le_u32(&f, 8) + 4;
                if needed > f.len() {
                    LoadError::Truncated {
                        needed,
                        found: f.len(),
                    }
                } else {
                    LoadError::TrailingBytes {
                        expected: needed,
                        found: f.len(),
                    }
                }
            }
            _ => LoadError::CrcMismatch {
                stored,
                computed: reference_crc32(&f[..f.len() - 4]),
            },
        };
        assert_eq!(digits::parse(&f), Err(expected), "byte {at}");
    }
    let mut f = DIGITS.to_vec();
    f[6] = 1;
    assert_eq!(
        digits::parse(&reseal(&f)),
        Err(LoadError::ReservedNotZero { offset: 6 })
    );
}

#[test]
fn digits_truncation_trailing_bytes_and_bad_crc_are_rejected() {
    for len in (0..DIGITS.len()).step_by(97).chain([DIGITS.len() - 1]) {
        let needed = if len < 12 { 12 } else { DIGITS.len() };
        assert_eq!(
            digits::parse(&DIGITS[..len]),
            Err(LoadError::Truncated { needed, found: len })
        );
    }
    let mut f = DIGITS.to_vec();
    f.push(0);
    assert!(matches!(
        digits::parse(&f),
        Err(LoadError::TrailingBytes { .. })
    ));
    let mut f = DIGITS.to_vec();
    f[5000] ^= 0x01;
    assert!(matches!(
        digits::parse(&f),
        Err(LoadError::CrcMismatch { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties: no input panics, no damaged file loads

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_and_never_load(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(load(&bytes, &mlp::SHAPES).is_err());
        prop_assert!(weights::parse(&bytes, &[]).is_err());
        prop_assert!(digits::parse(&bytes).is_err());
    }

    #[test]
    fn random_bodies_behind_a_valid_magic_and_version_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        sealed in any::<bool>(),
    ) {
        let mut w = b"ETWF\x01\x00".to_vec();
        w.extend_from_slice(&body);
        let mut d = b"ETDG\x01\x00".to_vec();
        d.extend_from_slice(&body);
        if sealed {
            w = seal(w);
            d = seal(d);
        }
        // A sealed random body may by chance be a valid (tiny) file; it must not panic.
        let _ = weights::parse(&w, &mlp::SHAPES);
        let _ = weights::parse(&w, &[(1, 1)]);
        let _ = digits::parse(&d).map(|s| s.iter().count());
        prop_assert!(load(&w[..w.len().min(40)], &mlp::SHAPES).is_err());
    }

    #[test]
    fn any_single_byte_change_of_the_weight_file_is_rejected(
        at in 0..ETW.len(),
        mask in 1..=255u8,
    ) {
        let mut f = ETW.to_vec();
        f[at] ^= mask;
        prop_assert!(load(&f, &mlp::SHAPES).is_err());
    }

    #[test]
    fn any_single_byte_change_of_the_digits_file_is_rejected(
        at in 0..DIGITS.len(),
        mask in 1..=255u8,
    ) {
        let mut f = DIGITS.to_vec();
        f[at] ^= mask;
        prop_assert!(digits::parse(&f).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Weights: the writer, the inverse of parse

/// The dense shapes in a weight file's layer table, read from the documented layout.
fn table_shapes(file: &[u8]) -> Vec<(usize, usize)> {
    (0..le_u16(file, 8))
        .map(|l| (le_u32(file, 16 + 12 * l + 4), le_u32(file, 16 + 12 * l + 8)))
        .collect()
}

#[test]
fn writing_what_parse_read_gives_every_committed_file_back_byte_for_byte() {
    // The PyTorch exporters' files: the MLP (export_weights.py) and the CNNs (export_model.py).
    let files: [(&str, &[u8]); 4] = [
        ("mlp-64-32-10", ETW),
        (
            "cnn-roundtrip-1d-affine",
            include_bytes!("data/cnn-roundtrip-1d-affine.etw"),
        ),
        (
            "cnn-roundtrip-1d-full",
            include_bytes!("data/cnn-roundtrip-1d-full.etw"),
        ),
        (
            "cnn-roundtrip-2d-full",
            include_bytes!("data/cnn-roundtrip-2d-full.etw"),
        ),
    ];
    for (name, file) in files {
        let shapes = table_shapes(file);
        let parsed = weights::parse(file, &shapes).unwrap();
        let mut params = vec![0f32; parsed.len()];
        parsed.load_into(&mut params).unwrap();
        assert_eq!(weights::encoded_len(&shapes), Ok(file.len()), "{name}");
        let mut out = vec![0xAAu8; file.len() + 7];
        let n = weights::write_f32(&shapes, &params, &mut out).unwrap();
        assert!(&out[..n] == file, "{name}: f32 writer");
        assert!(
            out[n..].iter().all(|&b| b == 0xAA),
            "{name}: wrote past the file"
        );
        // The raw writer with the f32 bits gives the same file.
        let raw: Vec<i32> = params.iter().map(|p| p.to_bits() as i32).collect();
        let mut out = vec![0u8; file.len()];
        weights::write_raw(NumberType::F32, &shapes, &raw, &mut out).unwrap();
        assert!(out == file, "{name}: raw writer");
    }
}

#[test]
fn written_files_match_the_documented_layout_and_parse_back_bit_for_bit() {
    let shapes = [(2usize, 3usize), (3, 1), (0, 2)];
    let words: Vec<u32> = (0..15u32)
        .map(|k| k.wrapping_mul(0x9E37_79B9) ^ 0x8000_0001)
        .collect();
    for (ty, code) in [
        (NumberType::F32, 1),
        (NumberType::I16F16, 2),
        (NumberType::I8F24, 3),
    ] {
        let raw: Vec<i32> = words.iter().map(|&w| w as i32).collect();
        let mut out = vec![0u8; 200];
        let n = weights::write_raw(ty, &shapes, &raw, &mut out).unwrap();
        // `etw` builds the file from the module docs' table, independently of the writer.
        assert_eq!(&out[..n], etw(code, &dense(&shapes), &words).as_slice());
        let parsed = weights::parse(&out[..n], &shapes).unwrap();
        assert_eq!(parsed.number_type(), ty);
        let mut back = vec![0i32; parsed.len()];
        parsed.load_raw_into(ty, &mut back).unwrap();
        assert_eq!(back, raw);
    }
    // f32 values, including NaN payloads and signed zeros, come back bit for bit.
    let params: Vec<f32> = [
        0.0f32,
        -0.0,
        1.5,
        f32::MIN_POSITIVE,
        f32::NAN,
        -f32::INFINITY,
    ]
    .into_iter()
    .chain((0..9).map(|k| k as f32 * -0.3))
    .collect();
    let mut out = [0u8; 128];
    let n = weights::write_f32(&shapes, &params, &mut out).unwrap();
    let mut back = vec![0f32; 15];
    weights::load_f32(&out[..n], &shapes, &mut back).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&params));
}

#[test]
fn the_writer_refuses_short_buffers_wrong_counts_and_unrepresentable_models() {
    use edgetune::io::weights::WriteError;
    let shapes = [(2usize, 3usize), (3, 1)];
    let params = [0.25f32; 13];
    let need = weights::encoded_len(&shapes).unwrap();
    assert_eq!(need, 16 + 24 + 52 + 4);
    for len in [0, 1, 19, need - 1] {
        let mut out = vec![0x55u8; len];
        assert_eq!(
            weights::write_f32(&shapes, &params, &mut out),
            Err(WriteError::BufferTooShort {
                needed: need,
                found: len
            })
        );
        assert!(out.iter().all(|&b| b == 0x55), "a refused write wrote");
    }
    let mut out = vec![0u8; need];
    assert_eq!(
        weights::write_f32(&shapes, &params[..12], &mut out),
        Err(WriteError::ElementCount {
            expected: 13,
            found: 12
        })
    );
    assert_eq!(
        weights::write_raw(NumberType::I16F16, &shapes, &[0; 14], &mut out),
        Err(WriteError::ElementCount {
            expected: 13,
            found: 14
        })
    );
    let too_many = vec![(1usize, 1usize); 65_536];
    assert_eq!(weights::encoded_len(&too_many), Err(WriteError::TooLarge));
    assert_eq!(
        weights::encoded_len(&[(usize::MAX, 2)]),
        Err(WriteError::TooLarge)
    );
    // 2^15 · 2^15 elements of 4 bytes is 2^32 bytes: one past the u32 payload field.
    assert_eq!(
        weights::encoded_len(&[(1 << 15, (1 << 15) - 1), (1, 1 << 15)]),
        Err(WriteError::TooLarge)
    );
    assert!(!WriteError::TooLarge.to_string().is_empty());
}

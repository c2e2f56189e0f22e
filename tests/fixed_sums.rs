//! Fixed-point layer sums skip the accumulator's saturation test only where it cannot trigger.
//!
//! Every dense, convolution and pointwise kernel first bounds its operands (`Scalar::max_factor`
//! on the shorter one, the type's own `MAX_FACTOR` or a scan for the longer one) and, if no
//! partial sum can leave the `i64` range (`Scalar::sums_in_range`), sums without the test. Each output here is compared bit for bit with its definition summed by the saturating
//! `Scalar::mul_acc`, in the definition's order, on two kinds of data:
//! - ordinary values (within ±4): the bound holds and the fast sums run;
//! - near-full-scale values (within 2 of ±`MAX`): a few products overflow the accumulator, so
//!   the saturation's order matters. The test asserts that it does (some reference sum does
//!   saturate), so an unchecked sum would give other bits;
//! - ordinary values with one in twenty at full scale: the bound fails although no sum
//!   saturates, so the definition pass must give the fast kernels' bits.

#![allow(clippy::needless_range_loop)]

mod common;

use common::Rng;
use edgetune::nn::{conv2d, dense, pointwise, Conv2dShape, Padding, Scalar};
use edgetune::num::fixed::{I16F16, I8F24};

/// A reference sum: `mul_acc` in order.
struct Sum<S: Scalar<Acc = i64>> {
    acc: i64,
    _s: core::marker::PhantomData<S>,
}

impl<S: Scalar<Acc = i64>> Sum<S> {
    fn from(start: S) -> Self {
        Sum {
            acc: start.widen(),
            _s: core::marker::PhantomData,
        }
    }
    /// Adds `a·b`, counting in `hits` an addition that saturated.
    fn add(&mut self, a: S, b: S, hits: &mut usize) {
        let exact = i128::from(self.acc) + i128::from(S::mul_acc(0, a, b));
        self.acc = S::mul_acc(self.acc, a, b);
        if i128::from(self.acc) != exact {
            *hits += 1;
        }
    }
    fn narrow(self) -> S {
        S::narrow(self.acc)
    }
}

/// Values for one run: each at full scale with probability `big` (of random sign, some near
/// `MIN`, some near `MAX`), else ordinary.
fn values<S: Scalar + PartialOrd>(rng: &mut Rng, n: usize, big: f64, max: f64) -> Vec<S> {
    (0..n)
        .map(|_| {
            let v = if rng.unit() < big {
                let m = max - 2.0 * rng.unit();
                if rng.unit() < 0.5 {
                    -m
                } else {
                    m
                }
            } else {
                rng.uniform(4.0)
            };
            S::from_f64(v)
        })
        .collect()
}

fn shapes() -> Vec<Conv2dShape> {
    vec![
        Conv2dShape::new(5, 6, 3, 5, 3, 3).same(),
        Conv2dShape::new(1, 20, 6, 8, 1, 5).same(),
        Conv2dShape::new(6, 6, 4, 6, 3, 3).same().groups(2),
        Conv2dShape::new(5, 7, 8, 8, 3, 3)
            .stride(2, 1)
            .same()
            .groups(8),
        Conv2dShape::new(4, 5, 5, 5, 2, 3).same().groups(5),
        Conv2dShape::new(4, 6, 3, 4, 3, 2).pad(Padding::symmetric(1), Padding::symmetric(2)),
        Conv2dShape::new(3, 4, 6, 5, 1, 1),
    ]
}

/// The output pixel tapped at input row or column `i` through kernel offset `k`, if any.
fn tapped(i: usize, k: usize, before: usize, stride: usize, out: usize) -> Option<usize> {
    let t = (i + before).checked_sub(k)?;
    (t % stride == 0 && t / stride < out).then_some(t / stride)
}

/// The input row or column that output `o` taps through kernel offset `k`, if inside.
fn tap(o: usize, k: usize, stride: usize, before: usize, len: usize) -> Option<usize> {
    (o * stride + k).checked_sub(before).filter(|&i| i < len)
}

/// Forward, input gradient, weight and bias gradients of one layer against their definitions;
/// returns how many reference additions saturated.
fn check_conv<S: Scalar<Acc = i64> + PartialOrd + core::fmt::Debug>(
    s: &Conv2dShape,
    rng: &mut Rng,
    big: f64,
    max: f64,
) -> usize {
    let (cig, cog) = (s.in_c / s.groups, s.out_c / s.groups);
    let (oh_n, ow_n) = (s.out_h(), s.out_w());
    let w: Vec<S> = values(rng, s.weights(), big, max);
    let b: Vec<S> = values(rng, s.out_c, big, max);
    let x: Vec<S> = values(rng, s.input_len(), big, max);
    let dy: Vec<S> = values(rng, s.output_len(), big, max);
    let widx = |o: usize, ki: usize, kj: usize, ci: usize| ((o * s.kh + ki) * s.kw + kj) * cig + ci;
    let mut hits = 0;

    let mut want = vec![S::ZERO; s.output_len()];
    for oh in 0..oh_n {
        for ow in 0..ow_n {
            for o in 0..s.out_c {
                let g = o / cog;
                let mut sum = Sum::from(b[o]);
                for ki in 0..s.kh {
                    let Some(ih) = tap(oh, ki, s.stride_h, s.pad_h.before, s.in_h) else {
                        continue;
                    };
                    for kj in 0..s.kw {
                        let Some(iw) = tap(ow, kj, s.stride_w, s.pad_w.before, s.in_w) else {
                            continue;
                        };
                        for ci in 0..cig {
                            let xv = x[(ih * s.in_w + iw) * s.in_c + g * cig + ci];
                            sum.add(w[widx(o, ki, kj, ci)], xv, &mut hits);
                        }
                    }
                }
                want[(oh * ow_n + ow) * s.out_c + o] = sum.narrow();
            }
        }
    }
    let mut y = vec![S::ZERO; s.output_len()];
    conv2d::forward(s, &w, &b, &x, &mut y).unwrap();
    assert_eq!(y, want, "forward {s:?}");
    if s.kh == 1 && s.kw == 1 && s.groups == 1 {
        pointwise::forward(s, &w, &b, &x, &mut y).unwrap();
        assert_eq!(y, want, "pointwise forward {s:?}");
    }

    let mut want_dx = vec![S::ZERO; s.input_len()];
    for ih in 0..s.in_h {
        for iw in 0..s.in_w {
            for ci in 0..s.in_c {
                let g = ci / cig;
                let mut sum = Sum::from(S::ZERO);
                for ki in 0..s.kh {
                    let Some(oh) = tapped(ih, ki, s.pad_h.before, s.stride_h, oh_n) else {
                        continue;
                    };
                    for kj in 0..s.kw {
                        let Some(ow) = tapped(iw, kj, s.pad_w.before, s.stride_w, ow_n) else {
                            continue;
                        };
                        for o in g * cog..(g + 1) * cog {
                            let wv = w[widx(o, ki, kj, ci - g * cig)];
                            sum.add(wv, dy[(oh * ow_n + ow) * s.out_c + o], &mut hits);
                        }
                    }
                }
                want_dx[(ih * s.in_w + iw) * s.in_c + ci] = sum.narrow();
            }
        }
    }
    let mut dx = vec![S::ZERO; s.input_len()];
    conv2d::backward(s, &w, &x, &dy, None, Some(&mut dx)).unwrap();
    assert_eq!(dx, want_dx, "input gradient {s:?}");
    if s.kh == 1 && s.kw == 1 && s.groups == 1 {
        pointwise::backward(s, &w, &x, &dy, None, Some(&mut dx)).unwrap();
        assert_eq!(dx, want_dx, "pointwise input gradient {s:?}");
    }

    // The gradients accumulate onto what the buffers hold.
    let dw0: Vec<S> = values(rng, s.weights(), 0.0, max);
    let db0: Vec<S> = values(rng, s.out_c, 0.0, max);
    let (mut want_dw, mut want_db) = (dw0.clone(), db0.clone());
    for o in 0..s.out_c {
        let g = o / cog;
        for ki in 0..s.kh {
            for kj in 0..s.kw {
                for ci in 0..cig {
                    let mut sum = Sum::from(S::ZERO);
                    for oh in 0..oh_n {
                        let Some(ih) = tap(oh, ki, s.stride_h, s.pad_h.before, s.in_h) else {
                            continue;
                        };
                        for ow in 0..ow_n {
                            let Some(iw) = tap(ow, kj, s.stride_w, s.pad_w.before, s.in_w) else {
                                continue;
                            };
                            let xv = x[(ih * s.in_w + iw) * s.in_c + g * cig + ci];
                            sum.add(dy[(oh * ow_n + ow) * s.out_c + o], xv, &mut hits);
                        }
                    }
                    let i = widx(o, ki, kj, ci);
                    want_dw[i] = want_dw[i].add(sum.narrow());
                }
            }
        }
        let mut acc = S::ZERO.widen();
        for p in 0..oh_n * ow_n {
            acc = S::add_acc(acc, dy[p * s.out_c + o]);
        }
        want_db[o] = want_db[o].add(S::narrow(acc));
    }
    let (mut dw, mut db) = (dw0.clone(), db0.clone());
    conv2d::backward(s, &w, &x, &dy, Some((&mut dw, &mut db)), None).unwrap();
    assert_eq!((&dw, &db), (&want_dw, &want_db), "weight gradient {s:?}");
    if s.kh == 1 && s.kw == 1 && s.groups == 1 {
        let (mut dw, mut db) = (dw0, db0);
        pointwise::backward(s, &w, &x, &dy, Some((&mut dw, &mut db)), None).unwrap();
        assert_eq!(
            (dw, db),
            (want_dw, want_db),
            "pointwise weight gradient {s:?}"
        );
    }
    hits
}

/// A dense layer's forward and input gradient against their definitions; returns how many
/// reference additions saturated.
fn check_dense<S: Scalar<Acc = i64> + PartialOrd + core::fmt::Debug>(
    rng: &mut Rng,
    big: f64,
    max: f64,
) -> usize {
    const I: usize = 7;
    const O: usize = 5;
    let mut hits = 0;
    let mut w = [[S::ZERO; I]; O];
    for row in w.iter_mut() {
        row.copy_from_slice(&values::<S>(rng, I, big, max));
    }
    let b: [S; O] = values::<S>(rng, O, big, max).try_into().unwrap();
    let x: [S; I] = values::<S>(rng, I, big, max).try_into().unwrap();
    let dy: [S; O] = values::<S>(rng, O, big, max).try_into().unwrap();
    let want: Vec<S> = (0..O)
        .map(|o| {
            let mut sum = Sum::from(b[o]);
            for i in 0..I {
                sum.add(w[o][i], x[i], &mut hits);
            }
            sum.narrow()
        })
        .collect();
    let mut y = [S::ZERO; O];
    dense::forward(&w, &b, &x, &mut y);
    assert_eq!(y.to_vec(), want, "dense forward");
    let want_dx: Vec<S> = (0..I)
        .map(|i| {
            let mut sum = Sum::from(S::ZERO);
            for o in 0..O {
                sum.add(w[o][i], dy[o], &mut hits);
            }
            sum.narrow()
        })
        .collect();
    let mut dx = [S::ZERO; I];
    dense::backward(&w, &x, &dy, None, Some(&mut dx));
    assert_eq!(dx.to_vec(), want_dx, "dense input gradient");
    hits
}

fn check_all<S: Scalar<Acc = i64> + PartialOrd + core::fmt::Debug>(seed: u64, max: f64) {
    let mut rng = Rng(seed);
    for big in [0.0, 0.05, 1.0] {
        let mut hits = 0;
        for _ in 0..4 {
            for s in shapes() {
                hits += check_conv::<S>(&s, &mut rng, big, max);
            }
            hits += check_dense::<S>(&mut rng, big, max);
        }
        // Ordinary values never reach the accumulator's range; full-scale ones must, or the
        // saturating path would go untested.
        if big == 1.0 {
            assert!(hits > 0, "no reference sum saturated");
        } else if big == 0.0 {
            assert_eq!(hits, 0);
        }
        println!("full scale with probability {big}: {hits} reference additions saturated");
    }
}

#[test]
fn i16f16_sums_equal_the_saturating_definition() {
    check_all::<I16F16>(31, 32767.0);
}

#[test]
fn i8f24_sums_equal_the_saturating_definition() {
    check_all::<I8F24>(37, 127.0);
}

/// `sums_in_range` at its edge: `start·2^F + n·a·b ≤ i64::MAX`.
#[test]
fn the_range_bound_is_exact_at_its_edge() {
    type S = I16F16;
    let max = i64::MAX as u128;
    // One full-scale product fits, two do not.
    assert!(<S as Scalar>::sums_in_range(0, 1, 1 << 31, 1 << 31));
    assert!(!<S as Scalar>::sums_in_range(0, 2, 1 << 31, 1 << 31));
    // a·b·n exactly at the limit (i64::MAX = 7·7·73·127·337·92737·649657).
    let (a, b) = (7u64 * 7 * 73 * 127, 337u64 * 92737);
    let n = (max / (u128::from(a) * u128::from(b))) as usize;
    assert_eq!(n as u128 * u128::from(a) * u128::from(b), max);
    assert!(<S as Scalar>::sums_in_range(0, n, a, b));
    assert!(!<S as Scalar>::sums_in_range(1, n, a, b));
    // The start counts widened (2^16 per unit).
    assert!(<S as Scalar>::sums_in_range((max >> 16) as u64, 0, 0, 0));
    assert!(!<S as Scalar>::sums_in_range(
        (max >> 16) as u64 + 1,
        0,
        0,
        0
    ));
    // `max_factor` bounds every magnitude, MIN's 2^31 included, and `MAX_FACTOR` every value's.
    let xs = [S::MIN, S::from_bits(-1), S::from_bits(5)];
    assert!(<S as Scalar>::max_factor(&xs) >= 1 << 31);
    for x in [S::MIN, S::MAX, I16F16::ZERO] {
        assert!(<S as Scalar>::max_factor(&[x]) <= <S as Scalar>::MAX_FACTOR);
    }
    for x in [I8F24::MIN, I8F24::MAX] {
        assert!(<I8F24 as Scalar>::max_factor(&[x]) <= <I8F24 as Scalar>::MAX_FACTOR);
    }
    let ys = [S::from_bits(-8), S::from_bits(5)];
    let m = <S as Scalar>::max_factor(&ys);
    assert!((8..=16).contains(&m), "{m}");
}

//! Backward passes of every convolution-family layer against central finite differences in
//! `f64` (input, weight and bias gradients), forward passes against a naive reference written
//! from the definitions, and the accumulate/overwrite contract.
//!
//! # Tolerance
//! As in `tests/nn_gradcheck.rs`: with `h = 1e-6` the central difference has truncation error
//! `h²/6·|L'''|` (here `L = Σ c·y` is linear or piecewise linear in each parameter, so
//! `L''' = 0` away from kinks) and rounding error `δ/h` with `δ ≲ n·|terms|·2.2e-16` for a loss
//! of at most a few hundred terms of size ≤ 10, i.e. below `7e-7`. Hence `FD_TOL = 1e-6`,
//! applied as `|analytic − numeric| ≤ FD_TOL·max(1, |analytic|)`; the measured worst errors are
//! printed (`cargo test --test conv_gradcheck -- --nocapture`). Max-pool inputs are distinct
//! multiples of `0.05` (no ties, far beyond `h`); ReLU6 inputs stay `0.05` from its kinks.

#![allow(clippy::needless_range_loop)]

mod common;
mod conv_support;

use common::{assert_gradient, numeric_gradient, Rng, FD_TOL};
use conv_support::{catalogue, max_terms, needs_distinct, run, sizes, Layer};
use edgetune::nn::{
    avg_pool, conv2d, max_pool, pointwise, Activation, Conv2dShape, NnError, Padding, Pool2dShape,
    Relu6,
};
use edgetune::Error;

/// Distinct values `(k − n/2)·0.05` in a random order.
fn distinct(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n).map(|k| (k as f64 - n as f64 / 2.0) * 0.05).collect();
    for i in (1..n).rev() {
        let j = rng.range(0, i);
        v.swap(i, j);
    }
    v
}

/// Gradient of `Σ c·y` with respect to `[w, b, x]` by `run` and by central differences.
fn gradcheck(name: &str, l: &Layer, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let (nw, nb, nx, ny) = sizes(l);
    let mut p = rng.vec(nw + nb, 1.0);
    if needs_distinct(l) {
        p.extend(distinct(&mut rng, nx));
    } else {
        p.extend(rng.vec(nx, 1.0));
    }
    let c = rng.vec(ny, 1.0);
    let split = |q: &[f64]| {
        let (w, rest) = q.split_at(nw);
        let (b, x) = rest.split_at(nb);
        (w.to_vec(), b.to_vec(), x.to_vec())
    };
    let (w, b, x) = split(&p);
    let out = run::<f64>(l, &w, &b, &x, &c);
    let mut analytic = out.dw.clone();
    analytic.extend(&out.db);
    analytic.extend(&out.dx);
    let loss = |q: &[f64]| {
        let (w, b, x) = split(q);
        let y = run::<f64>(l, &w, &b, &x, &vec![0.0; ny]).y;
        y.iter().zip(&c).map(|(y, c)| y * c).sum()
    };
    let numeric = numeric_gradient(&loss, &p);
    let worst = assert_gradient(name, &analytic, &numeric);
    println!(
        "gradcheck {name}: {} elements, worst scaled error {worst:.2e}",
        p.len()
    );
    worst
}

#[test]
fn every_layer_backward_matches_finite_differences() {
    let mut worst: f64 = 0.0;
    for (seed, (name, l)) in catalogue().iter().enumerate() {
        worst = worst.max(gradcheck(name, l, 100 + seed as u64));
    }
    println!("worst over all layers: {worst:.2e} (tolerance {FD_TOL:e})");
}

#[test]
fn relu6_backward_matches_finite_differences_away_from_its_kinks() {
    let mut rng = Rng(7);
    let x: Vec<f64> = (0..200)
        .map(|_| loop {
            let v = rng.uniform(9.0) + 3.0; // [-6, 12)
            if v.abs() >= 0.05 && (v - 6.0).abs() >= 0.05 {
                break v;
            }
        })
        .collect();
    let l = Layer::Relu6 { len: x.len() };
    let c = rng.vec(x.len(), 1.0);
    let out = run::<f64>(&l, &[], &[], &x, &c);
    let loss = |q: &[f64]| {
        let y = run::<f64>(&l, &[], &[], q, &vec![0.0; q.len()]).y;
        y.iter().zip(&c).map(|(y, c)| y * c).sum()
    };
    let worst = assert_gradient("relu6", &out.dx, &numeric_gradient(&loss, &x));
    println!("gradcheck relu6: worst scaled error {worst:.2e}");
    for (&xi, &yi) in x.iter().zip(&out.y) {
        assert_eq!(yi, xi.clamp(0.0, 6.0));
    }
    // torch's convention at the kinks (hardtanh): zero gradient at exactly 0 and 6.
    assert_eq!(Relu6.derivative_from_output(0.0f64), 0.0);
    assert_eq!(Relu6.derivative_from_output(6.0f64), 0.0);
    assert_eq!(Relu6.derivative_from_output(5.999f64), 1.0);
}

/// Conv2d forward from the definition, over an explicitly zero-padded copy of the input: each
/// output is the bias plus the products in `(ki, kj, ci)` order.
fn naive_conv2d<T>(s: &Conv2dShape, w: &[T], b: &[T], x: &[T]) -> Vec<T>
where
    T: Copy + From<f32> + core::ops::Add<Output = T> + core::ops::Mul<Output = T>,
{
    let zero = T::from(0.0);
    let (ph, pw) = (
        s.in_h + s.pad_h.before + s.pad_h.after,
        s.in_w + s.pad_w.before + s.pad_w.after,
    );
    let mut padded = vec![zero; ph * pw * s.in_c];
    for h in 0..s.in_h {
        for v in 0..s.in_w {
            for c in 0..s.in_c {
                padded[((h + s.pad_h.before) * pw + v + s.pad_w.before) * s.in_c + c] =
                    x[(h * s.in_w + v) * s.in_c + c];
            }
        }
    }
    let (oh, ow) = ((ph - s.kh) / s.stride_h + 1, (pw - s.kw) / s.stride_w + 1);
    assert_eq!((oh, ow), (s.out_h(), s.out_w()));
    let (cig, cog) = (s.in_c / s.groups, s.out_c / s.groups);
    let mut y = vec![zero; oh * ow * s.out_c];
    for i in 0..oh {
        for j in 0..ow {
            for o in 0..s.out_c {
                let g = o / cog;
                let mut sum = b[o];
                for ki in 0..s.kh {
                    for kj in 0..s.kw {
                        for ci in 0..cig {
                            let xv = padded[((i * s.stride_h + ki) * pw + j * s.stride_w + kj)
                                * s.in_c
                                + g * cig
                                + ci];
                            sum = sum + w[((o * s.kh + ki) * s.kw + kj) * cig + ci] * xv;
                        }
                    }
                }
                y[(i * ow + j) * s.out_c + o] = sum;
            }
        }
    }
    y
}

#[test]
fn conv_forward_matches_the_definition_and_pointwise_equals_conv2d() {
    let mut rng = Rng(3);
    for (name, l) in catalogue() {
        let s = match l {
            Layer::Conv2d(s) | Layer::Pointwise(s) => s,
            Layer::Conv1d(s) => s.to_2d(),
            _ => continue,
        };
        let (nw, nb, nx, ny) = sizes(&l);
        let (w, b, x) = (rng.vec(nw, 1.0), rng.vec(nb, 1.0), rng.vec(nx, 1.0));
        let y = run::<f64>(&l, &w, &b, &x, &vec![0.0; ny]).y;
        let naive = naive_conv2d(&s, &w, &b, &x);
        for (a, n) in y.iter().zip(&naive) {
            // Same products, possibly another summation order: γ_n·Σ|terms| with Σ|terms| ≤ 30.
            assert!((a - n).abs() <= 1e-13, "{name}: {a} vs {n}");
        }
        if let Layer::Pointwise(s) = l {
            let mut y2 = vec![0.0; ny];
            conv2d::forward(&s, &w, &b, &x, &mut y2).unwrap();
            assert_eq!(y, y2, "pointwise and conv2d sum in the same order");
            let g = run::<f64>(&l, &w, &b, &x, &naive);
            let g2 = run::<f64>(&Layer::Conv2d(s), &w, &b, &x, &naive);
            assert_eq!((g.dx, g.dw, g.db), (g2.dx, g2.dw, g2.db));
        }
        println!(
            "{name}: forward matches the definition ({} terms max)",
            max_terms(&l)
        );
    }
}

/// Convolution shapes for the summation-order tests: the catalogue's, output channels beyond a
/// block of four, odd widths (a pixel left over from the pairs), strides, padding that clips
/// the windows differently, groups and depthwise layers.
fn order_shapes() -> Vec<Conv2dShape> {
    let mut shapes: Vec<Conv2dShape> = catalogue()
        .into_iter()
        .filter_map(|(_, l)| match l {
            Layer::Conv2d(s) | Layer::Pointwise(s) => Some(s),
            Layer::Conv1d(s) => Some(s.to_2d()),
            _ => None,
        })
        .collect();
    shapes.extend([
        Conv2dShape::new(4, 9, 2, 7, 3, 3).same(),
        Conv2dShape::new(5, 10, 3, 5, 3, 3).stride(1, 2).same(),
        Conv2dShape::new(3, 7, 5, 9, 2, 4).pad(Padding::symmetric(1), Padding::symmetric(2)),
        Conv2dShape::new(1, 50, 6, 8, 1, 5).same(),
        Conv2dShape::new(8, 8, 4, 8, 3, 3).same(),
        Conv2dShape::new(6, 6, 4, 8, 3, 3).same().groups(2),
        Conv2dShape::new(8, 8, 8, 8, 3, 3).same().groups(8),
        Conv2dShape::new(5, 7, 12, 12, 3, 3)
            .stride(2, 1)
            .same()
            .groups(12),
        // Depthwise rows that slide in runs of four, three, two and one pixels, with and
        // without padding, padding wider than a tap, rows narrower than the kernel.
        Conv2dShape::new(5, 13, 8, 8, 3, 3).same().groups(8),
        Conv2dShape::new(4, 11, 6, 6, 3, 3).groups(6),
        Conv2dShape::new(6, 10, 4, 4, 3, 3)
            .stride(2, 1)
            .pad(
                Padding::symmetric(2),
                Padding {
                    before: 2,
                    after: 1,
                },
            )
            .groups(4),
        Conv2dShape::new(3, 2, 4, 4, 3, 3).same().groups(4),
        Conv2dShape::new(4, 6, 5, 5, 2, 3).same().groups(5),
    ]);
    shapes
}

/// The blocked `f32` forward kernels (four output channels per loaded input, two or four
/// neighbouring pixels per loaded weight, depthwise channel blocks) form every sum in the
/// definition's order, so they give exactly its bits: the padded taps the kernels skip add `±0`
/// to a nonzero sum.
#[test]
fn f32_conv_forward_sums_in_the_definitions_order() {
    let mut rng = Rng(17);
    for s in order_shapes() {
        let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        let w = f(rng.vec(s.weights(), 1.0));
        let b = f(rng.vec(s.out_c, 1.0));
        let x = f(rng.vec(s.input_len(), 1.0));
        let mut y = vec![0.0f32; s.output_len()];
        conv2d::forward(&s, &w, &b, &x, &mut y).unwrap();
        assert_eq!(y, naive_conv2d(&s, &w, &b, &x), "{s:?}");
    }
}

/// The input gradient from its definition: `dx[ih][iw][ci] = Σ W[o][ki][kj][ci]·dy[oh][ow][o]`
/// over the kernel offsets `(ki, kj)` in order, then the group's output channels `o` in order,
/// for every `(ki, kj)` whose output `(oh, ow)` exists.
fn naive_input_gradient(s: &Conv2dShape, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (cig, cog) = (s.in_c / s.groups, s.out_c / s.groups);
    let tap = |i: usize, k: usize, before: usize, stride: usize, out: usize| {
        let t = (i + before).checked_sub(k)?;
        (t % stride == 0 && t / stride < out).then_some(t / stride)
    };
    let mut dx = vec![0.0f32; s.input_len()];
    for ih in 0..s.in_h {
        for iw in 0..s.in_w {
            for ci in 0..s.in_c {
                let g = ci / cig;
                let mut sum = 0.0f32;
                for ki in 0..s.kh {
                    let Some(oh) = tap(ih, ki, s.pad_h.before, s.stride_h, s.out_h()) else {
                        continue;
                    };
                    for kj in 0..s.kw {
                        let Some(ow) = tap(iw, kj, s.pad_w.before, s.stride_w, s.out_w()) else {
                            continue;
                        };
                        for o in g * cog..(g + 1) * cog {
                            let wv = w[((o * s.kh + ki) * s.kw + kj) * cig + ci - g * cig];
                            sum += wv * dy[(oh * s.out_w() + ow) * s.out_c + o];
                        }
                    }
                }
                dx[(ih * s.in_w + iw) * s.in_c + ci] = sum;
            }
        }
    }
    dx
}

/// The blocked `f32` input-gradient kernels (up to four input channels per loaded output
/// gradient, runs of four, two or one neighbouring pixels per loaded weight, depthwise channel
/// blocks) form every sum in the definition's order, so they give exactly its bits.
#[test]
fn f32_conv_input_gradient_sums_in_the_definitions_order() {
    let mut rng = Rng(19);
    for s in order_shapes() {
        let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        let w = f(rng.vec(s.weights(), 1.0));
        let x = f(rng.vec(s.input_len(), 1.0));
        let dy = f(rng.vec(s.output_len(), 1.0));
        let mut dx = vec![0.0f32; s.input_len()];
        conv2d::backward(&s, &w, &x, &dy, None, Some(&mut dx)).unwrap();
        assert_eq!(dx, naive_input_gradient(&s, &w, &dy), "{s:?}");
    }
}

/// The weight and bias gradients from their definitions, added to zeros:
/// `dW[o][ki][kj][ci] = Σ dy[oh][ow][o]·x[ih][iw][g·cig + ci]` and `db[o] = Σ dy[oh][ow][o]`,
/// each sum over the output pixels `(oh, ow)` in order, for every pixel whose tap
/// `(ih, iw)` lies inside the input.
fn naive_weight_gradient(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (cig, cog) = (s.in_c / s.groups, s.out_c / s.groups);
    let (oh_n, ow_n) = (s.out_h(), s.out_w());
    let tap = |o: usize, k: usize, stride: usize, before: usize, len: usize| {
        (o * stride + k).checked_sub(before).filter(|&i| i < len)
    };
    let mut dw = vec![0.0f32; s.weights()];
    let mut db = vec![0.0f32; s.out_c];
    for o in 0..s.out_c {
        let g = o / cog;
        for ki in 0..s.kh {
            for kj in 0..s.kw {
                for ci in 0..cig {
                    let mut sum = 0.0f32;
                    for oh in 0..oh_n {
                        let Some(ih) = tap(oh, ki, s.stride_h, s.pad_h.before, s.in_h) else {
                            continue;
                        };
                        for ow in 0..ow_n {
                            let Some(iw) = tap(ow, kj, s.stride_w, s.pad_w.before, s.in_w) else {
                                continue;
                            };
                            let xv = x[(ih * s.in_w + iw) * s.in_c + g * cig + ci];
                            sum += dy[(oh * ow_n + ow) * s.out_c + o] * xv;
                        }
                    }
                    dw[((o * s.kh + ki) * s.kw + kj) * cig + ci] = 0.0 + sum;
                }
            }
        }
        let sum = (0..oh_n * ow_n).fold(0.0f32, |a, p| a + dy[p * s.out_c + o]);
        db[o] = 0.0 + sum;
    }
    (dw, db)
}

/// The blocked `f32` weight-gradient kernels (four, eight or one output channels by four, two
/// or one input channels per pass over the pixels, depthwise channel blocks) and the bias
/// gradient (channel blocks) form every sum in the definition's order, so they give exactly
/// its bits.
#[test]
fn f32_conv_weight_gradient_sums_in_the_definitions_order() {
    let mut rng = Rng(23);
    for s in order_shapes() {
        let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        let w = f(rng.vec(s.weights(), 1.0));
        let x = f(rng.vec(s.input_len(), 1.0));
        let dy = f(rng.vec(s.output_len(), 1.0));
        let (mut dw, mut db) = (vec![0.0f32; s.weights()], vec![0.0f32; s.out_c]);
        conv2d::backward(&s, &w, &x, &dy, Some((&mut dw, &mut db)), None).unwrap();
        assert_eq!((dw, db), naive_weight_gradient(&s, &x, &dy), "{s:?}");
    }
}

#[test]
fn gradients_accumulate_and_dx_is_overwritten() {
    let s = Conv2dShape::new(4, 4, 2, 3, 3, 3).same();
    let mut rng = Rng(9);
    let (w, x, dy) = (
        rng.vec(s.weights(), 1.0),
        rng.vec(s.input_len(), 1.0),
        rng.vec(s.output_len(), 1.0),
    );
    let mut once = (vec![0.0; s.weights()], vec![0.0; s.out_c]);
    conv2d::backward(&s, &w, &x, &dy, Some((&mut once.0, &mut once.1)), None).unwrap();
    let mut twice = (vec![0.0; s.weights()], vec![0.0; s.out_c]);
    let mut dx = vec![123.0; s.input_len()];
    for _ in 0..2 {
        conv2d::backward(
            &s,
            &w,
            &x,
            &dy,
            Some((&mut twice.0, &mut twice.1)),
            Some(&mut dx),
        )
        .unwrap();
    }
    for (a, b) in once
        .0
        .iter()
        .chain(&once.1)
        .zip(twice.0.iter().chain(&twice.1))
    {
        assert_eq!(2.0 * a, *b, "dW and db accumulate");
    }
    let mut dx1 = vec![0.0; s.input_len()];
    conv2d::backward(&s, &w, &x, &dy, None, Some(&mut dx1)).unwrap();
    assert_eq!(dx, dx1, "dx is overwritten, not accumulated");
}

#[test]
fn bad_lengths_and_shapes_are_errors_and_write_nothing() {
    let s = Conv2dShape::new(4, 4, 2, 3, 3, 3);
    let (w, b, x) = (
        vec![1.0; s.weights()],
        vec![0.0; 3],
        vec![1.0; s.input_len()],
    );
    let mut y = vec![7.0; s.output_len()];
    assert_eq!(
        conv2d::forward(&s, &w[1..], &b, &x, &mut y),
        Err(Error::LengthMismatch {
            expected: s.weights(),
            found: s.weights() - 1
        })
    );
    assert_eq!(
        conv2d::forward(&s, &w, &b, &x, &mut y[1..]),
        Err(Error::LengthMismatch {
            expected: s.output_len(),
            found: s.output_len() - 1
        })
    );
    let bad = s.groups(2); // 3 output channels do not split into 2 groups
    assert_eq!(
        conv2d::forward(&bad, &w, &b, &x, &mut y),
        Err(Error::Nn(NnError::InvalidShape))
    );
    assert!(y.iter().all(|&v| v == 7.0), "nothing written");
    let mut dw = vec![5.0; s.weights()];
    let mut db = vec![5.0; 2];
    let mut dx = vec![5.0; s.input_len()];
    assert!(conv2d::backward(&s, &w, &x, &y, Some((&mut dw, &mut db)), Some(&mut dx)).is_err());
    assert!(
        dw.iter().chain(&db).chain(&dx).all(|&v| v == 5.0),
        "nothing written"
    );
    assert_eq!(
        pointwise::forward(&s, &w, &b, &x, &mut y),
        Err(Error::Nn(NnError::InvalidShape)),
        "pointwise refuses a 3x3 kernel"
    );
    let p = Pool2dShape::new(4, 4, 2, 2, 2);
    let mut py = vec![7.0; p.output_len()];
    assert!(max_pool::forward(&p, &x[1..], &mut py).is_err());
    assert!(avg_pool::forward(&p, true, &x, &mut py[1..]).is_err());
    let wide = p.pad(Padding::symmetric(2), Padding::NONE);
    assert_eq!(
        max_pool::forward(&wide, &x, &mut py),
        Err(Error::Nn(NnError::InvalidShape)),
        "padding as wide as the window"
    );
    assert!(py.iter().all(|&v| v == 7.0));
}

#[test]
fn max_pool_routes_ties_to_the_first_maximum() {
    // One channel, 2x2 window over [[1, 3], [3, 2]]: the first 3 (row 0, column 1) takes dy.
    let p = Pool2dShape::new(2, 2, 1, 2, 2);
    let x = [1.0f64, 3.0, 3.0, 2.0];
    let mut dx = [9.0; 4];
    max_pool::backward(&p, &x, &[1.5], &mut dx).unwrap();
    assert_eq!(dx, [0.0, 1.5, 0.0, 0.0]);
}

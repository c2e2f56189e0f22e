//! No convolution-family function panics on any shape or slice length: random shapes (zero
//! sizes, kernels larger than the input, groups that do not divide, huge paddings) and slice
//! lengths near the expected ones; each call either succeeds with every length matching, or
//! returns an error and leaves every output buffer as it was.

mod common;

use common::Rng;
use edgetune::nn::{
    avg_pool, bn_fold, bn_stats, conv1d, conv2d, global_avg_pool, max_pool, pointwise, scale_shift,
    Conv1dShape, Conv2dShape, Padding, Pool1dShape, Pool2dShape,
};

const SENTINEL: f32 = 7.5;

fn len_near(rng: &mut Rng, expected: usize) -> usize {
    let expected = expected.min(4096); // a saturated size is never allocated
    match rng.range(0, 11) {
        0 => expected.saturating_sub(1),
        1 => expected + 1,
        2 => rng.range(0, 8),
        _ => expected,
    }
}

/// Mostly 1..=4, sometimes 0.
fn dim(rng: &mut Rng) -> usize {
    if rng.range(0, 19) == 0 {
        0
    } else {
        rng.range(1, 4)
    }
}

fn buf(n: usize) -> Vec<f32> {
    vec![SENTINEL; n]
}

fn untouched(v: &[f32]) -> bool {
    v.iter().all(|&x| x == SENTINEL)
}

fn pad(rng: &mut Rng) -> Padding {
    let big = rng.range(0, 20) == 0;
    Padding {
        before: if big { usize::MAX / 2 } else { rng.range(0, 3) },
        after: rng.range(0, 3),
    }
}

#[test]
fn random_shapes_and_lengths_never_panic_and_errors_write_nothing() {
    let mut rng = Rng(42);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        let in_c = dim(&mut rng);
        let groups = match rng.range(0, 5) {
            0 => 0,
            1 => 2,
            2 => in_c,
            _ => 1,
        };
        let s = Conv2dShape::new(
            dim(&mut rng) + 2,
            dim(&mut rng) + 2,
            in_c,
            in_c * rng.range(0, 2),
            dim(&mut rng),
            dim(&mut rng),
        )
        .stride(dim(&mut rng), dim(&mut rng))
        .pad(pad(&mut rng), pad(&mut rng))
        .groups(groups);
        let (nw, nb, nx, ny) = (
            len_near(&mut rng, s.weights()),
            len_near(&mut rng, s.out_c),
            len_near(&mut rng, s.input_len()),
            len_near(&mut rng, s.output_len()),
        );
        let (w, b, x) = (vec![0.5f32; nw], vec![0.5f32; nb], vec![0.5f32; nx]);
        let mut y = buf(ny);
        let r = conv2d::forward(&s, &w, &b, &x, &mut y);
        let lengths_match =
            s.valid() && (nw, nb, nx, ny) == (s.weights(), s.out_c, s.input_len(), s.output_len());
        assert_eq!(r.is_ok(), lengths_match, "{s:?} {:?}", (nw, nb, nx, ny));
        if r.is_err() {
            assert!(untouched(&y));
            err += 1;
        } else {
            ok += 1;
        }
        let (mut dw, mut db, mut dx) = (buf(nw), buf(nb), buf(nx));
        if conv2d::backward(&s, &w, &x, &y, Some((&mut dw, &mut db)), Some(&mut dx)).is_err() {
            assert!(untouched(&dw) && untouched(&db) && untouched(&dx));
        }
        let mut y2 = buf(ny);
        if pointwise::forward(&s, &w, &b, &x, &mut y2).is_err() {
            assert!(untouched(&y2));
        }
        let (mut dw, mut db, mut dx) = (buf(nw), buf(nb), buf(nx));
        if pointwise::backward(&s, &w, &x, &y, Some((&mut dw, &mut db)), Some(&mut dx)).is_err() {
            assert!(untouched(&dw) && untouched(&db) && untouched(&dx));
        }
        let s1 = Conv1dShape::new(s.in_w, s.in_c, s.out_c, s.kw)
            .stride(s.stride_w)
            .pad(s.pad_w)
            .groups(s.groups);
        let mut y1 = buf(ny);
        if conv1d::forward(&s1, &w, &b, &x, &mut y1).is_err() {
            assert!(untouched(&y1));
        }

        let p = Pool2dShape::new(s.in_h, s.in_w, s.in_c, s.kh, s.kw)
            .stride(s.stride_h, s.stride_w)
            .pad(s.pad_h, s.pad_w);
        let (px, py) = (
            len_near(&mut rng, p.input_len()),
            len_near(&mut rng, p.output_len()),
        );
        let x = vec![0.25f32; px];
        let inc = rng.range(0, 1) == 1;
        let (mut y, mut dx) = (buf(py), buf(px));
        if max_pool::forward(&p, &x, &mut y).is_err() {
            assert!(untouched(&y));
        }
        if max_pool::backward(&p, &x, &vec![1.0; py], &mut dx).is_err() {
            assert!(untouched(&dx));
        }
        let (mut y, mut dx) = (buf(py), buf(px));
        if avg_pool::forward(&p, inc, &x, &mut y).is_err() {
            assert!(untouched(&y));
        }
        if avg_pool::backward(&p, inc, &vec![1.0; py], &mut dx).is_err() {
            assert!(untouched(&dx));
        }
        let p1 = Pool1dShape::new(s.in_w, s.in_c, s.kw)
            .stride(s.stride_w)
            .pad(s.pad_w);
        let mut y = buf(py);
        if max_pool::forward_1d(&p1, &x, &mut y).is_err() {
            assert!(untouched(&y));
        }
        if avg_pool::forward_1d(&p1, inc, &x, &mut y).is_err() {
            assert!(untouched(&y));
        }

        let (pixels, ch) = (rng.range(0, 5), rng.range(0, 4));
        let (gx, gy) = (len_near(&mut rng, pixels * ch), len_near(&mut rng, ch));
        let (mut y, mut dx) = (buf(gy), buf(gx));
        if global_avg_pool::forward(pixels, ch, &vec![1.0; gx], &mut y).is_err() {
            assert!(untouched(&y));
        }
        if global_avg_pool::backward(pixels, ch, &vec![1.0; gy], &mut dx).is_err() {
            assert!(untouched(&dx));
        }
        let (scale, shift) = (vec![1.0f32; ch], vec![0.0f32; len_near(&mut rng, ch)]);
        let mut y = buf(gx);
        if scale_shift::forward(&scale, &shift, &vec![1.0; gx], &mut y).is_err() {
            assert!(untouched(&y));
        }
        let (mut ds, mut dsh, mut dx) = (buf(shift.len()), buf(ch), buf(gx));
        if scale_shift::backward(
            &scale,
            &vec![1.0; gx],
            &vec![1.0; len_near(&mut rng, gx)],
            Some((&mut ds, &mut dsh)),
            Some(&mut dx),
        )
        .is_err()
        {
            assert!(untouched(&ds) && untouched(&dsh) && untouched(&dx));
        }
        let ones = vec![1.0f32; len_near(&mut rng, ch)];
        let var = vec![1.0f32; ch];
        let bn = bn_fold::BatchNorm {
            gamma: &ones,
            beta: &var,
            mean: &var,
            var: &var,
            eps: 1e-5,
        };
        let (mut fw, mut fb) = (buf(rng.range(0, 9)), buf(ch));
        if bn_fold::fold_into_conv(&bn, &mut fw, &mut fb).is_err() {
            assert!(untouched(&fw) && untouched(&fb));
        }
        let (mut rm, mut rv) = (buf(ch), buf(len_near(&mut rng, ch)));
        let mut tracked = 3;
        if bn_stats::update(
            &vec![1.0; gx],
            bn_stats::Momentum::Exponential(0.1),
            &mut tracked,
            &mut rm,
            &mut rv,
        )
        .is_err()
        {
            assert!(untouched(&rm) && untouched(&rv) && tracked == 3);
        }
    }
    println!("conv2d forward: {ok} accepted, {err} refused");
    assert!(
        ok > 100 && err > 100,
        "both paths exercised: {ok} ok, {err} errors"
    );
}

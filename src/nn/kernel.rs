//! Register-blocked multiply-accumulate loops shared by the dense and convolution kernels.
//!
//! Each loop keeps several independent sums in registers so that one loaded value feeds several
//! multiply-adds, and unrolls runs of four so that contiguous loads can merge (`vldm` on a
//! Cortex-M4F). Every sum is still formed in the order of the plain one-output loop (ascending
//! index), so blocking changes no result bit.

use super::Scalar;

/// Whether `S` sums in a wider accumulator than itself (fixed point's exact 64-bit sums). Four
/// such sums take eight core registers, which leaves too few for a dense layer's already tight
/// one-output loop (measured slower on the Cortex-M3), so the dense kernels block only narrow
/// accumulators. A constant per type: the branch folds away.
#[inline(always)]
pub(crate) const fn wide_acc<S: Scalar>() -> bool {
    core::mem::size_of::<S::Acc>() > core::mem::size_of::<S>()
}

/// Whether the convolution kernels block pixels and channels for `S` (runs of neighbouring
/// pixels sharing each loaded weight, eight-row weight-gradient blocks): narrow sums done by
/// an FPU. Fixed point's 64-bit sums leave too few registers, and where `f32` is emulated each
/// product is a library call whose cost dwarfs the loads the blocking saves, while its extra
/// loop versions would not fit a Cortex-M0's flash. Every path forms the same sums in the
/// same order, so this changes no result. A constant per type and target.
#[inline(always)]
pub(crate) const fn blocked<S: Scalar>() -> bool {
    !wide_acc::<S>() && crate::num::F32_IN_HARDWARE
}

/// Whether some accumulation that starts from a value of `start` (or from zero, `None`) and adds
/// at most `n` products of an element of `a` with one of `b` might leave `S`'s accumulator
/// range, so that its saturation decides the result. When not, the kernels sum with [`mac`];
/// when it might, the layers take their sums by the definition with [`Scalar::mul_acc`]. Each
/// operand is given as its runs (slices) and its length: the shorter one is scanned, the
/// longer one first taken at the type's own bound ([`Scalar::MAX_FACTOR`]) and scanned only if
/// that is too loose (a dense layer's weights are each used once per pass). `false` at once
/// for a type without the test.
#[inline(always)]
pub(crate) fn may_saturate<'s, 'a, 'b, S: Scalar + 's + 'a + 'b>(
    start: Option<impl Iterator<Item = &'s [S]>>,
    n: usize,
    (a, a_len): (impl Iterator<Item = &'a [S]>, usize),
    (b, b_len): (impl Iterator<Item = &'b [S]>, usize),
) -> bool {
    S::SATURATING_ACC && !bound_holds::<S>(start, n, (a, a_len), (b, b_len))
}

/// [`may_saturate`]'s bound for a type with the range test, out of line: a layer's pass makes
/// one call, and its call site stays small where a network inlines every layer kind.
#[inline(never)]
fn bound_holds<'s, 'a, 'b, S: Scalar + 's + 'a + 'b>(
    start: Option<impl Iterator<Item = &'s [S]>>,
    n: usize,
    (a, a_len): (impl Iterator<Item = &'a [S]>, usize),
    (b, b_len): (impl Iterator<Item = &'b [S]>, usize),
) -> bool {
    let start = start.map_or(0, factor);
    let fits = |fa, fb| S::sums_in_range(start, n, fa, fb);
    if a_len <= b_len {
        let fa = factor(a);
        fits(fa, S::MAX_FACTOR) || fits(fa, factor(b))
    } else {
        let fb = factor(b);
        fits(S::MAX_FACTOR, fb) || fits(factor(a), fb)
    }
}

/// [`Scalar::max_factor`] over runs.
#[inline(always)]
fn factor<'a, S: Scalar + 'a>(runs: impl Iterator<Item = &'a [S]>) -> u64 {
    runs.map(S::max_factor).max().unwrap_or(0)
}

/// `acc + a·b` in a layer's kernels: [`Scalar::mul_acc`], without its range test for a type that
/// has one. The layers reach their kernels with such a type only where [`may_saturate`] is
/// `false`: every sum then stays in range, and the result is the same.
#[inline(always)]
pub(crate) fn mac<S: Scalar>(acc: S::Acc, a: S, b: S) -> S::Acc {
    if S::SATURATING_ACC {
        S::mul_acc_in_range(acc, a, b)
    } else {
        S::mul_acc(acc, a, b)
    }
}

/// `acc[j] += Σᵢ w[j][i]·x[i]`, each sum in ascending `i` (the order of the one-output loop, so
/// the blocking does not change any result). Runs of four are unrolled so that contiguous loads
/// can merge.
#[inline(always)]
pub(crate) fn dot4<S: Scalar>(acc: &mut [S::Acc; 4], x: &[S], w: [&[S]; 4]) {
    // A hardware kernel may take a prefix (`arm-vldm`); the rest continues in the same order.
    #[cfg(feature = "arm-vldm")]
    let (x, w) = {
        let done = S::dot4_prefix(acc, x, w);
        (
            x.get(done..).unwrap_or_default(),
            w.map(|r| r.get(done..).unwrap_or_default()),
        )
    };
    let (x4, x1) = x.as_chunks::<4>();
    let [w0, w1, w2, w3] = w.map(|r| r.as_chunks::<4>());
    for ((((xv, a), b), c), e) in x4.iter().zip(w0.0).zip(w1.0).zip(w2.0).zip(w3.0) {
        for i in 0..4 {
            acc[0] = mac::<S>(acc[0], a[i], xv[i]);
            acc[1] = mac::<S>(acc[1], b[i], xv[i]);
            acc[2] = mac::<S>(acc[2], c[i], xv[i]);
            acc[3] = mac::<S>(acc[3], e[i], xv[i]);
        }
    }
    for ((((&xv, &a), &b), &c), &e) in x1.iter().zip(w0.1).zip(w1.1).zip(w2.1).zip(w3.1) {
        acc[0] = mac::<S>(acc[0], a, xv);
        acc[1] = mac::<S>(acc[1], b, xv);
        acc[2] = mac::<S>(acc[2], c, xv);
        acc[3] = mac::<S>(acc[3], e, xv);
    }
}

/// [`dot4`] for `N` inputs at once: `acc[p][j] += Σᵢ w[j][i]·x[p][i]`, so each loaded weight
/// feeds `N` multiply-adds (neighbouring output pixels of a convolution share their weight
/// runs). Each sum in ascending `i`; runs of two are unrolled so that loads take immediate
/// offsets (runs of four spill registers at `N = 4`: 16 sums).
#[inline(always)]
pub(crate) fn dot4xn<S: Scalar, const N: usize>(
    acc: &mut [[S::Acc; 4]; N],
    x: [&[S]; N],
    w: [&[S]; 4],
) {
    // A hardware kernel may take a prefix (`arm-vldm`); the rest continues in the same order.
    #[cfg(feature = "arm-vldm")]
    let (x, w) = {
        let done = S::dot4xn_prefix(acc, x, w);
        (
            x.map(|v| v.get(done..).unwrap_or_default()),
            w.map(|v| v.get(done..).unwrap_or_default()),
        )
    };
    let len = w.iter().chain(&x).map(|v| v.len()).min().unwrap_or(0);
    let runs = len / 2;
    let xq = x.map(|v| v.as_chunks::<2>().0);
    let wq = w.map(|v| v.as_chunks::<2>().0);
    for k in 0..runs {
        let (Some(wv), Some(xv)) = (gather_at(&wq, k), gather_at(&xq, k)) else {
            return;
        };
        for i in 0..2 {
            for (a, xp) in acc.iter_mut().zip(&xv) {
                for (aj, wj) in a.iter_mut().zip(&wv) {
                    *aj = S::mul_acc(*aj, wj[i], xp[i]);
                }
            }
        }
    }
    for i in runs * 2..len {
        let (Some(wv), Some(xv)) = (gather_at(&w, i), gather_at(&x, i)) else {
            return;
        };
        for (a, &xp) in acc.iter_mut().zip(&xv) {
            for (aj, &wj) in a.iter_mut().zip(&wv) {
                *aj = S::mul_acc(*aj, wj, xp);
            }
        }
    }
}

/// Element `i` of each of `M` slices, or `None` if one is too short.
#[inline(always)]
fn gather_at<T: Copy, const M: usize>(v: &[&[T]; M], i: usize) -> Option<[T; M]> {
    let mut out = [*v.first()?.get(i)?; M];
    for (o, s) in out.iter_mut().zip(v) {
        *o = *s.get(i)?;
    }
    Some(out)
}

/// Calls `f(row, [g[0][i], …, g[P − 1][i]])` for each `row` of `rows` and index `i`, as far
/// as the shortest of them goes, for `P` of 1, 2 or 4 (any other `P` does not compile). The
/// slices go through nested `zip`s, which the compiler turns into one length check and
/// unchecked loads, where indexing the `P` slices would check each load.
#[inline(always)]
pub(crate) fn columns<'a, S: Copy + 'a, const P: usize>(
    rows: impl Iterator<Item = &'a [S]>,
    g: [&[S]; P],
    mut f: impl FnMut(&'a [S], [S; P]),
) {
    const { assert!(P == 1 || P == 2 || P == 4, "columns: P must be 1, 2 or 4") };
    let col = |i: usize| g.get(i).copied().unwrap_or(&[]);
    match P {
        1 => {
            for (row, &u0) in rows.zip(col(0)) {
                f(row, [u0; P]);
            }
        }
        2 => {
            for ((row, &u0), &u1) in rows.zip(col(0)).zip(col(1)) {
                let u = [u0, u1];
                f(row, core::array::from_fn(|p| u[p % 2]));
            }
        }
        4 => {
            let cols = rows.zip(col(0)).zip(col(1)).zip(col(2)).zip(col(3));
            for ((((row, &u0), &u1), &u2), &u3) in cols {
                let u = [u0, u1, u2, u3];
                f(row, core::array::from_fn(|p| u[p % 4]));
            }
        }
        _ => {}
    }
}

/// A kernel row sliding along `P` neighbouring pixels of `N` channels each (a depthwise
/// convolution with stride 1): `acc[q] += Σₜ w[t] ⊙ v[q + t]` over the `K` taps `t`, where
/// `v(j)` is the `j`-th of the `P + K − 1` columns the pixels share. Each column is loaded once
/// and feeds every pixel it reaches, while each pixel still adds its taps in ascending `t`
/// (with `REV`, the columns go last to first and pixel `q` takes column `j` through tap
/// `K − 1 − (j − q)`, so it still adds its taps in ascending order: the input gradient's
/// flipped kernel). A missing column adds nothing.
#[inline(always)]
pub(crate) fn slide<
    'a,
    S: Scalar + 'a,
    const N: usize,
    const P: usize,
    const K: usize,
    const REV: bool,
>(
    acc: &mut [[S::Acc; N]; P],
    w: [[S; N]; K],
    v: impl Fn(usize) -> Option<&'a [S; N]>,
) {
    let cols = P + K - 1;
    for step in 0..cols {
        let j = if REV { cols - 1 - step } else { step };
        let Some(col) = v(j) else {
            continue;
        };
        for (q, a) in acc.iter_mut().enumerate() {
            let Some(t) = j.checked_sub(q).filter(|&t| t < K) else {
                continue;
            };
            let Some(wt) = w.get(if REV { K - 1 - t } else { t }) else {
                continue;
            };
            for n in 0..N {
                a[n] = S::mul_acc(a[n], wt[n], col[n]);
            }
        }
    }
}

/// `acc[k] += Σⱼ w[j][k]·g[j]` for the four columns `k` of each row `w[j]`: four sums in
/// ascending `j` (a transposed product, as a dense layer's input gradient).
#[inline(always)]
pub(crate) fn axpy4<'a, S: Scalar + 'a>(
    acc: &mut [S::Acc; 4],
    w: impl Iterator<Item = &'a [S; 4]>,
    g: &[S],
) {
    for (wv, &gv) in w.zip(g) {
        for k in 0..4 {
            acc[k] = S::mul_acc(acc[k], wv[k], gv);
        }
    }
}

/// `dw[i] += g·x[i]`, one product rounded and added per element (the gradient update of one
/// sample), in runs of four.
#[inline(always)]
pub(crate) fn add_scaled<S: Scalar>(dw: &mut [S], g: S, x: &[S]) {
    // A hardware kernel may take a prefix (`arm-vldm`); the rest continues the same way.
    #[cfg(feature = "arm-vldm")]
    let (dw, x) = {
        let done = S::add_scaled_prefix(dw, g, x);
        (
            dw.get_mut(done..).unwrap_or_default(),
            x.get(done..).unwrap_or_default(),
        )
    };
    let (d4, d1) = dw.as_chunks_mut::<4>();
    let (x4, x1) = x.as_chunks::<4>();
    for (dv, xv) in d4.iter_mut().zip(x4) {
        for k in 0..4 {
            dv[k] = dv[k].add(g.mul(xv[k]));
        }
    }
    for (dv, &xv) in d1.iter_mut().zip(x1) {
        *dv = dv.add(g.mul(xv));
    }
}

/// [`add_scaled`] on four rows at once, `dw[r][i] += g[r]·x[i]`: each loaded run of `x` feeds
/// all four rows (one sample's weight gradient: Cortex-M4F, 64-input rows, 4.5 → 3.4
/// instructions per product). Every element gets the same product and sum as in `add_scaled`,
/// so the same bits. The rows are as long as `x` (the shortest of them all sets the length).
#[inline(always)]
pub(crate) fn add_scaled4<S: Scalar>(dw: [&mut [S]; 4], g: [S; 4], x: &[S]) {
    let len = dw.iter().map(|r| r.len()).min().unwrap_or(0).min(x.len());
    let [d0, d1, d2, d3] = dw.map(|r| r.get_mut(..len).unwrap_or_default().as_chunks_mut::<4>());
    let (x4, x1) = x.get(..len).unwrap_or_default().as_chunks::<4>();
    let runs =
        d0.0.iter_mut()
            .zip(d1.0.iter_mut())
            .zip(d2.0.iter_mut().zip(d3.0.iter_mut()));
    for (((r0, r1), (r2, r3)), xv) in runs.zip(x4) {
        for (row, gr) in [r0, r1, r2, r3].into_iter().zip(g) {
            for k in 0..4 {
                row[k] = row[k].add(gr.mul(xv[k]));
            }
        }
    }
    let tails =
        d0.1.iter_mut()
            .zip(d1.1.iter_mut())
            .zip(d2.1.iter_mut().zip(d3.1.iter_mut()));
    for (((e0, e1), (e2, e3)), &xv) in tails.zip(x1) {
        for (e, gr) in [e0, e1, e2, e3].into_iter().zip(g) {
            *e = e.add(gr.mul(xv));
        }
    }
}

/// Sets every element of `xs` to zero (a network's `zero_grad`, a layer's gradient buffer), in
/// pairs, runs of eight pairs per iteration.
///
/// Not `fill` or an array assignment: LLVM turns those into a `memset` call, and
/// compiler-builtins' word loop behind it takes five instructions per word on a Cortex-M
/// (`__aeabi_memclr4`: about 9,600 instructions for the 2,410 gradients of a 64-32-10 MLP on a
/// Cortex-M4F, a tenth of its whole Adam training step). A zero the optimizer cannot see
/// (`black_box`) keeps the loop here; stored as pairs, two 32-bit values take one `strd` (that
/// MLP: 2,600 → 1,320 instructions, against one `vstr` per value for single stores).
#[doc(hidden)]
#[inline(never)]
pub fn zero<S: Scalar>(xs: &mut [S]) {
    let z = core::hint::black_box([S::ZERO; 2]);
    let (runs, rest) = xs.as_chunks_mut::<16>();
    for run in runs {
        for pair in run.as_chunks_mut::<2>().0 {
            *pair = z;
        }
    }
    for x in rest {
        *x = z[0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four-row weight-gradient update gives, bit for bit, what `add_scaled` gives row by
    /// row, for every length's remainder by four, on values whose products round.
    #[test]
    fn add_scaled4_gives_the_bits_of_add_scaled_per_row() {
        let mut s = 0x9E37_79B9u32;
        let mut draw = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        };
        for len in 0..=13 {
            let x: [f32; 13] = core::array::from_fn(|_| draw());
            let g: [f32; 4] = core::array::from_fn(|_| draw() * 3.0);
            let start: [[f32; 13]; 4] = core::array::from_fn(|_| core::array::from_fn(|_| draw()));
            let mut blocked = start;
            let mut rows = start;
            let [b0, b1, b2, b3] = &mut blocked;
            add_scaled4(
                [
                    &mut b0[..len],
                    &mut b1[..len],
                    &mut b2[..len],
                    &mut b3[..len],
                ],
                g,
                &x[..len],
            );
            for (row, &gr) in rows.iter_mut().zip(&g) {
                add_scaled(&mut row[..len], gr, &x[..len]);
            }
            assert_eq!(
                blocked.map(|r| r.map(f32::to_bits)),
                rows.map(|r| r.map(f32::to_bits)),
                "len {len}"
            );
            assert!(len == 0 || blocked != start, "len {len}: nothing was added");
        }
    }

    /// Every element is zeroed, whatever the length's remainder by eight, and nothing beyond
    /// the slice is touched.
    #[test]
    fn zero_clears_every_element_of_the_slice_only() {
        for len in 0..=33 {
            let mut xs = [1.5f32; 40];
            zero(&mut xs[3..3 + len]);
            for (i, &x) in xs.iter().enumerate() {
                let inside = (3..3 + len).contains(&i);
                assert_eq!(x, if inside { 0.0 } else { 1.5 }, "len {len}, index {i}");
            }
        }
    }
}

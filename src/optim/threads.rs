//! Where a host splits a large step across its cores (feature `host-threads`), and every other
//! build runs it whole.
//!
//! An element loop of a float optimizer writes each element from that element alone, so cutting
//! the buffers into pieces and running the pieces on different threads gives the same bits as one
//! loop over all of them. The scans of a step's check pass (finite gradients, safe range) are
//! folds that combine exactly: the first position of the first piece that has one, and the
//! conjunction of the pieces' flags. With the feature, `rayon` runs the pieces on its pool once a
//! loop is long enough to pay for the hand-over and the pool has more than one thread; otherwise,
//! and in every build without the feature (every device), a loop runs whole on the calling
//! thread, as written.
//!
//! Each piece enters [`dispatch::widest`](super::dispatch::widest) again: the piece runs on a
//! pool thread, outside the caller's vector dispatch.

/// Elements below which a piece is not cut again. A hand-over to the pool from outside it costs
/// about 20 µs on a 2-core KVM host (an empty `rayon::join`), what one core takes for about 16 Ki
/// elements of an Adam step, so a piece of 64 Ki to 128 Ki elements pays for its share. The unit
/// tests cut at a few elements so that small buffers exercise the pieces and their seams.
#[cfg(all(feature = "host-threads", not(test)))]
const GRAIN: usize = 1 << 16;
#[cfg(all(feature = "host-threads", test))]
const GRAIN: usize = 37;

/// A bundle of equally long buffers (slices, optional slices, tuples of them) that can be cut
/// at an element index into two bundles of the same shape.
#[cfg(feature = "host-threads")]
pub(crate) trait Split: Sized + Send {
    /// The elements before `mid` and those from it on; an empty buffer stays empty on both
    /// sides, and a `mid` past a buffer's end cuts it at the end.
    fn split_at(self, mid: usize) -> (Self, Self);
}

#[cfg(feature = "host-threads")]
impl<T: Sync> Split for &[T] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid.min(self.len()))
    }
}

#[cfg(feature = "host-threads")]
impl<T: Send> Split for &mut [T] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let mid = mid.min(self.len());
        <[T]>::split_at_mut(self, mid)
    }
}

#[cfg(feature = "host-threads")]
impl<A: Split> Split for Option<A> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        match self {
            Some(a) => {
                let (l, r) = a.split_at(mid);
                (Some(l), Some(r))
            }
            None => (None, None),
        }
    }
}

macro_rules! split_tuple {
    ($($name:ident),+) => {
        #[cfg(feature = "host-threads")]
        impl<$($name: Split),+> Split for ($($name,)+) {
            #[allow(non_snake_case)]
            fn split_at(self, mid: usize) -> (Self, Self) {
                let ($($name,)+) = self;
                $(let $name = $name.split_at(mid);)+
                (($($name.0,)+), ($($name.1,)+))
            }
        }
    };
}
split_tuple!(A, B);
split_tuple!(A, B, C);
split_tuple!(A, B, C, D);
split_tuple!(A, B, C, D, E);

/// Runs `$body` over the buffers named `($buf, ...)`, each `$len` elements long (or empty), with
/// the step's coefficients `$coeffs` (a reference to a `Copy` value): in pieces through
/// [`for_pieces`] with `host-threads`, where the names are rebound to each piece; as written
/// without it, so that a device build compiles exactly the loop it would without this module.
macro_rules! in_pieces {
    ($len:expr, ($($buf:ident),+ $(,)?), $coeffs:ident, $body:expr $(,)?) => {{
        #[cfg(feature = "host-threads")]
        {
            $crate::optim::threads::for_pieces(
                $len,
                ($($buf,)+),
                #[inline(always)]
                |($($buf,)+)| {
                    // A local copy of the step's coefficients: read through the closure's
                    // captures, the compiler cannot tell that the loop's stores leave them
                    // alone, and reloads them per element (Lion's select became gathers).
                    let $coeffs = &{ *$coeffs };
                    $body
                },
            )
        }
        #[cfg(not(feature = "host-threads"))]
        {
            $body
        }
    }};
}
pub(crate) use in_pieces;

/// Runs `run` on `buffers` (each `len` elements long, or empty), whole or in pieces on the
/// pool's threads; every element is in exactly one piece.
#[cfg(feature = "host-threads")]
#[inline(always)]
pub(crate) fn for_pieces<P: Split>(len: usize, buffers: P, run: impl Fn(P) + Sync) {
    if worth_cutting(len) {
        return cut(len, buffers, &run);
    }
    run(buffers)
}

/// Whether a loop of `len` elements runs in pieces: two grains or more, and a pool of more than
/// one thread (with one, the hand-over to it would only add its cost).
#[cfg(feature = "host-threads")]
fn worth_cutting(len: usize) -> bool {
    // The unit tests cut whatever the machine, so that the pieces are always exercised.
    len >= 2 * GRAIN && (cfg!(test) || rayon::current_num_threads() > 1)
}

/// Halves until the pieces are shorter than two grains, each half on the pool.
#[cfg(feature = "host-threads")]
fn cut<P: Split>(len: usize, buffers: P, run: &(impl Fn(P) + Sync)) {
    if len < 2 * GRAIN {
        return super::dispatch::widest(
            #[cfg_attr(feature = "host-simd", inline(always))]
            || run(buffers),
        );
    }
    let mid = middle(len);
    let (left, right) = buffers.split_at(mid);
    rayon::join(|| cut(mid, left, run), || cut(len - mid, right, run));
}

/// Where to cut `len ≥ 2` elements: near the middle, at a multiple of 64 elements (whole vectors
/// and cache lines on each side) once the halves are longer than that; always inside.
#[cfg(feature = "host-threads")]
fn middle(len: usize) -> usize {
    let half = len / 2;
    if half > 64 {
        half & !63
    } else {
        half
    }
}

/// `scan` over `values`, whole or in pieces: `scan` gives the position of the first element it
/// looks for (if any) and a flag about all of them; the pieces' results combine into the first
/// position overall and the conjunction of the flags (a piece with a position decides, as one
/// scan over everything would, when the flag is `false` wherever a position is found).
#[inline(always)]
pub(crate) fn scan<T: Sync>(
    values: &[T],
    scan: impl Fn(&[T]) -> (Option<usize>, bool) + Sync,
) -> (Option<usize>, bool) {
    #[cfg(feature = "host-threads")]
    {
        if worth_cutting(values.len()) {
            return scan_cut(values, 0, &scan);
        }
    }
    scan(values)
}

#[cfg(feature = "host-threads")]
fn scan_cut<T: Sync>(
    values: &[T],
    offset: usize,
    scan: &(impl Fn(&[T]) -> (Option<usize>, bool) + Sync),
) -> (Option<usize>, bool) {
    if values.len() < 2 * GRAIN {
        let (pos, flag) = super::dispatch::widest(
            #[cfg_attr(feature = "host-simd", inline(always))]
            || scan(values),
        );
        return (pos.map(|p| p + offset), flag);
    }
    let mid = middle(values.len());
    let (left, right) = values.split_at(mid);
    let (l, r) = rayon::join(
        || scan_cut(left, offset, scan),
        || scan_cut(right, offset + mid, scan),
    );
    match l.0 {
        Some(_) => l,
        None => (r.0, l.1 && r.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Every element is visited once, whatever the length; optional and empty buffers ride along.
    #[cfg(feature = "host-threads")]
    #[test]
    fn pieces_cover_every_element_once() {
        for len in [0, 1, 36, 74, 75, 200, 1003, 4099] {
            let mut a: Vec<u32> = (0..len as u32).collect();
            let b: Vec<u32> = (0..len as u32).map(|x| 3 * x).collect();
            let mut c = std::vec![0u32; len];
            let empty: &mut [u32] = &mut [];
            for_pieces(
                len,
                (
                    &mut a[..],
                    &b[..],
                    Some(&mut c[..]),
                    None::<&mut [u32]>,
                    empty,
                ),
                |(a, b, c, none, empty)| {
                    assert!(none.is_none() && empty.is_empty());
                    let c = c.expect("present");
                    assert!(a.len() == b.len() && b.len() == c.len());
                    for ((a, &b), c) in a.iter_mut().zip(b).zip(c.iter_mut()) {
                        *a += b;
                        *c += 1;
                    }
                },
            );
            assert!(
                a.iter().enumerate().all(|(i, &x)| x == 4 * i as u32),
                "{len}"
            );
            assert!(c.iter().all(|&x| x == 1), "{len}");
        }
    }

    /// The pieces' scans combine to the scan of the whole: the first position, the conjunction.
    #[test]
    fn scans_combine_as_one_scan() {
        let whole = |v: &[i32]| match v.iter().position(|&x| x < 0) {
            Some(p) => (Some(p), false),
            None => (None, v.iter().all(|&x| x < 100)),
        };
        for len in [0usize, 5, 80, 300, 5000] {
            let base: Vec<i32> = (0..len as i32).map(|i| i % 50).collect();
            let mut cases = std::vec![base.clone()];
            for at in [0, len / 3, len.saturating_sub(1)] {
                if at < len {
                    let mut neg = base.clone();
                    neg[at] = -1;
                    let mut late = neg.clone();
                    late[len - 1] = -2;
                    let mut big = base.clone();
                    big[at] = 500;
                    cases.extend([neg, late, big]);
                }
            }
            for v in cases {
                assert_eq!(scan(&v, whole), whole(&v), "{len}");
            }
        }
    }

    /// Whole steps, cut into pieces at the unit tests' grain, give the bits of the same steps
    /// applied in parts too short to be cut (every element loop runs whole), for every float
    /// optimizer and its usual variants; over the check scans' cuts too, a NaN gradient deep in
    /// the buffer is reported at its own position.
    #[test]
    fn pieces_give_the_bits_of_whole_loops() {
        use crate::num::Float;
        use crate::optim::*;

        /// Not a multiple of the grain or of 64.
        const N: usize = 1003;
        /// Shorter than two grains: a part's loops are never cut.
        const PART: usize = 70;

        fn values<T: Float>(seed: u64, scale: f64) -> [T; N] {
            let mut x = seed;
            core::array::from_fn(|i| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let v = ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale;
                T::of(if i % 9 == 0 { 0.0 } else { v })
            })
        }

        fn compare<T: Float, O: Optimizer<T, N>>(name: &str, make: impl Fn() -> O) {
            let (mut whole, mut parts) = (make(), make());
            let mut p_whole = values::<T>(1, 2.0);
            let mut p_parts = p_whole;
            for step in 0..5 {
                let grads = values::<T>(10 + step, 0.5);
                whole.step(&mut p_whole, &grads).expect("valid step");
                let mut part = parts.begin_parts().expect("valid configuration");
                for start in (0..N).step_by(PART) {
                    let r = start..N.min(start + PART);
                    let (p, g) = (&mut p_parts[r.clone()], &grads[r.clone()]);
                    parts.step_part(&mut part, r, p, g).expect("valid part");
                }
                parts.end_parts(part);
                for (i, (a, b)) in p_whole.iter().zip(&p_parts).enumerate() {
                    assert!(
                        a.wide().to_bits() == b.wide().to_bits(),
                        "{name}: step {step}, element {i}: pieces {a:?}, whole loops {b:?}"
                    );
                }
            }
            let mut grads = values::<T>(99, 0.5);
            grads[N - 5] = T::of(f64::NAN);
            let before = p_whole;
            assert_eq!(
                whole.step(&mut p_whole, &grads),
                Err(crate::Error::NonFiniteGradient { index: N - 5 }),
                "{name}"
            );
            assert!(p_whole
                .iter()
                .zip(&before)
                .all(|(a, b)| a.wide().to_bits() == b.wide().to_bits()));
        }

        fn every<T: Float + SgdNum + MomentumNum + AdamNum + RmsPropNum + AdagradNum + LionNum>() {
            compare::<T, _>("sgd", || Sgd::<T, N>::new(SgdConfig::new(0.01)).unwrap());
            compare::<T, _>("nesterov", || {
                Momentum::<T, N>::new(MomentumConfig::nesterov(0.01, 0.9)).unwrap()
            });
            compare::<T, _>("adam", || {
                Adam::<T, N>::new(AdamConfig::adam(1e-3)).unwrap()
            });
            compare::<T, _>("adamw", || {
                Adam::<T, N>::new(AdamConfig::adamw(1e-3)).unwrap()
            });
            let amsgrad = AdamConfig {
                weight_decay: 0.01,
                maximize: true,
                ..AdamConfig::adam(1e-3)
            };
            compare::<T, _>("amsgrad", || AmsGrad::<T, N>::new(amsgrad).unwrap());
            compare::<T, _>("rmsprop", || {
                RmsProp::<T, N>::new(RmsPropConfig::new(1e-2)).unwrap()
            });
            let centered = RmsPropConfig {
                momentum: 0.9,
                weight_decay: 0.01,
                ..RmsPropConfig::new(1e-2)
            };
            compare::<T, _>("rmsprop centered", || {
                RmsProp::<T, N, On, On>::new(centered).unwrap()
            });
            compare::<T, _>("adagrad", || {
                Adagrad::<T, N>::new(AdagradConfig::new(1e-2)).unwrap()
            });
            compare::<T, _>("lion", || Lion::<T, N>::new(LionConfig::new(1e-4)).unwrap());
        }

        every::<f32>();
        every::<f64>();
    }
}

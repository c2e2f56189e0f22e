//! How the boards' on-target tests compare a case's outputs with the host's (firmware only: uses
//! defmt; the host generator does not include this file).
//!
//! Every comparison logs one line the summary of `scripts/embedded.sh` reads:
//! `check <type> <case>: <words> words, max <k> ulp (bound <b>)` for `f32`,
//! `check <type> <case>: <words> words, bit-identical` for fixed point.
#![allow(dead_code)] // each test binary uses part of it

/// The distance of two `f32` bit patterns in ulps: how many representable values lie between
/// them, counting across zero (`+0` and `-0` are 0 apart, the smallest subnormals of either sign
/// 2). Saturates at `u32::MAX`.
pub fn ulp_distance(a: u32, b: u32) -> u32 {
    fn ordered(x: u32) -> i64 {
        let magnitude = i64::from(x & 0x7fff_ffff);
        if x & 0x8000_0000 != 0 {
            -magnitude
        } else {
            magnitude
        }
    }
    u32::try_from((ordered(a) - ordered(b)).unsigned_abs()).unwrap_or(u32::MAX)
}

/// Fails unless `got` and `want` are the same words (fixed point: the library must compute the
/// same integers on every target).
pub fn exact(ty: &str, case: &str, got: &[u32], want: &[u32]) {
    defmt::assert_eq!(
        got.len(),
        want.len(),
        "{=str} {=str}: output length",
        ty,
        case
    );
    let mut differ = 0usize;
    let mut first = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if g != w {
            differ += 1;
            first.get_or_insert((i, g, w));
        }
    }
    if let Some((i, g, w)) = first {
        defmt::panic!(
            "{=str} {=str}: {=usize} of {=usize} words differ from the host; first at word {=usize}: target {=u32:#010x}, host {=u32:#010x}",
            ty,
            case,
            differ,
            got.len(),
            i,
            g,
            w
        );
    }
    defmt::info!(
        "check {=str} {=str}: {=usize} words, bit-identical",
        ty,
        case,
        got.len()
    );
}

/// Fails unless every `f32` word of `got` is within `bound` ulps of `want`; returns the largest
/// distance seen. Words that are not `f32` values (an optimizer case's last word, the unused
/// rounding state, is 0 on both sides) compare the same way.
pub fn within_ulps(ty: &str, case: &str, got: &[u32], want: &[u32], bound: u32) -> u32 {
    defmt::assert_eq!(
        got.len(),
        want.len(),
        "{=str} {=str}: output length",
        ty,
        case
    );
    let mut max = 0u32;
    let mut worst = (0usize, 0u32, 0u32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = ulp_distance(g, w);
        if d > max {
            max = d;
            worst = (i, g, w);
        }
    }
    defmt::info!(
        "check {=str} {=str}: {=usize} words, max {=u32} ulp (bound {=u32})",
        ty,
        case,
        got.len(),
        max,
        bound
    );
    if max > bound {
        let (i, g, w) = worst;
        defmt::panic!(
            "{=str} {=str}: word {=usize} is {=u32} ulp from the host (bound {=u32}): target {=u32:#010x}, host {=u32:#010x}",
            ty,
            case,
            i,
            max,
            bound,
            g,
            w
        );
    }
    max
}

/// The spacing of `f32` values at `|x|` (`x` given as `f32` bits), as `f64`: `2^(e − 23)` for a
/// normal `x` of exponent `e`, `2^-149` for zero and subnormals.
pub fn ulp_of(bits: u32) -> f64 {
    let e = ((bits >> 23) & 0xff).max(1) as i64; // biased exponent, subnormals as 1
    f64::from_bits(((e - 150 + 1023) as u64) << 52)
}

/// How a parameter's error feeds back through L2 weight decay (the gradient `±g + wd·p` differs
/// when `p` does).
#[derive(Clone, Copy)]
pub enum Feedback {
    /// No weight decay in the gradient.
    None,
    /// Adam with L2 decay `wd` (learning rate `lr`, `beta2`; `maximize` negates `g`).
    Adam {
        lr: f64,
        beta2: f64,
        wd: f64,
        maximize: bool,
    },
    /// Centered RMSprop with L2 decay `wd` (learning rate `lr`, smoothing `alpha`).
    RmsPropCentered { lr: f64, alpha: f64, wd: f64 },
}

/// The error model of an `f32` step whose only operation that differs between two targets is
/// the square root (`sqrt_f32_refined` on the host, within 1 ulp of the exact root, and
/// `libm::sqrtf`, within ½ ulp: the two differ by at most 1.5 ulp, relative `1.5·2^-23`).
#[derive(Clone, Copy)]
pub struct SqrtModel {
    /// Relative difference of the update `u` on one step, in units of `2^-23`: 1.5 from the
    /// root plus 1 for each rounded operation after it (each side rounds within `2^-24`).
    pub rho: f64,
    /// Momentum `μ` of a buffer that carries the updates (0 without one).
    pub mu: f64,
    /// AdamW's factor `1 − lr·wd` (`1` without decoupled decay): its product is rounded on each
    /// side.
    pub decay: f64,
    /// L2 feedback.
    pub feedback: Feedback,
}

/// Checks the parameters of an `f32` optimizer case (`steps` steps of `n` parameters; any words
/// after them must be equal) against a per-element bound derived from `model`, computed from the
/// host's values: with `Δ_t = |p_t − d·p_{t−1}| + ulp(p_t)` (the size of step `t`'s update),
///
/// `F_t = μ·F_{t−1} + ρ·2^-23·(Δ_t + 2μ·Δ_{t−1}) + fb_t·E_{t−1}` (the update's difference:
/// this step's roots, the buffer's memory of earlier ones, and the L2 feedback) and
/// `E_t = E_{t−1} + F_t + 1.5·ulp(p_t) [+ ulp(p_{t−1}) with decoupled decay]` (both sides round
/// the new parameter, and AdamW's decayed one, to nearest),
///
/// and fails unless `|p_target − p_host| ≤ E_t` for every element and step. The bound is first
/// order: products of two relative errors (about `2^-45`) are left out. Returns the largest
/// distance in ulps; logs it with the largest bound in ulps of the parameter and the largest
/// fraction of the bound used.
#[allow(clippy::too_many_arguments)]
pub fn within_sqrt_model(
    ty: &str,
    case: &str,
    model: &SqrtModel,
    n: usize,
    steps: usize,
    init: &[u32],
    grads: &[u32],
    got: &[u32],
    want: &[u32],
) -> u32 {
    defmt::assert_eq!(
        got.len(),
        want.len(),
        "{=str} {=str}: output length",
        ty,
        case
    );
    defmt::assert!(
        want.len() >= steps * n,
        "{=str} {=str}: output length",
        ty,
        case
    );
    defmt::assert_eq!(
        got[steps * n..],
        want[steps * n..],
        "{=str} {=str}: words after the parameters",
        ty,
        case
    );
    let u23 = f64::from_bits((1023u64 - 23) << 52);
    let mut max_ulp = 0u32;
    let mut max_ratio = 0.0f64;
    let mut max_bound_ulp = 0.0f64;
    for i in 0..n {
        let (mut e, mut f, mut d_prev) = (0.0f64, 0.0f64, 0.0f64);
        let mut prev = init[i];
        // The largest lower bound of sqrt(v̂) (Adam) or sqrt(v − ḡ²) (centered RMSprop) so far,
        // from the gradients with decay.
        let mut gmax = [0.0f64; 8];
        for t in 0..steps {
            let (pb, p_prev) = (want[t * n + i], f64::from(f32::from_bits(prev)));
            let p = f64::from(f32::from_bits(pb));
            // |u_t| ≤ |p_t − pd| + ½ulp(p_t), and pd = fl(d·p_{t−1}) is within ½ulp(p_{t−1}).
            let mut d = (p - model.decay * p_prev).abs() + ulp_of(pb);
            if model.decay != 1.0 {
                d += ulp_of(prev);
            }
            let g = f64::from(f32::from_bits(grads.get(t * n + i).copied().unwrap_or(0)));
            let fb = match model.feedback {
                Feedback::None => 0.0,
                Feedback::Adam {
                    lr,
                    beta2,
                    wd,
                    maximize,
                } => {
                    // sqrt(v̂_t) ≥ |g'_k|·sqrt((1 − β2)·β2^(t−k) / (1 − β2^t)) for every k ≤ t;
                    // the error e moves the update by at most wd·(lr + |u_t|)·e / sqrt(v̂_t)
                    // (through m, whose weights sum to the bias correction, and through v).
                    let gd = (if maximize { -g } else { g }) + wd * p_prev;
                    let t1 = (t + 1) as i32;
                    let bc2 = 1.0 - powi(beta2, t1);
                    let mut lower = 0.0f64;
                    gmax[t] = gd.abs();
                    for (k, gk) in gmax.iter().enumerate().take(t + 1) {
                        let w = (1.0 - beta2) * powi(beta2, t1 - 1 - k as i32) / bc2;
                        lower = lower.max(gk * sqrt(w));
                    }
                    if lower > 0.0 {
                        wd * (lr + d) / lower
                    } else if e == 0.0 {
                        0.0
                    } else {
                        f64::INFINITY
                    }
                }
                Feedback::RmsPropCentered { lr, alpha, wd } => {
                    // v − ḡ² ≥ α^t·v for t steps (Cauchy–Schwarz: ḡ² ≤ (1 − α^t)·v), and
                    // v ≥ (1 − α)·α^(t−k)·g'_k², so sqrt(v − ḡ²) ≥ `lower`. An error e of the
                    // parameters so far moves g' by wd·e and sqrt(v − ḡ²) by a relative
                    // 2·wd·e/sqrt(v − ḡ²) at most (generously: for t ≤ 4 the weights of v and ḡ
                    // sum to 0.04), so g'/avg moves by at most wd·e·(1 + 2·|g'/avg|)/lower, the
                    // update by lr times that, with |g'/avg| = |b_t − μ·b_{t−1}| ≤
                    // (Δ_t + μ·Δ_{t−1})/lr.
                    let gd = g + wd * p_prev;
                    let t1 = (t + 1) as i32;
                    let mut lower = 0.0f64;
                    gmax[t] = gd.abs();
                    for (k, gk) in gmax.iter().enumerate().take(t + 1) {
                        let w = (1.0 - alpha) * powi(alpha, t1 - 1 - k as i32) * powi(alpha, t1);
                        lower = lower.max(gk * sqrt(w));
                    }
                    if lower > 0.0 {
                        wd * (lr + 2.0 * (d + model.mu * d_prev)) / lower
                    } else if e == 0.0 {
                        0.0
                    } else {
                        f64::INFINITY
                    }
                }
            };
            f = model.mu * f + model.rho * u23 * (d + 2.0 * model.mu * d_prev) + fb * e;
            // Each side rounds within half an ulp of its own result, whose ulp is at most twice
            // the host's: 1.5 ulp.
            e += f + 1.5 * ulp_of(pb);
            if model.decay != 1.0 {
                e += ulp_of(prev);
            }
            let gb = got[t * n + i];
            let diff = (f64::from(f32::from_bits(gb)) - p).abs();
            let dist = ulp_distance(gb, pb);
            max_ulp = max_ulp.max(dist);
            if diff > 0.0 {
                max_ratio = max_ratio.max(diff / e);
            }
            max_bound_ulp = max_bound_ulp.max(e / ulp_of(pb));
            if !(diff <= e) {
                defmt::panic!(
                    "{=str} {=str}: parameter {=usize} after step {=usize} is {=f64} from the host's (bound {=f64}, {=u32} ulp): target {=u32:#010x}, host {=u32:#010x}",
                    ty, case, i, t + 1, diff, e, dist, gb, pb
                );
            }
            d_prev = d;
            prev = pb;
        }
    }
    defmt::info!(
        "check {=str} {=str}: {=usize} words, max {=u32} ulp (bound per element, at most {=f32} ulp; max {=f32} of it used)",
        ty,
        case,
        got.len(),
        max_ulp,
        max_bound_ulp as f32,
        max_ratio as f32
    );
    max_ulp
}

/// `x^k` for small `k ≥ 0` by multiplication (no libm on the target side of this file).
fn powi(x: f64, k: i32) -> f64 {
    let mut r = 1.0;
    for _ in 0..k {
        r *= x;
    }
    r
}

/// A square root from below (the bounds use it as a lower bound; no libm here): Newton's method
/// from above stays at or above the root, so `x / r` is at or below it.
fn sqrt(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut r = if x > 1.0 { x } else { 1.0 };
    for _ in 0..200 {
        r = 0.5 * (r + x / r);
    }
    x / r
}

//! Test values shared by the on-target tests `sums` and `update`.

/// Values in `[-1, 1)` with 24 significant bits each (an LCG's high bits), different per `seed`.
pub fn fill(v: &mut [f32], seed: u32) {
    let mut s = seed;
    for x in v {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *x = (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
    }
}

//! SGD with momentum for [`I4F12`]: the I8F24 kernel (buffer in I8F24) on widened chunks, the
//! parameter write rounded to 16 bits (see [`crate::num::fixed16`]).

use super::*;
use crate::num::fixed::{RoundingState, I4F12, I8F24};
use crate::num::fixed16::widen::{check_widened, part, part_ref, step_widened};

impl MomentumNum for I4F12 {
    /// I8F24, as the I8F24 kernel keeps it: range `[-128, 128)`, 16 times the parameters'.
    type Buffer = I8F24;
    type Coeffs = <I8F24 as MomentumNum>::Coeffs;

    fn momentum_coeffs(config: &MomentumConfig, t: u32) -> Self::Coeffs {
        <I8F24 as MomentumNum>::momentum_coeffs(config, t)
    }

    fn momentum_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        buf: &[I8F24],
        c: &Self::Coeffs,
    ) -> Option<usize> {
        check_widened(params, grads, |r, p, g| {
            <I8F24 as MomentumNum>::momentum_check(p, g, small, part_ref(buf, r), c)
        })
    }

    fn momentum_update(
        params: &mut [Self],
        grads: &[Self],
        buf: &mut [I8F24],
        c: &Self::Coeffs,
        aux: &mut RoundingState,
    ) {
        step_widened(params, grads, aux, |r, p, g, a| {
            <I8F24 as MomentumNum>::momentum_update(p, g, part(buf, r), c, a)
        });
    }
}

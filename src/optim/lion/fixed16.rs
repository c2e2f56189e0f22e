//! Lion for [`I4F12`]: the I8F24 kernel (moment in I8F24) on widened chunks, the parameter
//! write rounded to 16 bits (see [`crate::num::fixed16`]).

use super::*;
use crate::num::fixed::{RoundingState, I4F12, I8F24};
use crate::num::fixed16::widen::{part, step_widened};

impl LionNum for I4F12 {
    /// I8F24, as the I8F24 kernel keeps it.
    type Moment = I8F24;
    type Coeffs = <I8F24 as LionNum>::Coeffs;

    fn lion_coeffs(config: &LionConfig) -> Self::Coeffs {
        <I8F24 as LionNum>::lion_coeffs(config)
    }

    fn lion_update(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [I8F24],
        c: &Self::Coeffs,
        aux: &mut RoundingState,
    ) {
        step_widened(params, grads, aux, |r, p, g, a| {
            <I8F24 as LionNum>::lion_update(p, g, part(m, r), c, a)
        });
    }
}

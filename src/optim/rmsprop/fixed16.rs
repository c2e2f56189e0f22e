//! RMSprop for [`I4F12`]: the I8F24 kernel (state as [`MiniFloat`]) on widened chunks, the
//! parameter write rounded to 16 bits (see [`crate::num::fixed16`]).

use super::*;
use crate::num::fixed::{MiniFloat, RoundingState, I4F12, I8F24};
use crate::num::fixed16::widen::{part, step_widened};

impl RmsPropNum for I4F12 {
    type SqAvg = MiniFloat;
    type Avg = MiniFloat;
    type Coeffs = <I8F24 as RmsPropNum>::Coeffs;

    fn rmsprop_coeffs(config: &RmsPropConfig) -> Self::Coeffs {
        <I8F24 as RmsPropNum>::rmsprop_coeffs(config)
    }

    fn rmsprop_update(
        params: &mut [Self],
        grads: &[Self],
        square_avg: &mut [MiniFloat],
        mut momentum_buffer: Option<&mut [MiniFloat]>,
        mut grad_avg: Option<&mut [MiniFloat]>,
        c: &Self::Coeffs,
        aux: &mut RoundingState,
    ) {
        step_widened(params, grads, aux, |r, p, g, a| {
            <I8F24 as RmsPropNum>::rmsprop_update(
                p,
                g,
                part(square_avg, r.clone()),
                momentum_buffer.as_deref_mut().map(|b| part(b, r.clone())),
                grad_avg.as_deref_mut().map(|b| part(b, r)),
                c,
                a,
            )
        });
    }
}

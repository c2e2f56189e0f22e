//! Adam, AdamW and AMSGrad for [`I4F12`]: the I8F24 kernel (moments as [`MiniFloat`]) on
//! widened chunks, the parameter write rounded to 16 bits (see [`crate::num::fixed16`]).

use super::*;
use crate::num::fixed::{MiniFloat, RoundingState, I4F12, I8F24};
use crate::num::fixed16::widen::{part, step_widened};

impl AdamNum for I4F12 {
    type Moment = MiniFloat;
    type SqMoment = MiniFloat;
    type Coeffs = <I8F24 as AdamNum>::Coeffs;

    fn adam_coeffs(config: &AdamConfig, t: u32) -> Self::Coeffs {
        <I8F24 as AdamNum>::adam_coeffs(config, t)
    }

    fn adam_update<K: AdamForm>(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [MiniFloat],
        v: &mut [MiniFloat],
        mut vmax: Option<&mut [MiniFloat]>,
        c: &Self::Coeffs,
        aux: &mut RoundingState,
    ) {
        step_widened(params, grads, aux, |r, p, g, a| {
            <I8F24 as AdamNum>::adam_update::<K>(
                p,
                g,
                part(m, r.clone()),
                part(v, r.clone()),
                vmax.as_deref_mut().map(|b| part(b, r)),
                c,
                a,
            )
        });
    }
}

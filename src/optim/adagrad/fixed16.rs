//! Adagrad for [`I4F12`]: the I8F24 kernel (accumulator as [`MiniFloat`]) on widened chunks,
//! the parameter write rounded to 16 bits (see [`crate::num::fixed16`]).

use super::*;
use crate::num::fixed::{MiniFloat, RoundingState, I4F12, I8F24};
use crate::num::fixed16::widen::{part, step_widened};

impl AdagradNum for I4F12 {
    type Sum = MiniFloat;
    type Coeffs = <I8F24 as AdagradNum>::Coeffs;

    fn adagrad_coeffs(config: &AdagradConfig, t: u32) -> Self::Coeffs {
        <I8F24 as AdagradNum>::adagrad_coeffs(config, t)
    }

    fn adagrad_initial_sum(config: &AdagradConfig) -> MiniFloat {
        <I8F24 as AdagradNum>::adagrad_initial_sum(config)
    }

    fn adagrad_update(
        params: &mut [Self],
        grads: &[Self],
        sum: &mut [MiniFloat],
        c: &Self::Coeffs,
        aux: &mut RoundingState,
    ) {
        step_widened(params, grads, aux, |r, p, g, a| {
            <I8F24 as AdagradNum>::adagrad_update(p, g, part(sum, r), c, a)
        });
    }
}

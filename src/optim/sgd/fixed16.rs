//! SGD for [`I4F12`]: the I8F24 kernel on widened chunks, the parameter write rounded to 16 bits
//! (see [`crate::num::fixed16`] for the format, the rounding and the error bound).

use super::*;
use crate::num::fixed::arith::may_saturate;
use crate::num::fixed::{RoundingState, I4F12, I8F24};
use crate::num::fixed16::widen::{check_widened, step_widened};

impl SgdNum for I4F12 {
    type Coeffs = <I8F24 as SgdNum>::Coeffs;

    fn sgd_coeffs(cfg: &SgdConfig) -> Self::Coeffs {
        <I8F24 as SgdNum>::sgd_coeffs(cfg)
    }

    fn sgd_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        config: &SgdConfig,
        c: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        if !may_saturate(&[config.lr, config.lr * config.weight_decay]) {
            return None;
        }
        let c = c();
        check_widened(params, grads, |_, p, g| {
            <I8F24 as SgdNum>::sgd_check(p, g, small, config, || c)
        })
    }

    fn sgd_update(params: &mut [Self], grads: &[Self], c: &Self::Coeffs, aux: &mut RoundingState) {
        step_widened(params, grads, aux, |_, p, g, a| {
            <I8F24 as SgdNum>::sgd_update(p, g, c, a)
        });
    }
}

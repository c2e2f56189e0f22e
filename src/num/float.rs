//! [`Num`] for the IEEE-754 binary types.

use super::{Num, StateValue};

impl StateValue for f32 {
    const ZERO: Self = 0.0;
}

impl Num for f32 {
    type Aux = ();

    #[inline(always)]
    fn is_usable_gradient(self) -> bool {
        self.is_finite()
    }

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl StateValue for f64 {
    const ZERO: Self = 0.0;
}

impl Num for f64 {
    type Aux = ();

    #[inline(always)]
    fn is_usable_gradient(self) -> bool {
        self.is_finite()
    }

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

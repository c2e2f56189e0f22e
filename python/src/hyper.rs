//! Each configuration as torch's keyword arguments, so Python sees the hyperparameters an
//! optimizer holds after a checkpoint replaced them.

use edgetune::optim::{
    AdagradConfig, AdamConfig, LionConfig, MomentumConfig, RmsPropConfig, SgdConfig,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A configuration's fields under torch's names (`betas` as a pair).
pub(crate) trait TorchKwargs {
    fn kwargs<'py>(&self, d: &Bound<'py, PyDict>) -> PyResult<()>;
}

macro_rules! kwargs {
    ($config:ty, { $($f:ident),* } $(, betas($b1:ident, $b2:ident))?) => {
        impl TorchKwargs for $config {
            fn kwargs<'py>(&self, d: &Bound<'py, PyDict>) -> PyResult<()> {
                $( d.set_item(stringify!($f), self.$f)?; )*
                $( d.set_item("betas", (self.$b1, self.$b2))?; )?
                Ok(())
            }
        }
    };
}

kwargs!(SgdConfig, { lr, weight_decay, maximize });
kwargs!(MomentumConfig, { lr, momentum, dampening, weight_decay, nesterov, maximize });
kwargs!(AdamConfig, { lr, eps, weight_decay, decoupled_weight_decay, maximize }, betas(beta1, beta2));
kwargs!(RmsPropConfig, { lr, alpha, eps, weight_decay, momentum, maximize });
kwargs!(AdagradConfig, { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize });
kwargs!(LionConfig, { lr, weight_decay }, betas(beta1, beta2));

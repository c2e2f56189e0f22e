//! Seeded weight initialisation with torch's rules: the `nn.Linear`/`nn.Conv1d` default,
//! Xavier (Glorot) and Kaiming (He), uniform and normal.
//!
//! # What is drawn
//! Values are drawn in `f64` from a [`Pcg32`] seeded with the caller's `u64`, in torch order
//! (layer 0's weights row by row, its bias, layer 1's weights, ...), and only then converted to
//! the number type with [`Scalar::from_f64`] (round to nearest; fixed
//! point saturates). So the same seed gives the same network in `f32`, `f64`, I16F16 and I8F24,
//! up to each type's rounding of the same `f64` draws; and a frozen run is drawn (and skipped)
//! whether or not it can be written, so the trainable values do not depend on where the frozen
//! ones live.
//!
//! A uniform draw is `u = k·2⁻⁵³` with `k` the top 53 bits of two 32-bit outputs, so
//! `u ∈ [0, 1)`, then `a + (b − a)·u`. A normal draw is Box–Muller's
//! `√(−2 ln(1 − u₁))·cos(2π u₂)` (one value per pair; `1 − u₁ ∈ (0, 1]`, so the logarithm is
//! finite), with `libm`'s `log`, `sqrt` and `cos`.
//!
//! # The rules (torch's formulas)
//! | [`Init`] | weights | bias |
//! |---|---|---|
//! | `TorchDefault` | `U(−1/√fan_in, 1/√fan_in)` (`kaiming_uniform_(a=√5)`) | `U(−1/√fan_in, 1/√fan_in)` |
//! | `XavierUniform { gain }` | `U(−a, a)`, `a = gain·√(6/(fan_in + fan_out))` | zero |
//! | `XavierNormal { gain }` | `N(0, σ²)`, `σ = gain·√(2/(fan_in + fan_out))` | zero |
//! | `KaimingUniform { mode, nonlinearity }` | `U(−b, b)`, `b = √3·gain/√fan` | zero |
//! | `KaimingNormal { mode, nonlinearity }` | `N(0, σ²)`, `σ = gain/√fan` | zero |
//!
//! `fan` is `fan_in` or `fan_out` by [`FanMode`]; `gain` by [`Nonlinearity`] as torch's
//! `calculate_gain`. Torch leaves biases to the layer's own default when Xavier or Kaiming is
//! applied by hand to the weights; here they are zero, the usual choice in that case (call
//! `TorchDefault` for torch's layer default).
//!
//! # Frozen parameters in flash
//! Through [`Network::init`] a network whose frozen arena is a reference (`&[S; FROZEN]` in
//! flash) gets only its trainable arena written; the frozen values stay what they are, which is
//! usually what fine-tuning wants (the frozen part came from the host).
//!
//! ```
//! use edgetune::nn::{Init, Network};
//! edgetune::mlp! {
//!     struct Net {
//!         dense 4 -> 8, relu;
//!         dense 8 -> 2;
//!         loss softmax_cross_entropy;
//!     }
//! }
//! let mut a = Net::<f32>::zeroed();
//! let mut b = Net::<f64>::zeroed();
//! a.init(Init::TorchDefault, 7).unwrap();
//! b.init(Init::TorchDefault, 7).unwrap();
//! // Layer 0: |w| ≤ 1/√4; the same draws in both types.
//! assert!(a.trainable().iter().take(32).all(|w| w.abs() <= 0.5));
//! assert!(a.trainable().iter().zip(b.trainable()).all(|(x, y)| *x == *y as f32));
//! ```

use super::network::{LayerShape, LayerSpec, Network};
use super::Scalar;
use crate::train::Pcg32;
use crate::Error;

/// Which of a layer's fans Kaiming initialisation scales by (torch's `mode`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FanMode {
    /// `fan_in`: preserves the variance of the activations in forward (torch's default).
    FanIn,
    /// `fan_out`: preserves the variance of the gradients in backward.
    FanOut,
}

/// The nonlinearity after a layer, for its gain (torch's `calculate_gain`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// Linear, identity or sigmoid: gain 1.
    Linear,
    /// ReLU: gain `√2`.
    Relu,
    /// LeakyReLU with this negative slope: gain `√(2/(1 + slope²))`.
    LeakyRelu(f64),
    /// Tanh: gain `5/3`.
    Tanh,
}

impl Nonlinearity {
    /// The gain torch's `calculate_gain` gives.
    pub fn gain(self) -> f64 {
        match self {
            Nonlinearity::Linear => 1.0,
            Nonlinearity::Relu => core::f64::consts::SQRT_2,
            Nonlinearity::LeakyRelu(a) => libm::sqrt(2.0 / (1.0 + a * a)),
            Nonlinearity::Tanh => 5.0 / 3.0,
        }
    }
}

/// An initialisation rule (see the [module docs](self) for the formulas).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// torch's `nn.Linear`/`nn.Conv1d` default: weights and bias `U(−1/√fan_in, 1/√fan_in)`.
    TorchDefault,
    /// Xavier/Glorot uniform with a gain; zero bias.
    XavierUniform {
        /// The gain (`1.0` for torch's default).
        gain: f64,
    },
    /// Xavier/Glorot normal with a gain; zero bias.
    XavierNormal {
        /// The gain (`1.0` for torch's default).
        gain: f64,
    },
    /// Kaiming/He uniform; zero bias.
    KaimingUniform {
        /// The fan to scale by.
        mode: FanMode,
        /// The nonlinearity that follows (its gain).
        nonlinearity: Nonlinearity,
    },
    /// Kaiming/He normal; zero bias.
    KaimingNormal {
        /// The fan to scale by.
        mode: FanMode,
        /// The nonlinearity that follows (its gain).
        nonlinearity: Nonlinearity,
    },
}

/// The distribution of one run of values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform on `[−bound, bound)`.
    Uniform {
        /// Half-width.
        bound: f64,
    },
    /// Normal with mean 0.
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// Every value zero.
    Zero,
    /// Every value one (a batch norm's scale).
    One,
}

impl Distribution {
    /// The variance of one value: `bound²/3`, `std²`, or 0 for a constant.
    pub fn variance(self) -> f64 {
        match self {
            Distribution::Uniform { bound } => bound * bound / 3.0,
            Distribution::Normal { std } => std * std,
            Distribution::Zero | Distribution::One => 0.0,
        }
    }
}

fn bad(name: &'static str, requirement: &'static str) -> Error {
    Error::InvalidHyperparameter { name, requirement }
}

impl Init {
    /// The distributions of a layer's weights and of its bias, or an error for a gain that is
    /// not finite and `>= 0`, or a fan of 0.
    pub fn distributions(self, shape: &LayerShape) -> Result<(Distribution, Distribution), Error> {
        if shape.scale {
            return Ok((Distribution::One, Distribution::Zero));
        }
        let fan_in = shape.fan_in as f64;
        let fan_out = shape.fan_out as f64;
        let positive = |name, fan: f64| {
            if fan > 0.0 {
                Ok(fan)
            } else {
                Err(bad(name, "> 0"))
            }
        };
        let gain_ok = |g: f64| {
            if g.is_finite() && g >= 0.0 {
                Ok(g)
            } else {
                Err(bad("gain", "finite and >= 0"))
            }
        };
        let fan = |mode| match mode {
            FanMode::FanIn => positive("fan_in", fan_in),
            FanMode::FanOut => positive("fan_out", fan_out),
        };
        Ok(match self {
            Init::TorchDefault => {
                let bound = 1.0 / libm::sqrt(positive("fan_in", fan_in)?);
                (
                    Distribution::Uniform { bound },
                    Distribution::Uniform { bound },
                )
            }
            Init::XavierUniform { gain } => {
                let sum = positive("fan_in + fan_out", fan_in + fan_out)?;
                let bound = gain_ok(gain)? * libm::sqrt(6.0 / sum);
                (Distribution::Uniform { bound }, Distribution::Zero)
            }
            Init::XavierNormal { gain } => {
                let sum = positive("fan_in + fan_out", fan_in + fan_out)?;
                let std = gain_ok(gain)? * libm::sqrt(2.0 / sum);
                (Distribution::Normal { std }, Distribution::Zero)
            }
            Init::KaimingUniform { mode, nonlinearity } => {
                let std = gain_ok(nonlinearity.gain())? / libm::sqrt(fan(mode)?);
                let bound = libm::sqrt(3.0) * std;
                (Distribution::Uniform { bound }, Distribution::Zero)
            }
            Init::KaimingNormal { mode, nonlinearity } => {
                let std = gain_ok(nonlinearity.gain())? / libm::sqrt(fan(mode)?);
                (Distribution::Normal { std }, Distribution::Zero)
            }
        })
    }
}

/// The seeded source of every draw: a [`Pcg32`] and the two samplers.
#[derive(Clone, Debug)]
pub struct Sampler {
    rng: Pcg32,
}

impl Sampler {
    /// A sampler from a seed (on [`Pcg32::DEFAULT_STREAM`]).
    pub const fn new(seed: u64) -> Self {
        Sampler {
            rng: Pcg32::seeded(seed),
        }
    }

    /// A uniform `f64` in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform `f64` in `[−bound, bound)`.
    pub fn uniform(&mut self, bound: f64) -> f64 {
        -bound + 2.0 * bound * self.unit()
    }

    /// A standard normal `f64` (Box–Muller, one value per two uniforms).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
    }

    /// One draw from `d` (a constant draw consumes nothing).
    pub fn draw(&mut self, d: Distribution) -> f64 {
        match d {
            Distribution::Uniform { bound } => self.uniform(bound),
            Distribution::Normal { std } => std * self.normal(),
            Distribution::Zero => 0.0,
            Distribution::One => 1.0,
        }
    }
}

/// Draws every parameter of `shapes` in torch order and hands each value to `sink` with whether
/// it is a weight (`true`) or a bias, after validating every layer (nothing is drawn on error).
fn walk(
    shapes: impl Iterator<Item = LayerShape> + Clone,
    init: Init,
    seed: u64,
    mut sink: impl FnMut(&LayerShape, bool, f64),
) -> Result<(), Error> {
    for shape in shapes.clone() {
        init.distributions(&shape)?;
    }
    let mut sampler = Sampler::new(seed);
    for shape in shapes {
        let (w, b) = init.distributions(&shape)?;
        for _ in 0..shape.weights {
            sink(&shape, true, sampler.draw(w));
        }
        for _ in 0..shape.bias {
            sink(&shape, false, sampler.draw(b));
        }
    }
    Ok(())
}

/// Fills `out`, all parameters of `layers` in torch order, with `init` from `seed`.
///
/// # Errors
/// [`Error::LengthMismatch`] unless `out` has exactly the layers' parameter count;
/// [`Error::InvalidHyperparameter`] for a gain that is not finite and `>= 0` or a fan of 0.
/// Nothing is written on error.
pub fn fill<S: Scalar>(
    layers: &[LayerSpec],
    init: Init,
    seed: u64,
    out: &mut [S],
) -> Result<(), Error> {
    let expected = super::network::params(layers);
    if out.len() != expected {
        return Err(Error::LengthMismatch {
            expected,
            found: out.len(),
        });
    }
    let mut slots = out.iter_mut();
    walk(
        layers.iter().map(LayerSpec::shape),
        init,
        seed,
        |_, _, v| {
            if let Some(slot) = slots.next() {
                *slot = S::from_f64(v);
            }
        },
    )
}

/// [`Network::init`]'s body: the same draws as [`fill`], written into the trainable arena and,
/// if it is in RAM, the frozen arena.
pub(crate) fn init_network<S: Scalar, N: Network<S> + ?Sized>(
    net: &mut N,
    init: Init,
    seed: u64,
) -> Result<(), Error> {
    let shapes = (0..N::LAYER_COUNT).map_while(N::layer_shape);
    // Validate first: nothing is written on error.
    for shape in shapes.clone() {
        init.distributions(&shape)?;
    }
    let mut sampler = Sampler::new(seed);
    let mut t = 0usize;
    let mut f = 0usize;
    for shape in shapes {
        let (w, b) = init.distributions(&shape)?;
        for (count, trained, d) in [
            (shape.weights, shape.trained_weights, w),
            (shape.bias, shape.trained_bias, b),
        ] {
            for i in 0..count {
                let v = S::from_f64(sampler.draw(d));
                if i < trained {
                    if let Some(slot) = net.trainable_mut().get_mut(t) {
                        *slot = v;
                    }
                    t += 1;
                } else {
                    if let Some(slot) = net.frozen_mut().and_then(|fz| fz.get_mut(f)) {
                        *slot = v;
                    }
                    f += 1;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `walk` visits weights then biases per layer, in order, and `fill` agrees with it.
    #[test]
    fn fill_draws_in_torch_order() {
        let layers = [LayerSpec {
            inputs: 2,
            outputs: 3,
            mode: super::super::network::Mode::Train,
        }];
        let mut out = [0.0f64; 9];
        fill(&layers, Init::TorchDefault, 3, &mut out).unwrap();
        let mut s = Sampler::new(3);
        let b = 1.0 / libm::sqrt(2.0);
        for v in out {
            assert_eq!(v, s.uniform(b));
        }
    }
}

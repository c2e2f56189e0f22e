//! [`Int8Network`]: a frozen int8 backbone feeding a trainable head, the boundary between them
//! crossed by dequantisation.

use super::{check_input, LayerRanges, LayerShape, MemoryPlan, Network};
use crate::nn::int8::Backbone;
use crate::nn::Scalar;
use crate::Error;

/// A network that is int8 up to a layer and trainable after it: a frozen [`Backbone`] (int8
/// weights and activations, TFLite's arithmetic, constants in flash) whose output is
/// [dequantised](crate::nn::int8::dequantize) into the head's number type `S` and fed to `H`,
/// any [`mlp!`](crate::mlp) or [`cnn!`](crate::cnn) network. Backward stops at the boundary:
/// only the head has gradients, optimizer state and kept activations, so
/// [`Network`]'s `PARAMS`, `TRAINABLE` and every parameter method are the head's.
///
/// The sizes are const parameters because stable Rust cannot size an array from a value:
/// `I` inputs, two int8 buffers of `A` bytes, `F` features (the head's inputs). Write them from
/// the backbone `const`, as the importer (`scripts/tflite_import.py`) does:
/// `Int8Network<'static, f32, Head<f32>, { B.input_len() }, { B.buffer_len() }, { B.output_len() }>`.
///
/// The input `x` of every [`Network`] method is the backbone's real-valued input in `S`
/// (quantised with the backbone's input scale and zero point, as TFLite's `QUANTIZE` does);
/// [`accumulate_quantized`](Int8Network::accumulate_quantized) takes int8 input as it is.
///
/// # Memory
/// `size_of::<Self>()` is the head plus `2·A` bytes of int8 activations (one byte per value),
/// `F` values of `S` and the backbone's descriptor; [`memory_plan`](Int8Network::memory_plan)
/// puts those in its [`int8`](MemoryPlan::int8) part. The `&self` methods
/// ([`forward_into`](Network::forward_into), [`predict`](Network::predict), [`loss`](Network::loss),
/// [`evaluate_sample`](Network::evaluate_sample)) run in the same buffers on the stack;
/// [`accumulate`](Network::accumulate) uses the network's own.
///
/// ```
/// use edgetune::nn::int8::{Backbone, DenseShape, Int8Dense, Int8Layer, OutputStage, QuantParams,
///     Requant};
/// use edgetune::nn::network::{Int8Network, Network};
/// const X: QuantParams = QuantParams { scale: 0.05, zero_point: 0 };
/// const LAYERS: [Int8Layer; 1] = [Int8Layer::Dense(Int8Dense {
///     shape: DenseShape::new(2, 3),
///     filter: &[64, 0, 0, 64, 64, -64],
///     bias: None,
///     stage: OutputStage { input_zero_point: 0, requant: Requant::from_slices(&[1 << 30], &[-5]),
///                          output_zero_point: 0, act_min: -128, act_max: 127 }, // × 2^-6
/// })];
/// const B: Backbone = match Backbone::new(X, &LAYERS, X) {
///     Ok(b) => b,
///     Err(_) => panic!(),
/// };
/// edgetune::mlp! {
///     struct Head {
///         dense 3 -> 2;
///         loss softmax_cross_entropy;
///     }
/// }
/// type Model = Int8Network<'static, f32, Head<f32>, { B.input_len() }, { B.buffer_len() },
///     { B.output_len() }>;
/// let mut net = Model::new(B, Head::zeroed())?;
/// net.accumulate(&[1.0, -0.5], &1)?; // features [1.0, -0.5, 1.5], exactly
/// assert_eq!(net.last_features(), &[1.0, -0.5, 1.5]);
/// assert_eq!(net.grads()[6..], [0.5, -0.5]); // bias gradient: softmax(0, 0) − one-hot(1)
/// # Ok::<(), edgetune::Error>(())
/// ```
pub struct Int8Network<'a, S, H, const I: usize, const A: usize, const F: usize> {
    backbone: Backbone<'a>,
    head: H,
    ping: [i8; A],
    pong: [i8; A],
    features: [S; F],
}

impl<'a, S: Scalar, H: Network<S>, const I: usize, const A: usize, const F: usize>
    Int8Network<'a, S, H, I, A, F>
{
    /// Joins `backbone` to `head` (`const`: the network can be a `static`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `I` is not the backbone's input length, `A` is below its
    /// buffer length, or `F` differs from its output length or from the head's inputs
    /// (`expected` is the backbone's or the head's figure).
    pub const fn new(backbone: Backbone<'a>, head: H) -> Result<Self, Error> {
        let mismatch = if backbone.input_len() != I {
            Some((backbone.input_len(), I))
        } else if backbone.buffer_len() > A {
            Some((backbone.buffer_len(), A))
        } else if backbone.output_len() != F {
            Some((backbone.output_len(), F))
        } else if H::INPUTS != F {
            Some((H::INPUTS, F))
        } else {
            None
        };
        if let Some((expected, found)) = mismatch {
            core::mem::forget(head);
            return Err(Error::LengthMismatch { expected, found });
        }
        Ok(Int8Network {
            backbone,
            head,
            ping: [0; A],
            pong: [0; A],
            features: [S::ZERO; F],
        })
    }

    /// The frozen backbone.
    pub const fn backbone(&self) -> &Backbone<'a> {
        &self.backbone
    }

    /// The trainable head.
    pub const fn head(&self) -> &H {
        &self.head
    }

    /// The trainable head, mutably (its parameters, gradients and generated methods).
    pub fn head_mut(&mut self) -> &mut H {
        &mut self.head
    }

    /// The features of the last [`accumulate`](Network::accumulate) or
    /// [`features_of`](Int8Network::features_of) call: the backbone's output in `S`.
    pub const fn last_features(&self) -> &[S; F] {
        &self.features
    }

    /// Runs the backbone on real input `x` in the network's own buffers and returns the
    /// features the head receives.
    ///
    /// # Errors
    /// As [`Backbone::run_real`].
    pub fn features_of(&mut self, x: &[S]) -> Result<&[S; F], Error> {
        self.backbone
            .run_real(x, &mut self.ping, &mut self.pong, &mut self.features)?;
        Ok(&self.features)
    }

    /// [`accumulate`](Network::accumulate) from int8 input as the backbone's input
    /// quantisation defines it (a sensor that already delivers it, or a stored quantised
    /// sample): no quantisation step.
    ///
    /// # Errors
    /// As [`Network::accumulate`]; [`Error::LengthMismatch`] if `x` is not `I` long.
    pub fn accumulate_quantized(&mut self, x: &[i8], target: &H::Target) -> Result<S, Error> {
        H::check_sample(&[S::ZERO; F], target)?;
        let y = self.backbone.run(x, &mut self.ping, &mut self.pong)?;
        crate::nn::int8::dequantize(&self.backbone.output_quant(), y, &mut self.features)?;
        self.head.accumulate_checked(&self.features, target)
    }

    /// The RAM of one training step with optimizer `O`, by part, from the head's plan for the
    /// same optimizer (`H::memory_plan::<O>(frozen_in_ram)` of a generated head): the backbone's
    /// buffers, the features and the descriptor go to [`int8`](MemoryPlan::int8), so
    /// [`total`](MemoryPlan::total) is `size_of::<Self>() + size_of::<O>()` when the head's is
    /// `size_of::<H>() + size_of::<O>()`. The backbone's constants are in flash:
    /// [`Backbone::constant_bytes`].
    pub const fn memory_plan(head: MemoryPlan) -> MemoryPlan {
        MemoryPlan {
            int8: head
                .int8
                .saturating_add(core::mem::size_of::<Self>() - core::mem::size_of::<H>()),
            ..head
        }
    }

    /// The features of `x` in stack buffers, then `f` on them.
    fn with_features<R>(
        &self,
        x: &[S],
        f: impl FnOnce(&[S]) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let (mut a, mut b, mut features) = ([0i8; A], [0i8; A], [S::ZERO; F]);
        self.backbone.run_real(x, &mut a, &mut b, &mut features)?;
        f(&features)
    }
}

impl<S: Scalar, H: Network<S>, const I: usize, const A: usize, const F: usize> Network<S>
    for Int8Network<'_, S, H, I, A, F>
{
    const INPUTS: usize = I;
    const OUTPUTS: usize = H::OUTPUTS;
    const PARAMS: usize = H::PARAMS;
    const TRAINABLE: usize = H::TRAINABLE;
    const FROZEN: usize = H::FROZEN;
    const LAYER_COUNT: usize = H::LAYER_COUNT;
    type Target = H::Target;

    fn layer_shape(k: usize) -> Option<LayerShape> {
        H::layer_shape(k)
    }

    fn layer_ranges(k: usize) -> Option<LayerRanges> {
        H::layer_ranges(k)
    }

    fn check_sample(x: &[S], target: &Self::Target) -> Result<(), Error> {
        crate::nn::shape::check_len(I, x.len())?;
        check_input(x)?;
        // The target alone: zeros are a valid head input.
        H::check_sample(&[S::ZERO; F], target)
    }

    fn forward_into(&self, x: &[S], out: &mut [S]) -> Result<(), Error> {
        self.with_features(x, |f| self.head.forward_into(f, out))
    }

    fn predict(&self, x: &[S]) -> Result<usize, Error> {
        self.with_features(x, |f| self.head.predict(f))
    }

    fn loss(&self, x: &[S], target: &Self::Target) -> Result<S, Error> {
        self.with_features(x, |f| self.head.loss(f, target))
    }

    fn evaluate_sample(&self, x: &[S], target: &Self::Target) -> Result<(S, Option<bool>), Error> {
        self.with_features(x, |f| self.head.evaluate_sample(f, target))
    }

    fn accumulate(&mut self, x: &[S], target: &Self::Target) -> Result<S, Error> {
        Self::check_sample(x, target)?;
        self.accumulate_checked(x, target)
    }

    fn accumulate_checked(&mut self, x: &[S], target: &Self::Target) -> Result<S, Error> {
        self.backbone
            .run_real(x, &mut self.ping, &mut self.pong, &mut self.features)?;
        self.head.accumulate_checked(&self.features, target)
    }

    fn zero_grad(&mut self) {
        self.head.zero_grad()
    }

    fn trainable(&self) -> &[S] {
        self.head.trainable()
    }

    fn trainable_mut(&mut self) -> &mut [S] {
        self.head.trainable_mut()
    }

    fn grads(&self) -> &[S] {
        self.head.grads()
    }

    fn grads_mut(&mut self) -> &mut [S] {
        self.head.grads_mut()
    }

    fn trainable_and_grads(&mut self) -> (&mut [S], &[S]) {
        self.head.trainable_and_grads()
    }

    fn frozen(&self) -> &[S] {
        self.head.frozen()
    }

    fn frozen_mut(&mut self) -> Option<&mut [S]> {
        self.head.frozen_mut()
    }

    fn export(&self, out: &mut [S]) -> Result<(), Error> {
        self.head.export(out)
    }

    fn import_trainable(&mut self, src: &[S]) -> Result<(), Error> {
        self.head.import_trainable(src)
    }

    fn import(&mut self, src: &[S]) -> Result<(), Error> {
        self.head.import(src)
    }
}

//! The computations the on-target tests check: one function per case, run by the host generator
//! (`main.rs`, which writes the expected bits to `boards/common-data/target_expect.rs`) and by the
//! boards' defmt-test binaries (`boards/qemu-cortex-*/tests/`, which include this file with
//! `#[path]`). Both sides run exactly this code over exactly the input bits stored in that file,
//! so any difference in the outputs comes from the library on the two targets.
//!
//! Every case reads its inputs as `u32` bit patterns and writes its outputs as `u32` bit
//! patterns (`f32::to_bits`, or the two's complement bits of a fixed-point value), in an order
//! fixed by the case. `no_std`, no allocation: the buffers are the caller's.
#![allow(dead_code)] // each test binary uses part of it

use edgetune::nn::{
    conv1d, conv2d, dense, softmax_cross_entropy, Activation, Conv1dShape, Conv2dShape, NnError,
    Padding, Scalar, Sigmoid, Tanh,
};
use edgetune::num::fixed::{RoundingState, I16F16, I4F12, I8F24};
use edgetune::optim::{
    Adagrad, AdagradConfig, AdagradNum, Adam, AdamConfig, AdamNum, Lion, LionConfig, LionNum,
    Momentum, MomentumConfig, MomentumNum, On, Optimizer, RmsProp, RmsPropConfig, RmsPropNum, Sgd,
    SgdConfig, SgdNum,
};

// ---- sizes ---------------------------------------------------------------------------------

/// Parameters per optimizer case: not a multiple of 4 or 8, so an unrolled loop runs its body
/// and its remainder.
pub const N: usize = 37;
/// Optimizer steps per case (the state is used from step 2 on; step 3 onward reaches the bias
/// corrections' general case).
pub const STEPS: usize = 4;
/// Words an optimizer case writes: the parameters after every step, then the fixed-point
/// rounding generator's final state (0 for `f32`).
pub const OPT_OUT: usize = STEPS * N + 1;

/// Dense layer inputs and outputs.
pub const DI: usize = 37;
/// Dense layer outputs.
pub const DO: usize = 11;
/// Dense case inputs: `W` (row by row), `b`, `x`, `dy₁`, `x₂`, `dy₂`.
pub const DENSE_IN: usize = DI * DO + DO + DI + DO + DI + DO;
/// Dense case outputs: `y = W x + b`, then `dW`, `db` after two accumulated backward passes
/// (`x, dy₁` then `x₂, dy₂`), then `dx` of the second.
pub const DENSE_OUT: usize = DO + DI * DO + DO + DI;

/// Activation case elements.
pub const ACT: usize = 37;
/// Activation case inputs: `x`, `dy`.
pub const ACT_IN: usize = 2 * ACT;
/// Activation case outputs: `y`, `dx` for tanh, then for sigmoid.
pub const ACT_OUT: usize = 4 * ACT;

/// Classes of the softmax cross-entropy case.
pub const CLASSES: usize = 10;
/// Samples of the softmax cross-entropy case.
pub const CE_ROWS: usize = 5;
/// Softmax cross-entropy inputs: the logits of each row (labels are [`CE_LABELS`]).
pub const CE_IN: usize = CE_ROWS * CLASSES;
/// Softmax cross-entropy outputs: per row, the loss then `∂L/∂z`.
pub const CE_OUT: usize = CE_ROWS * (1 + CLASSES);
/// The class of each softmax row.
pub const CE_LABELS: [usize; CE_ROWS] = [3, 0, 9, 5, 7];

edgetune::mlp! {
    /// The training-step case: two dense layers, tanh, softmax cross-entropy, every layer
    /// trained.
    pub struct Net {
        dense 12 -> 9, tanh;
        dense 9 -> 5;
        loss softmax_cross_entropy;
    }
}

/// All parameters of [`Net`].
pub const NET_PARAMS: usize = Net::<f32>::PARAMS;
/// Network inputs.
pub const NET_X: usize = Net::<f32>::INPUTS;
/// Training steps of the network case.
pub const NET_STEPS: usize = 3;
/// Samples per step (accumulated into one gradient).
pub const NET_BATCH: usize = 2;
/// Network case inputs: the torch-order parameters, then the samples.
pub const NET_IN: usize = NET_PARAMS + NET_STEPS * NET_BATCH * NET_X;
/// Network case outputs: per step the batch's losses then every parameter, then the rounding
/// generator's final state.
pub const NET_OUT: usize = NET_STEPS * (NET_BATCH + NET_PARAMS) + 1;
/// The class of each network sample.
pub const NET_LABELS: [usize; NET_STEPS * NET_BATCH] = [0, 3, 4, 1, 2, 3];

/// The 1-D convolution case: 11 steps × 3 channels → 4 channels, kernel 3, stride 2, padding 1
/// (edges tapped by the padding, a stride that skips inputs).
pub const CONV1: Conv1dShape = Conv1dShape::new(11, 3, 4, 3)
    .stride(2)
    .pad(Padding::symmetric(1));
/// The 2-D convolution case: 5 × 4 × 4 → 6 channels, kernel 3 × 2, stride (2, 1), SAME padding
/// (asymmetric on the height), 2 groups.
pub const CONV2: Conv2dShape = Conv2dShape::new(5, 4, 4, 6, 3, 2)
    .stride(2, 1)
    .same()
    .groups(2);
/// The depthwise case: 5 × 5 × 3 → 6 channels (multiplier 2), kernel 3 × 3, padding 1, groups 3.
pub const DWCONV: Conv2dShape = Conv2dShape::new(5, 5, 3, 6, 3, 3)
    .pad(Padding::symmetric(1), Padding::symmetric(1))
    .groups(3);
const _: () = assert!(CONV1.valid() && CONV2.valid() && DWCONV.valid());

/// Words a convolution case reads: `W`, `b`, `x`, then `dy₁`, `x₂`, `dy₂`.
pub const fn conv_in(s: &Conv2dShape) -> usize {
    s.weights() + s.out_c + 2 * s.input_len() + 2 * s.output_len()
}
/// Words a convolution case writes: `y` (forward of `x`), then `dW`, `db` after two
/// accumulated backward passes (`x, dy₁` then `x₂, dy₂`), then `dx` of the second.
pub const fn conv_out(s: &Conv2dShape) -> usize {
    s.output_len() + s.weights() + s.out_c + s.input_len()
}
/// [`CONV1`] in and out.
pub const CONV1_IN: usize = conv_in(&CONV1.to_2d());
/// See [`CONV1_IN`].
pub const CONV1_OUT: usize = conv_out(&CONV1.to_2d());
/// [`CONV2`] in and out.
pub const CONV2_IN: usize = conv_in(&CONV2);
/// See [`CONV2_IN`].
pub const CONV2_OUT: usize = conv_out(&CONV2);
/// [`DWCONV`] in and out.
pub const DWCONV_IN: usize = conv_in(&DWCONV);
/// See [`DWCONV_IN`].
pub const DWCONV_OUT: usize = conv_out(&DWCONV);

edgetune::cnn! {
    /// The `cnn!` training-step case: every 1-D layer kind (strided SAME convolution, batch
    /// norm, max pool, depthwise ×2 convolution with padding, average pool, pointwise
    /// convolution, global average pool, dense), every layer trained.
    pub struct CNet {
        input [12, 3];
        conv1d(3, 4, 3, stride = 2, padding = same), relu;
        batch_norm(4), relu6;
        max_pool1d(2, stride = 1);
        conv1d(4, 8, 3, padding = 1, groups = 4), tanh;
        avg_pool1d(2);
        conv1d(8, 5, 1), sigmoid;
        global_avg_pool;
        dense(5, 3);
        loss softmax_cross_entropy;
    }
}

/// All parameters of [`CNet`].
pub const CNET_PARAMS: usize = CNet::<f32>::PARAMS;
/// [`CNet`] inputs.
pub const CNET_X: usize = CNet::<f32>::INPUTS;
/// [`CNet`] case inputs: the torch-order parameters, then the samples.
pub const CNET_IN: usize = CNET_PARAMS + NET_STEPS * NET_BATCH * CNET_X;
/// [`CNet`] case outputs: per step the batch's losses then every parameter, then the rounding
/// generator's final state.
pub const CNET_OUT: usize = NET_STEPS * (NET_BATCH + CNET_PARAMS) + 1;
/// The class of each [`CNet`] sample.
pub const CNET_LABELS: [usize; NET_STEPS * NET_BATCH] = [2, 0, 1, 1, 0, 2];

// ---- number types --------------------------------------------------------------------------

/// A number type the cases run in, with its bit pattern and its rounding setup.
pub trait CaseNum:
    Scalar + SgdNum + MomentumNum + AdamNum + RmsPropNum + AdagradNum + LionNum
{
    /// The value's bits.
    fn to_u32(self) -> u32;
    /// The value with these bits.
    fn from_u32(bits: u32) -> Self;
    /// Seeds the number type's rounding state the same way on every target: stochastic rounding
    /// from a fixed seed, or round to nearest. Nothing for `f32`.
    fn seed(aux: &mut Self::Aux, nearest: bool);
    /// The rounding generator's state (0 for `f32`).
    fn aux_word(aux: &Self::Aux) -> u32;
}

/// The seed of every fixed-point rounding generator.
pub const ROUNDING_SEED: u32 = 0x9e37_79b9;

impl CaseNum for f32 {
    fn to_u32(self) -> u32 {
        self.to_bits()
    }
    fn from_u32(bits: u32) -> Self {
        f32::from_bits(bits)
    }
    fn seed(_: &mut (), _: bool) {}
    fn aux_word(_: &()) -> u32 {
        0
    }
}

macro_rules! fixed_case_num {
    ($t:ty) => {
        impl CaseNum for $t {
            fn to_u32(self) -> u32 {
                self.to_bits() as u32
            }
            fn from_u32(bits: u32) -> Self {
                <$t>::from_bits(bits as i32)
            }
            fn seed(aux: &mut RoundingState, nearest: bool) {
                *aux = if nearest {
                    RoundingState::nearest()
                } else {
                    RoundingState::stochastic(ROUNDING_SEED)
                };
            }
            fn aux_word(aux: &RoundingState) -> u32 {
                aux.state()
            }
        }
    };
}
fixed_case_num!(I16F16);
fixed_case_num!(I8F24);

/// The 16-bit format: its `i16` bits sign-extended to a word (the checkpoint's encoding).
impl CaseNum for I4F12 {
    fn to_u32(self) -> u32 {
        i32::from(self.to_bits()) as u32
    }
    fn from_u32(bits: u32) -> Self {
        I4F12::from_bits(bits as i16)
    }
    fn seed(aux: &mut RoundingState, nearest: bool) {
        *aux = if nearest {
            RoundingState::nearest()
        } else {
            RoundingState::stochastic(ROUNDING_SEED)
        };
    }
    fn aux_word(aux: &RoundingState) -> u32 {
        aux.state()
    }
}

fn load<S: CaseNum, const K: usize>(bits: &[u32]) -> [S; K] {
    let mut out = [S::ZERO; K];
    for (o, &b) in out.iter_mut().zip(bits) {
        *o = S::from_u32(b);
    }
    out
}

fn store<S: CaseNum>(out: &mut [u32], values: &[S]) {
    for (o, v) in out.iter_mut().zip(values) {
        *o = v.to_u32();
    }
}

/// What a case can fail with (on both sides the same way: the generator refuses to write a file
/// whose cases fail).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CaseError {
    /// A buffer has the wrong length.
    Length,
    /// An optimizer step returned an error.
    Optim(edgetune::Error),
    /// A layer returned an error.
    Nn(NnError),
}

impl From<edgetune::Error> for CaseError {
    fn from(e: edgetune::Error) -> Self {
        CaseError::Optim(e)
    }
}

impl From<NnError> for CaseError {
    fn from(e: NnError) -> Self {
        CaseError::Nn(e)
    }
}

// ---- optimizers ----------------------------------------------------------------------------

/// An optimizer configuration. Each covers a kernel path: for fixed point the 32-bit fast loops
/// (no weight decay) and the general kernels (decay, dampening, Nesterov, centering, maximize).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    /// SGD, lr 0.05 (fixed point: fast path).
    Sgd,
    /// SGD, lr 0.05, weight decay 0.01, maximize (general path).
    SgdWd,
    /// Heavy-ball momentum 0.9, lr 0.05 (fixed point: fast path).
    Momentum,
    /// Momentum 0.8 with dampening 0.1 and weight decay 1e-3, lr 0.03 (general path).
    MomentumDamp,
    /// Nesterov momentum 0.9, lr 0.05.
    Nesterov,
    /// Adam, lr 1e-2, torch defaults (fixed point: fast loop).
    Adam,
    /// Adam with L2 weight decay 0.01 and maximize (general kernel).
    AdamL2,
    /// AdamW, lr 1e-2, decoupled weight decay 1e-2.
    AdamW,
    /// AMSGrad, lr 1e-2.
    AmsGrad,
    /// RMSprop, lr 1e-2, torch defaults (fixed point: fast loop).
    RmsProp,
    /// Centered RMSprop with momentum 0.9 and weight decay 1e-3, lr 1e-2.
    RmsPropCenteredMomentum,
    /// Adagrad, lr 0.05, lr decay 0.01, initial accumulator 0.1.
    Adagrad,
    /// Lion, lr 1e-3 (fixed point: fast path).
    Lion,
    /// Lion, lr 1e-3, weight decay 0.1 (general path).
    LionWd,
}

impl Opt {
    /// Every configuration.
    pub const ALL: [Opt; 14] = [
        Opt::Sgd,
        Opt::SgdWd,
        Opt::Momentum,
        Opt::MomentumDamp,
        Opt::Nesterov,
        Opt::Adam,
        Opt::AdamL2,
        Opt::AdamW,
        Opt::AmsGrad,
        Opt::RmsProp,
        Opt::RmsPropCenteredMomentum,
        Opt::Adagrad,
        Opt::Lion,
        Opt::LionWd,
    ];

    /// The name the generator gives the case's expected array (`OPT_<NAME>`).
    pub const fn name(self) -> &'static str {
        match self {
            Opt::Sgd => "SGD",
            Opt::SgdWd => "SGD_WD",
            Opt::Momentum => "MOMENTUM",
            Opt::MomentumDamp => "MOMENTUM_DAMP",
            Opt::Nesterov => "NESTEROV",
            Opt::Adam => "ADAM",
            Opt::AdamL2 => "ADAM_L2",
            Opt::AdamW => "ADAMW",
            Opt::AmsGrad => "AMSGRAD",
            Opt::RmsProp => "RMSPROP",
            Opt::RmsPropCenteredMomentum => "RMSPROP_CM",
            Opt::Adagrad => "ADAGRAD",
            Opt::Lion => "LION",
            Opt::LionWd => "LION_WD",
        }
    }
}

fn drive<S: CaseNum, O: Optimizer<S, N>>(
    mut opt: O,
    nearest: bool,
    init: &[u32],
    grads: &[u32],
    out: &mut [u32],
) -> Result<(), CaseError> {
    if init.len() != N || grads.len() != STEPS * N || out.len() != OPT_OUT {
        return Err(CaseError::Length);
    }
    S::seed(opt.aux_mut(), nearest);
    let mut p: [S; N] = load(init);
    for (g, o) in grads.chunks_exact(N).zip(out.chunks_exact_mut(N)) {
        let g: [S; N] = load(g);
        opt.step(&mut p, &g)?;
        store(o, &p);
    }
    out[STEPS * N] = S::aux_word(opt.aux());
    Ok(())
}

/// Runs `opt` for [`STEPS`] steps from the parameters `init` (`N` words) with the gradients
/// `grads` (`STEPS·N` words, step by step), rounding fixed-point writes stochastically from
/// [`ROUNDING_SEED`] or to nearest, and writes [`OPT_OUT`] words to `out`.
pub fn run_opt<S: CaseNum>(
    opt: Opt,
    nearest: bool,
    init: &[u32],
    grads: &[u32],
    out: &mut [u32],
) -> Result<(), CaseError> {
    let (i, g, o) = (init, grads, out);
    match opt {
        Opt::Sgd => drive(Sgd::<S, N>::new(SGD)?, nearest, i, g, o),
        Opt::SgdWd => drive(Sgd::<S, N>::new(SGD_WD)?, nearest, i, g, o),
        Opt::Momentum => drive(Momentum::<S, N>::new(MOMENTUM)?, nearest, i, g, o),
        Opt::MomentumDamp => drive(Momentum::<S, N>::new(MOMENTUM_DAMP)?, nearest, i, g, o),
        Opt::Nesterov => drive(Momentum::<S, N>::new(NESTEROV)?, nearest, i, g, o),
        Opt::Adam => drive(Adam::<S, N>::new(ADAM)?, nearest, i, g, o),
        Opt::AdamL2 => drive(Adam::<S, N>::new(ADAM_L2)?, nearest, i, g, o),
        Opt::AdamW => drive(Adam::<S, N>::new(ADAMW)?, nearest, i, g, o),
        Opt::AmsGrad => drive(Adam::<S, N, On>::new(ADAM)?, nearest, i, g, o),
        Opt::RmsProp => drive(RmsProp::<S, N>::new(RMSPROP)?, nearest, i, g, o),
        Opt::RmsPropCenteredMomentum => {
            drive(RmsProp::<S, N, On, On>::new(RMSPROP_CM)?, nearest, i, g, o)
        }
        Opt::Adagrad => drive(Adagrad::<S, N>::new(ADAGRAD)?, nearest, i, g, o),
        Opt::Lion => drive(Lion::<S, N>::new(LION)?, nearest, i, g, o),
        Opt::LionWd => drive(Lion::<S, N>::new(LION_WD)?, nearest, i, g, o),
    }
}

/// [`Opt::Sgd`].
pub const SGD: SgdConfig = SgdConfig::new(0.05);
/// [`Opt::SgdWd`].
pub const SGD_WD: SgdConfig = SgdConfig {
    weight_decay: 0.01,
    maximize: true,
    ..SgdConfig::new(0.05)
};
/// [`Opt::Momentum`].
pub const MOMENTUM: MomentumConfig = MomentumConfig::new(0.05, 0.9);
/// [`Opt::MomentumDamp`].
pub const MOMENTUM_DAMP: MomentumConfig = MomentumConfig {
    dampening: 0.1,
    weight_decay: 1e-3,
    ..MomentumConfig::new(0.03, 0.8)
};
/// [`Opt::Nesterov`].
pub const NESTEROV: MomentumConfig = MomentumConfig::nesterov(0.05, 0.9);
/// [`Opt::Adam`] and [`Opt::AmsGrad`].
pub const ADAM: AdamConfig = AdamConfig::adam(1e-2);
/// [`Opt::AdamL2`].
pub const ADAM_L2: AdamConfig = AdamConfig {
    weight_decay: 0.01,
    maximize: true,
    ..AdamConfig::adam(1e-2)
};
/// [`Opt::AdamW`].
pub const ADAMW: AdamConfig = AdamConfig::adamw(1e-2);
/// [`Opt::RmsProp`].
pub const RMSPROP: RmsPropConfig = RmsPropConfig::new(1e-2);
/// [`Opt::RmsPropCenteredMomentum`].
pub const RMSPROP_CM: RmsPropConfig = RmsPropConfig {
    momentum: 0.9,
    weight_decay: 1e-3,
    ..RmsPropConfig::new(1e-2)
};
/// [`Opt::Adagrad`].
pub const ADAGRAD: AdagradConfig = AdagradConfig {
    lr_decay: 0.01,
    initial_accumulator_value: 0.1,
    ..AdagradConfig::new(0.05)
};
/// [`Opt::Lion`].
pub const LION: LionConfig = LionConfig::new(1e-3);
/// [`Opt::LionWd`].
pub const LION_WD: LionConfig = LionConfig {
    weight_decay: 0.1,
    ..LionConfig::new(1e-3)
};

// ---- layers --------------------------------------------------------------------------------

/// Dense layer forward, then two backward passes accumulated into zeroed gradients (see
/// [`DENSE_IN`], [`DENSE_OUT`]).
pub fn run_dense<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    if input.len() != DENSE_IN || out.len() != DENSE_OUT {
        return Err(CaseError::Length);
    }
    let (w_bits, rest) = input.split_at(DI * DO);
    let mut w = [[S::ZERO; DI]; DO];
    for (row, bits) in w.iter_mut().zip(w_bits.chunks_exact(DI)) {
        *row = load(bits);
    }
    let (b, rest) = rest.split_at(DO);
    let b: [S; DO] = load(b);
    let (x1, rest) = rest.split_at(DI);
    let x1: [S; DI] = load(x1);
    let (dy1, rest) = rest.split_at(DO);
    let dy1: [S; DO] = load(dy1);
    let (x2, dy2) = rest.split_at(DI);
    let x2: [S; DI] = load(x2);
    let dy2: [S; DO] = load(dy2);

    let mut y = [S::ZERO; DO];
    dense::forward(&w, &b, &x1, &mut y);
    let mut dw = [[S::ZERO; DI]; DO];
    let mut db = [S::ZERO; DO];
    let mut dx = [S::ZERO; DI];
    dense::backward(&w, &x1, &dy1, Some((&mut dw, &mut db)), None);
    dense::backward(&w, &x2, &dy2, Some((&mut dw, &mut db)), Some(&mut dx));

    let (o_y, rest) = out.split_at_mut(DO);
    store(o_y, &y);
    let (o_w, rest) = rest.split_at_mut(DI * DO);
    store(o_w, dw.as_flattened());
    let (o_b, o_x) = rest.split_at_mut(DO);
    store(o_b, &db);
    store(o_x, &dx);
    Ok(())
}

/// Tanh and sigmoid, forward and backward from the output (see [`ACT_IN`], [`ACT_OUT`]).
pub fn run_activations<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    if input.len() != ACT_IN || out.len() != ACT_OUT {
        return Err(CaseError::Length);
    }
    let x: [S; ACT] = load(&input[..ACT]);
    let dy: [S; ACT] = load(&input[ACT..]);
    let mut y = [S::ZERO; ACT];
    let mut dx = [S::ZERO; ACT];
    let (first, second) = out.split_at_mut(2 * ACT);
    Tanh.forward(&x, &mut y);
    Tanh.backward(&y, &dy, &mut dx);
    store(&mut first[..ACT], &y);
    store(&mut first[ACT..], &dx);
    Sigmoid.forward(&x, &mut y);
    Sigmoid.backward(&y, &dy, &mut dx);
    store(&mut second[..ACT], &y);
    store(&mut second[ACT..], &dx);
    Ok(())
}

/// Softmax cross-entropy loss and gradient of each row (see [`CE_IN`], [`CE_OUT`]).
pub fn run_softmax_ce<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    if input.len() != CE_IN || out.len() != CE_OUT {
        return Err(CaseError::Length);
    }
    for ((z, o), &label) in input
        .chunks_exact(CLASSES)
        .zip(out.chunks_exact_mut(1 + CLASSES))
        .zip(&CE_LABELS)
    {
        let z: [S; CLASSES] = load(z);
        let mut dz = [S::ZERO; CLASSES];
        let loss = softmax_cross_entropy(&z, label, &mut dz)?;
        o[0] = loss.to_u32();
        store(&mut o[1..], &dz);
    }
    Ok(())
}

/// The network case's Adam.
pub const NET_ADAM: AdamConfig = AdamConfig::adam(0.02);

/// [`NET_STEPS`] training steps of [`Net`] with Adam ([`NET_ADAM`]): see [`run_net`].
pub fn run_net_adam<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    let opt = Adam::<S, { Net::<f32>::TRAINABLE }>::new(NET_ADAM)?;
    run_net(opt, input, out)
}

/// [`NET_STEPS`] training steps of [`Net`] with Nesterov momentum 0.9 (lr 0.05): see
/// [`run_net`].
pub fn run_net_nesterov<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    let opt = Momentum::<S, { Net::<f32>::TRAINABLE }>::new(MomentumConfig::nesterov(0.05, 0.9))?;
    run_net(opt, input, out)
}

/// [`NET_STEPS`] training steps of [`Net`] with `opt`: zero the gradients, accumulate forward +
/// loss + backward over [`NET_BATCH`] samples, step (see [`NET_IN`], [`NET_OUT`]).
pub fn run_net<S: CaseNum, O: Optimizer<S, { Net::<f32>::TRAINABLE }>>(
    mut opt: O,
    input: &[u32],
    out: &mut [u32],
) -> Result<(), CaseError> {
    if input.len() != NET_IN || out.len() != NET_OUT {
        return Err(CaseError::Length);
    }
    let (params, samples) = input.split_at(NET_PARAMS);
    let params: [S; NET_PARAMS] = load(params);
    let mut net = Net::<S>::zeroed();
    net.import(&params)?;
    S::seed(opt.aux_mut(), false);
    let mut xs = samples.chunks_exact(NET_X);
    let mut labels = NET_LABELS.iter();
    let mut all = [S::ZERO; NET_PARAMS];
    for o in out.chunks_exact_mut(NET_BATCH + NET_PARAMS) {
        net.zero_grad();
        for loss_out in &mut o[..NET_BATCH] {
            let (Some(x), Some(&label)) = (xs.next(), labels.next()) else {
                return Err(CaseError::Length);
            };
            let x: [S; NET_X] = load(x);
            *loss_out = net.accumulate(&x, label)?.to_u32();
        }
        let (p, g) = net.trainable_and_grads();
        opt.step(p, g)?;
        net.export(&mut all)?;
        store(&mut o[NET_BATCH..], &all);
    }
    out[NET_OUT - 1] = S::aux_word(opt.aux());
    Ok(())
}

// ---- convolutions and the cnn! network -----------------------------------------------------

/// A convolution case over `s` (see [`conv_in`], [`conv_out`]); `XI`, `W`, `O`, `YO` are its
/// input, weight, channel and output lengths.
fn run_conv<S: CaseNum, const XI: usize, const W: usize, const O: usize, const YO: usize>(
    s: &Conv2dShape,
    input: &[u32],
    out: &mut [u32],
) -> Result<(), CaseError> {
    if input.len() != conv_in(s) || out.len() != conv_out(s) {
        return Err(CaseError::Length);
    }
    let (w, rest) = input.split_at(W);
    let w: [S; W] = load(w);
    let (b, rest) = rest.split_at(O);
    let b: [S; O] = load(b);
    let (x1, rest) = rest.split_at(XI);
    let x1: [S; XI] = load(x1);
    let (dy1, rest) = rest.split_at(YO);
    let dy1: [S; YO] = load(dy1);
    let (x2, dy2) = rest.split_at(XI);
    let x2: [S; XI] = load(x2);
    let dy2: [S; YO] = load(dy2);
    let mut y = [S::ZERO; YO];
    conv2d::forward(s, &w, &b, &x1, &mut y)?;
    let mut dw = [S::ZERO; W];
    let mut db = [S::ZERO; O];
    let mut dx = [S::ZERO; XI];
    conv2d::backward(s, &w, &x1, &dy1, Some((&mut dw, &mut db)), None)?;
    conv2d::backward(s, &w, &x2, &dy2, Some((&mut dw, &mut db)), Some(&mut dx))?;
    let (o_y, rest) = out.split_at_mut(YO);
    store(o_y, &y);
    let (o_w, rest) = rest.split_at_mut(W);
    store(o_w, &dw);
    let (o_b, o_x) = rest.split_at_mut(O);
    store(o_b, &db);
    store(o_x, &dx);
    Ok(())
}

/// [`CONV1`] through `conv1d::forward` and `conv1d::backward` (see [`conv_out`]).
pub fn run_conv1d<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    const S2: Conv2dShape = CONV1.to_2d();
    const XI: usize = S2.input_len();
    const W: usize = S2.weights();
    const O: usize = S2.out_c;
    const YO: usize = S2.output_len();
    if input.len() != CONV1_IN || out.len() != CONV1_OUT {
        return Err(CaseError::Length);
    }
    let (w, rest) = input.split_at(W);
    let w: [S; W] = load(w);
    let (b, rest) = rest.split_at(O);
    let b: [S; O] = load(b);
    let (x1, rest) = rest.split_at(XI);
    let x1: [S; XI] = load(x1);
    let (dy1, rest) = rest.split_at(YO);
    let dy1: [S; YO] = load(dy1);
    let (x2, dy2) = rest.split_at(XI);
    let x2: [S; XI] = load(x2);
    let dy2: [S; YO] = load(dy2);
    let mut y = [S::ZERO; YO];
    conv1d::forward(&CONV1, &w, &b, &x1, &mut y)?;
    let mut dw = [S::ZERO; W];
    let mut db = [S::ZERO; O];
    let mut dx = [S::ZERO; XI];
    conv1d::backward(&CONV1, &w, &x1, &dy1, Some((&mut dw, &mut db)), None)?;
    conv1d::backward(
        &CONV1,
        &w,
        &x2,
        &dy2,
        Some((&mut dw, &mut db)),
        Some(&mut dx),
    )?;
    let (o_y, rest) = out.split_at_mut(YO);
    store(o_y, &y);
    let (o_w, rest) = rest.split_at_mut(W);
    store(o_w, &dw);
    let (o_b, o_x) = rest.split_at_mut(O);
    store(o_b, &db);
    store(o_x, &dx);
    Ok(())
}

/// [`CONV2`] (see [`conv_out`]).
pub fn run_conv2d<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    run_conv::<S, { CONV2.input_len() }, { CONV2.weights() }, { CONV2.out_c }, { CONV2.output_len() }>(
        &CONV2, input, out,
    )
}

/// [`DWCONV`] (see [`conv_out`]).
pub fn run_dwconv2d<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    run_conv::<
        S,
        { DWCONV.input_len() },
        { DWCONV.weights() },
        { DWCONV.out_c },
        { DWCONV.output_len() },
    >(&DWCONV, input, out)
}

/// [`NET_STEPS`] training steps of [`CNet`] with Nesterov momentum 0.9 (lr 0.05; no square
/// root, so f32 is bit-identical on the Cortex-M0 too): zero the gradients, accumulate forward +
/// loss + backward over [`NET_BATCH`] samples, step (see [`CNET_IN`], [`CNET_OUT`]).
pub fn run_cnet<S: CaseNum>(input: &[u32], out: &mut [u32]) -> Result<(), CaseError> {
    if input.len() != CNET_IN || out.len() != CNET_OUT {
        return Err(CaseError::Length);
    }
    let mut opt =
        Momentum::<S, { CNet::<f32>::TRAINABLE }>::new(MomentumConfig::nesterov(0.05, 0.9))?;
    let (params, samples) = input.split_at(CNET_PARAMS);
    let params: [S; CNET_PARAMS] = load(params);
    let mut net = CNet::<S>::zeroed();
    net.import(&params)?;
    S::seed(opt.aux_mut(), false);
    let mut xs = samples.chunks_exact(CNET_X);
    let mut labels = CNET_LABELS.iter();
    let mut all = [S::ZERO; CNET_PARAMS];
    for o in out.chunks_exact_mut(NET_BATCH + CNET_PARAMS) {
        net.zero_grad();
        for loss_out in &mut o[..NET_BATCH] {
            let (Some(x), Some(&label)) = (xs.next(), labels.next()) else {
                return Err(CaseError::Length);
            };
            let x: [S; CNET_X] = load(x);
            *loss_out = net.accumulate(&x, label)?.to_u32();
        }
        let (p, g) = net.trainable_and_grads();
        opt.step(p, g)?;
        net.export(&mut all)?;
        store(&mut o[NET_BATCH..], &all);
    }
    out[CNET_OUT - 1] = S::aux_word(opt.aux());
    Ok(())
}

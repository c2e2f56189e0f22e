//! DS-CNN Small with its frozen part in int8 (TFLite's scheme, batch norms folded into the
//! convolutions as the converter folds them): an [`Int8Network`] whose backbone runs the
//! frozen layers with one byte per activation, under a trainable `cnn!` head. The constants are
//! zeros (memory does not depend on them; a real model's come from `scripts/tflite_import.py`).
//!
//! - `LastLayerHead`: the backbone is every layer but the dense one; the head trains it.
//! - `LastBlockHead`: the backbone stops after the third block; the head is the fourth block
//!   (depthwise, batch norm, pointwise, batch norm, each with ReLU), the pool and the dense
//!   layer, all trained.

use edgetune::nn::int8::{
    Backbone, ConvShape, Int8Conv, Int8Layer, Int8Pool, OutputStage, QuantParams, Requant,
};
use edgetune::nn::network::Int8Network;
use edgetune::nn::{Conv2dShape, Pool2dShape};

const Q: QuantParams = QuantParams {
    scale: 0.05,
    zero_point: 0,
};
const STAGE: OutputStage = OutputStage {
    input_zero_point: 0,
    requant: Requant::from_slices(&[1 << 30], &[0]),
    output_zero_point: 0,
    act_min: 0,
    act_max: 127,
};

const fn conv(shape: ConvShape, filter: &'static [i8], depthwise: bool) -> Int8Layer<'static> {
    let c = Int8Conv {
        shape,
        filter,
        bias: Some(&[0; 64]),
        stage: STAGE,
    };
    if depthwise {
        Int8Layer::Depthwise(c)
    } else {
        Int8Layer::Conv(c)
    }
}

const FIRST: ConvShape = ConvShape::new(Conv2dShape::new(49, 10, 1, 64, 10, 4).stride(2, 2)).same();
const DW: ConvShape = ConvShape::new(Conv2dShape::new(25, 5, 64, 64, 3, 3).groups(64)).same();
const PW: ConvShape = ConvShape::new(Conv2dShape::new(25, 5, 64, 64, 1, 1));
const DW_W: [i8; DW.weights()] = [0; DW.weights()];
const PW_W: [i8; PW.weights()] = [0; PW.weights()];
const FIRST_W: [i8; FIRST.weights()] = [0; FIRST.weights()];

const LAYERS: [Int8Layer<'static>; 10] = [
    conv(FIRST, &FIRST_W, false),
    conv(DW, &DW_W, true),
    conv(PW, &PW_W, false),
    conv(DW, &DW_W, true),
    conv(PW, &PW_W, false),
    conv(DW, &DW_W, true),
    conv(PW, &PW_W, false),
    conv(DW, &DW_W, true),
    conv(PW, &PW_W, false),
    Int8Layer::AvgPool(Int8Pool {
        shape: Pool2dShape::new(25, 5, 64, 25, 5),
        act: (-128, 127),
    }),
];

const fn backbone(layers: &'static [Int8Layer<'static>]) -> Backbone<'static> {
    match Backbone::new(Q, layers, Q) {
        Ok(b) => b,
        Err(_) => panic!("the DS-CNN-S layers do not fit"),
    }
}

/// Every frozen layer of DS-CNN Small, in int8: 49 × 10 → 64 features.
pub const TO_POOL: Backbone<'static> = backbone(&LAYERS);
/// The first convolution and three blocks, in int8: 49 × 10 → 25 × 5 × 64.
pub const TO_BLOCK4: Backbone<'static> = backbone(LAYERS.split_at(7).0);

edgetune::cnn! {
    /// The dense layer on the pooled features.
    pub struct LastLayerHead {
        input [1, 1, 64];
        dense(64, 12);
        loss softmax_cross_entropy;
    }
}

edgetune::cnn! {
    /// The fourth block, the pool and the dense layer.
    pub struct LastBlockHead {
        input [25, 5, 64];
        conv2d(64, 64, 3, padding = same, groups = 64);
        batch_norm(64), relu;
        conv2d(64, 64, 1);
        batch_norm(64), relu;
        avg_pool2d((25, 5));
        dense(64, 12);
        loss softmax_cross_entropy;
    }
}

/// The dense layer trained on the int8 backbone.
pub type Int8LastLayer<S> = Int8Network<
    'static,
    S,
    LastLayerHead<S>,
    { TO_POOL.input_len() },
    { TO_POOL.buffer_len() },
    { TO_POOL.output_len() },
>;
/// The last block and the dense layer trained on the int8 backbone.
pub type Int8LastBlock<S> = Int8Network<
    'static,
    S,
    LastBlockHead<S>,
    { TO_BLOCK4.input_len() },
    { TO_BLOCK4.buffer_len() },
    { TO_BLOCK4.output_len() },
>;

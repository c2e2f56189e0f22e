//! DS-CNN Small (Arm ML-zoo's keyword spotter) as `cnn!` declarations, one per fine-tuning
//! mode: 49 × 10 MFCC input; conv 10 × 4 stride 2 to 64 channels; four blocks of depthwise
//! 3 × 3 and pointwise 64, each followed by batch norm and ReLU; average pool; dense 12.

/// One DS-CNN-S declaration with a mode per layer with parameters, in order: the first conv,
/// its batch norm, then per block the depthwise conv, its batch norm, the pointwise conv, its
/// batch norm, and last the dense layer.
macro_rules! ds_cnn {
    (
        $(#[$meta:meta])* $name:ident: $c0:ident $n0:ident
        | $d1:ident $e1:ident $p1:ident $q1:ident | $d2:ident $e2:ident $p2:ident $q2:ident
        | $d3:ident $e3:ident $p3:ident $q3:ident | $d4:ident $e4:ident $p4:ident $q4:ident
        | $dense:ident $($update:ident)?
    ) => {
        edgetune::cnn! {
            $(#[$meta])*
            pub struct $name {
                input [49, 10, 1];
                conv2d(1, 64, (10, 4), stride = 2, padding = same), $c0;
                batch_norm(64), relu, $n0;
                conv2d(64, 64, 3, padding = same, groups = 64), $d1;
                batch_norm(64), relu, $e1;
                conv2d(64, 64, 1), $p1;
                batch_norm(64), relu, $q1;
                conv2d(64, 64, 3, padding = same, groups = 64), $d2;
                batch_norm(64), relu, $e2;
                conv2d(64, 64, 1), $p2;
                batch_norm(64), relu, $q2;
                conv2d(64, 64, 3, padding = same, groups = 64), $d3;
                batch_norm(64), relu, $e3;
                conv2d(64, 64, 1), $p3;
                batch_norm(64), relu, $q3;
                conv2d(64, 64, 3, padding = same, groups = 64), $d4;
                batch_norm(64), relu, $e4;
                conv2d(64, 64, 1), $p4;
                batch_norm(64), relu, $q4;
                avg_pool2d((25, 5));
                dense(64, 12), $dense;
                $(update $update;)?
                loss softmax_cross_entropy;
            }
        }
    };
}

ds_cnn! {
    /// Every layer trains.
    Full: train train | train train train train | train train train train
        | train train train train | train train train train | train
}
ds_cnn! {
    /// The dense layer only.
    LastLayer: frozen frozen | frozen frozen frozen frozen | frozen frozen frozen frozen
        | frozen frozen frozen frozen | frozen frozen frozen frozen | train
}
ds_cnn! {
    /// The last block and the dense layer.
    LastBlock: frozen frozen | frozen frozen frozen frozen | frozen frozen frozen frozen
        | frozen frozen frozen frozen | train train train train | train
}
ds_cnn! {
    /// The last two blocks and the dense layer.
    LastTwoBlocks: frozen frozen | frozen frozen frozen frozen | frozen frozen frozen frozen
        | train train train train | train train train train | train
}
ds_cnn! {
    /// Every bias (and batch-norm shift) trains.
    BiasOnly: bias bias | bias bias bias bias | bias bias bias bias
        | bias bias bias bias | bias bias bias bias | bias
}
ds_cnn! {
    /// Every batch norm's scale and shift train; nothing else.
    BnAffine: frozen train | frozen train frozen train | frozen train frozen train
        | frozen train frozen train | frozen train frozen train | frozen
}

ds_cnn! {
    /// Every layer trains. Fused update.
    FullFused: train train | train train train train | train train train train
        | train train train train | train train train train | train fused
}
ds_cnn! {
    /// The dense layer only. Fused update.
    LastLayerFused: frozen frozen | frozen frozen frozen frozen | frozen frozen frozen frozen
        | frozen frozen frozen frozen | frozen frozen frozen frozen | train fused
}
ds_cnn! {
    /// The last block and the dense layer. Fused update.
    LastBlockFused: frozen frozen | frozen frozen frozen frozen | frozen frozen frozen frozen
        | frozen frozen frozen frozen | train train train train | train fused
}
ds_cnn! {
    /// The last two blocks and the dense layer. Fused update.
    LastTwoBlocksFused: frozen frozen | frozen frozen frozen frozen | frozen frozen frozen frozen
        | train train train train | train train train train | train fused
}
ds_cnn! {
    /// Every bias (and batch-norm shift) trains. Fused update.
    BiasOnlyFused: bias bias | bias bias bias bias | bias bias bias bias
        | bias bias bias bias | bias bias bias bias | bias fused
}
ds_cnn! {
    /// Every batch norm's scale and shift train; nothing else. Fused update.
    BnAffineFused: frozen train | frozen train frozen train | frozen train frozen train
        | frozen train frozen train | frozen train frozen train | frozen fused
}

/// A sub-tensor sparse update in the manner of the Tiny Training Engine: every bias trains,
/// and in the last two blocks the pointwise convolutions also train the weights of their first
/// 16 of 64 output channels; the dense layer trains. Batch norms stay frozen.
macro_rules! sparse_tail {
    ($(#[$meta:meta])* $name:ident $($update:ident)?) => {
        edgetune::cnn! {
            $(#[$meta])*
            pub struct $name {
                input [49, 10, 1];
                conv2d(1, 64, (10, 4), stride = 2, padding = same), bias;
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 3, padding = same, groups = 64), bias;
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 1), bias;
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 3, padding = same, groups = 64), bias;
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 1), bias;
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 3, padding = same, groups = 64), bias;
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 1), train(16);
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 3, padding = same, groups = 64), bias;
                batch_norm(64), relu, frozen;
                conv2d(64, 64, 1), train(16);
                batch_norm(64), relu, frozen;
                avg_pool2d((25, 5));
                dense(64, 12);
                $(update $update;)?
                loss softmax_cross_entropy;
            }
        }
    };
}

sparse_tail! {
    /// The sparse scheme, ordinary update.
    SparseTail
}
sparse_tail! {
    /// The sparse scheme, fused update.
    SparseTailFused fused
}

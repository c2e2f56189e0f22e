//! The `cnn!` runtime (`run_forward`, `run_backward`, `run_backward_fused`) is public, so a
//! caller can hand it places and buffers that no declaration would produce. Whatever it gets,
//! it returns a value or an error: it never panics. Places are a real network's with random
//! fields overwritten (offsets, flags, shapes, layer kinds), buffers have random lengths.

use edgetune::nn::network::{
    run_backward, run_backward_fused, run_forward, Act, BackwardBuffers, Buffers, Dims, Kept,
    Layer, Mode, Place, Plan, Saved,
};
use proptest::prelude::*;

const LAYERS: [Layer; 7] = [
    Layer::conv1d(3, 6, 3).padding_same().act(Act::Relu),
    Layer::batch_norm(6).act(Act::Relu6).mode(Mode::Bias),
    Layer::pool1d(false, 2),
    Layer::conv1d(6, 8, 1).act(Act::Tanh),
    Layer::conv1d(8, 8, 3).groups(8).act(Act::LeakyRelu(0.1)),
    Layer::global_avg_pool(),
    Layer::dense(8, 3),
];
const PLAN: Plan<'static> = Plan {
    input: Dims::seq(12, 3),
    layers: &LAYERS,
};
const PLACES: [Place; 7] = PLAN.places::<7>();

fn layer_kind(k: u8) -> Layer {
    match k % 9 {
        0 => Layer::conv2d(2, 3, (2, 2)).stride(2),
        1 => Layer::batch_norm(5),
        2 => Layer::pool2d(true, (3, 1)),
        3 => Layer::global_avg_pool(),
        4 => Layer::flatten(),
        5 => Layer::dense(7, 2),
        6 => Layer::conv1d(8, 8, 3).groups(0),
        7 => Layer::batch_norm(4)
            .mode(Mode::Train)
            .act(Act::LeakyRelu(f64::NAN)),
        _ => Layer::conv1d(3, 6, 3).with(&[edgetune::nn::network::Opt::Channels(Mode::Train, 2)]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn corrupted_places_and_buffers_never_panic(
        edits in proptest::collection::vec((0usize..7, 0u8..12, 0usize..200, any::<bool>()), 0..6),
        wrong in proptest::collection::vec(proptest::option::weighted(0.15, 0usize..400), 10),
    ) {
        // Each buffer has its declared length unless the case gives it another one.
        let declared = [
            PLAN.frozen(), PLAN.trainable(), PLAN.trainable(), PLAN.inputs(), PLAN.kept(),
            PLAN.hidden_width(false), PLAN.hidden_width(true), PLAN.outputs(),
            PLAN.mask_words() * 8, PLAN.outputs(),
        ];
        let lens: Vec<usize> = declared.iter().zip(&wrong).map(|(d, w)| w.unwrap_or(*d)).collect();
        let mut places = PLACES;
        for (k, field, v, b) in edits {
            let p = &mut places[k];
            match field {
                0 => p.kept_at = v,
                1 => p.mask_at = v * 7,
                2 => p.trainable_at = v,
                3 => p.frozen_at = v,
                4 => p.keeps_input = b,
                5 => p.keeps_mask = b,
                6 => p.backward = b,
                7 => p.input_grad = b,
                8 => p.input = Dims::map(v % 5, v % 7, v % 9),
                9 => p.output = Dims::map(v % 3, v % 11, v % 4),
                10 => p.layer = layer_kind(v as u8),
                _ => p.layer.act = if b { Act::Sigmoid } else { Act::LeakyRelu(-1.0) },
            }
        }
        let v = |i: usize| vec![0.25f32; lens[i]];
        let (frozen, mut trainable, mut grads, x) = (v(0), v(1), v(2), v(3));
        let (mut kept, mut even, mut odd, mut out) = (v(4), v(5), v(6), v(7));
        let mut masks = vec![0u32; lens[8] / 8];
        let mut dlogits = v(9);
        let _ = run_forward(
            &places,
            &frozen,
            &trainable,
            &x,
            Buffers { even: &mut even, odd: &mut odd, out: &mut out },
            Some(Kept { values: &mut kept, masks: &mut masks }),
        );
        let _ = run_backward(
            &places,
            &frozen,
            &trainable,
            &mut grads,
            Saved { x: &x, values: &kept, masks: &masks },
            BackwardBuffers { even: &mut even, odd: &mut odd, dlogits: &mut dlogits },
        );
        let mut layer_grads = v(2);
        let _ = run_backward_fused(
            &places,
            &frozen,
            &mut trainable,
            &mut layer_grads,
            Saved { x: &x, values: &kept, masks: &masks },
            BackwardBuffers { even: &mut even, odd: &mut odd, dlogits: &mut dlogits },
            &mut |_: &Place, p: &mut [f32], g: &[f32]| {
                for (p, g) in p.iter_mut().zip(g) {
                    *p -= 0.1 * g;
                }
                Ok(())
            },
        );
    }
}

/// The uncorrupted places with buffers of the declared sizes run without error (the property
/// above is not vacuous: the same calls succeed when the inputs are consistent).
#[test]
fn consistent_places_run() {
    let n = |x: usize| vec![0.5f32; x];
    let (frozen, trainable) = (n(PLAN.frozen()), n(PLAN.trainable()));
    let mut grads = n(PLAN.trainable());
    let x = n(PLAN.inputs());
    let mut kept = n(PLAN.kept());
    let mut masks = vec![0u32; PLAN.mask_words()];
    let (mut even, mut odd, mut out) = (
        n(PLAN.hidden_width(false)),
        n(PLAN.hidden_width(true)),
        n(3),
    );
    let mut dlogits = vec![0.1f32, -0.2, 0.1];
    run_forward(
        &PLACES,
        &frozen,
        &trainable,
        &x,
        Buffers {
            even: &mut even,
            odd: &mut odd,
            out: &mut out,
        },
        Some(Kept {
            values: &mut kept,
            masks: &mut masks,
        }),
    )
    .unwrap();
    run_backward(
        &PLACES,
        &frozen,
        &trainable,
        &mut grads,
        Saved {
            x: &x,
            values: &kept,
            masks: &masks,
        },
        BackwardBuffers {
            even: &mut even,
            odd: &mut odd,
            dlogits: &mut dlogits,
        },
    )
    .unwrap();
    assert!(grads.iter().any(|&g| g != 0.0));
}

//! The f64 reference implementation (`edgetune::reference`) checked against numbers derived by hand from
//! the project's optimizer specification (torch.optim 2.15 semantics). Every expected value is written out as independent arithmetic (or a
//! literal) in the test, never obtained by running the reference a second time.

use edgetune::reference::*;

/// Relative closeness: the reference does only a handful of f64 operations per value, so 1e-12 relative is
/// far looser than its rounding yet far tighter than any of the mistakes tested for.
fn close(actual: f64, expected: f64) -> bool {
    actual == expected || (actual - expected).abs() <= 1e-12 * expected.abs()
}

#[track_caller]
fn assert_close(actual: f64, expected: f64) {
    assert!(
        close(actual, expected),
        "actual {actual:e}, expected {expected:e}"
    );
}

#[track_caller]
fn assert_all_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert_close(*a, *e);
    }
}

fn hyper(kind: Kind) -> Hyper {
    Hyper::defaults(kind)
}

/// `buf.as_deref()` of a buffer that must exist.
#[track_caller]
fn some(buf: &Option<Vec<f64>>) -> &[f64] {
    buf.as_deref().expect("buffer should exist")
}

// ---------------------------------------------------------------------------------------------------------
// Names and defaults
// ---------------------------------------------------------------------------------------------------------

#[test]
fn kind_names_round_trip_and_unknown_names_are_rejected() {
    let names = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "lion"];
    let kinds = [
        Kind::Sgd,
        Kind::Adam,
        Kind::AdamW,
        Kind::RmsProp,
        Kind::Adagrad,
        Kind::Lion,
    ];
    for (name, kind) in names.iter().zip(kinds) {
        assert_eq!(Kind::from_name(name), Some(kind));
        assert_eq!(kind.name(), *name);
    }
    assert_eq!(Kind::from_name("adamax"), None);
    assert_eq!(Kind::from_name(""), None);
}

#[test]
fn defaults_are_torch_keyword_defaults_and_adamw_decay_is_1e_2_while_adam_is_0() {
    let sgd = hyper(Kind::Sgd);
    assert_eq!(sgd.lr, 1e-3);
    assert_eq!(sgd.momentum, 0.0);
    assert_eq!(sgd.dampening, 0.0);
    assert_eq!(sgd.weight_decay, 0.0);
    assert!(!sgd.nesterov && !sgd.maximize);

    let adam = hyper(Kind::Adam);
    assert_eq!(
        (adam.lr, adam.betas, adam.eps, adam.weight_decay),
        (1e-3, (0.9, 0.999), 1e-8, 0.0)
    );
    assert!(!adam.amsgrad && !adam.maximize);

    let adamw = hyper(Kind::AdamW);
    assert_eq!(
        (adamw.lr, adamw.betas, adamw.eps, adamw.weight_decay),
        (1e-3, (0.9, 0.999), 1e-8, 1e-2)
    );
    assert!(!adamw.amsgrad);

    let rms = hyper(Kind::RmsProp);
    assert_eq!(
        (rms.lr, rms.alpha, rms.eps, rms.weight_decay, rms.momentum),
        (1e-2, 0.99, 1e-8, 0.0, 0.0)
    );
    assert!(!rms.centered);

    let ada = hyper(Kind::Adagrad);
    assert_eq!(
        (
            ada.lr,
            ada.lr_decay,
            ada.eps,
            ada.weight_decay,
            ada.initial_accumulator_value
        ),
        (1e-2, 0.0, 1e-10, 0.0, 0.0)
    );

    let lion = hyper(Kind::Lion);
    assert_eq!(
        (lion.lr, lion.betas, lion.weight_decay),
        (1e-4, (0.9, 0.99), 0.0)
    );
}

// ---------------------------------------------------------------------------------------------------------
// SGD
// ---------------------------------------------------------------------------------------------------------

#[test]
fn sgd_without_momentum_is_p_minus_lr_g_and_keeps_no_buffer() {
    let h = Hyper {
        lr: 0.1,
        ..hyper(Kind::Sgd)
    };
    let mut r = Reference::new(Kind::Sgd, h, 2);
    let mut p = [1.0, -2.0];
    r.step(&mut p, &[0.5, 0.25]).unwrap();
    // 1 - 0.1*0.5 = 0.95 ; -2 - 0.1*0.25 = -2.025
    assert_all_close(&p, &[0.95, -2.025]);
    assert!(r.momentum_buffer.is_none(), "momentum 0: state stays empty");
    assert_eq!(r.step, 1);
}

#[test]
fn sgd_first_momentum_step_sets_buffer_to_g_and_dampening_applies_from_step_two() {
    let h = Hyper {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.5,
        ..hyper(Kind::Sgd)
    };
    let mut r = Reference::new(Kind::Sgd, h, 1);
    assert!(r.momentum_buffer.is_none(), "created at the first step");
    let mut p = [1.0];

    // Step 1, g = 2: buf = copy(g) = 2 (NOT (1-0.5)*2 = 1); p = 1 - 0.1*2 = 0.8.
    r.step(&mut p, &[2.0]).unwrap();
    assert_eq!(some(&r.momentum_buffer), &[2.0]);
    assert_close(p[0], 0.8);

    // Step 2, g = 1: buf = 0.9*2 + (1-0.5)*1 = 2.3; p = 0.8 - 0.1*2.3 = 0.57.
    r.step(&mut p, &[1.0]).unwrap();
    assert_close(some(&r.momentum_buffer)[0], 2.3);
    assert_close(p[0], 0.57);
}

#[test]
fn sgd_nesterov_uses_the_just_updated_buffer() {
    let h = Hyper {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        ..hyper(Kind::Sgd)
    };
    let mut r = Reference::new(Kind::Sgd, h, 1);
    let mut p = [0.0];

    // Step 1, g = 1: buf = 1; g' = 1 + 0.9*1 = 1.9; p = -0.19.
    r.step(&mut p, &[1.0]).unwrap();
    assert_close(p[0], -0.19);
    // Step 2, g = 1: buf = 0.9*1 + 1 = 1.9; g' = 1 + 0.9*1.9 = 2.71; p = -0.19 - 0.271 = -0.461.
    // (With the OLD buf: g' = 1 + 0.9*1 = 1.9 and p would be -0.38.)
    r.step(&mut p, &[1.0]).unwrap();
    assert_close(some(&r.momentum_buffer)[0], 1.9);
    assert_close(p[0], -0.461);
}

#[test]
fn sgd_maximize_negates_the_gradient_before_l2_decay_is_added() {
    let h = Hyper {
        lr: 0.1,
        weight_decay: 0.1,
        maximize: true,
        ..hyper(Kind::Sgd)
    };
    let mut r = Reference::new(Kind::Sgd, h, 1);
    let mut p = [1.0];
    // g = -2 + 0.1*1 = -1.9; p = 1 + 0.19 = 1.19.  (Negating after the decay: g = -2.1, p = 1.21.)
    r.step(&mut p, &[2.0]).unwrap();
    assert_close(p[0], 1.19);
}

// ---------------------------------------------------------------------------------------------------------
// maximize + L2 decay (all optimizers with `maximize` and L2)
// ---------------------------------------------------------------------------------------------------------

#[test]
fn maximize_with_l2_decay_still_shrinks_abs_p() {
    for kind in [Kind::Sgd, Kind::Adam, Kind::RmsProp, Kind::Adagrad] {
        let h = Hyper {
            weight_decay: 0.1,
            maximize: true,
            ..hyper(kind)
        };
        let mut r = Reference::new(kind, h, 2);
        let mut p = [1.0, -1.0];
        // Zero gradient: g = -0 + 0.1*p = 0.1*p, so the step moves p towards 0 as plain L2 would.
        r.step(&mut p, &[0.0, 0.0]).unwrap();
        assert!(0.0 < p[0] && p[0] < 1.0, "{kind:?}: {p:?}");
        assert!(-1.0 < p[1] && p[1] < 0.0, "{kind:?}: {p:?}");
    }
    // SGD by hand: p = 1 - 1e-3 * (0.1 * 1) = 0.9999.
    let h = Hyper {
        weight_decay: 0.1,
        maximize: true,
        ..hyper(Kind::Sgd)
    };
    let mut r = Reference::new(Kind::Sgd, h, 1);
    let mut p = [1.0];
    r.step(&mut p, &[0.0]).unwrap();
    assert_close(p[0], 0.9999);
}

// ---------------------------------------------------------------------------------------------------------
// Adam
// ---------------------------------------------------------------------------------------------------------

#[test]
fn adam_state_is_created_lazily_and_max_exp_avg_sq_only_with_amsgrad() {
    let mut r = Reference::new(Kind::Adam, hyper(Kind::Adam), 2);
    assert!(r.exp_avg.is_none() && r.exp_avg_sq.is_none() && r.max_exp_avg_sq.is_none());
    r.step(&mut [0.0, 0.0], &[1.0, 2.0]).unwrap();
    // m = 0.1*g, v = 0.001*g^2 from zeros.
    assert_all_close(some(&r.exp_avg), &[0.1, 0.2]);
    assert_all_close(some(&r.exp_avg_sq), &[0.001, 0.004]);
    assert!(r.max_exp_avg_sq.is_none());
    assert!(r.momentum_buffer.is_none() && r.square_avg.is_none() && r.sum.is_none());

    let h = Hyper {
        amsgrad: true,
        ..hyper(Kind::Adam)
    };
    let mut r = Reference::new(Kind::Adam, h, 2);
    assert!(r.max_exp_avg_sq.is_none());
    r.step(&mut [0.0, 0.0], &[1.0, 2.0]).unwrap();
    assert_all_close(some(&r.max_exp_avg_sq), &[0.001, 0.004]);
}

#[test]
fn adam_first_step_moves_each_param_by_lr_g_over_abs_g_plus_eps() {
    // t = 1: m = (1-b1) g, v = (1-b2) g^2, bc1 = 1-b1, bc2 = 1-b2, so m/bc1 = g and sqrt(v)/sqrt(bc2) = |g|:
    //   p1 = p0 - lr * g / (|g| + eps)   -- about lr*sign(g) when |g| >> eps.
    let lr = 1e-3;
    let eps = 1e-8;
    let g = [0.5, -2.0, 1e-8, 0.0];
    let mut r = Reference::new(Kind::Adam, hyper(Kind::Adam), 4);
    let mut p = [0.0; 4];
    r.step(&mut p, &g).unwrap();
    let expected = [
        -lr * 0.5 / (0.5 + eps),   // -9.99999980e-4
        -lr * -2.0 / (2.0 + eps),  // +9.99999995e-4
        -lr * 1e-8 / (1e-8 + eps), // -5e-4: g comparable to eps halves the step
        0.0,                       // 0 / (0 + eps)
    ];
    assert_all_close(&p, &expected);
    assert_close(p[2], -5e-4);
    assert!((p[0] + lr).abs() < 1e-7 * lr, "about lr*sign(g)");
    assert!((p[1] - lr).abs() < 1e-7 * lr, "about lr*sign(g)");
}

#[test]
fn adam_eps_is_added_after_the_bias_corrected_sqrt_not_the_efficient_form() {
    let lr = 1e-3;
    let eps = 1e-8;
    let g = 1e-6;
    let mut r = Reference::new(Kind::Adam, hyper(Kind::Adam), 1);
    let mut p = [0.0];
    r.step(&mut p, &[g]).unwrap();

    // Algorithm 1 (torch): p = -lr * g / (g + eps) = -1e-3 * 1e-6 / 1.01e-6 = -9.900990099e-4.
    let algorithm_1 = -lr * g / (g + eps);
    assert_close(p[0], algorithm_1);
    assert_close(p[0], -1e-3 / 1.01);

    // "Efficient" form: alpha_t = lr*sqrt(1-b2)/(1-b1), p = -alpha_t * m / (sqrt(v) + eps) with
    // m = 0.1 g, sqrt(v) = sqrt(0.001) g  =>  p = -lr * g / (g + eps/sqrt(0.001)) = -7.597e-4.
    let efficient = -(lr * 0.001f64.sqrt() / 0.1) * (0.1 * g) / (0.001f64.sqrt() * g + eps);
    assert_close(efficient, -lr * g / (g + eps / 0.001f64.sqrt()));
    assert!((p[0] - efficient).abs() > 2e-4, "{} vs {}", p[0], efficient);
}

#[test]
fn adam_eps_zero_is_refused_where_torch_would_give_nan() {
    // Spec, validation: torch accepts Adam(eps=0), and with grad [0,1,-2] (lr 0.1, p 0) gives
    // [nan, -0.1, 0.1]. The generic optimizers refuse eps = 0 (`eps` must be > 0), and the reference
    // validates exactly as they do, so the step is an error and nothing changes.
    let h = Hyper {
        lr: 0.1,
        eps: 0.0,
        ..hyper(Kind::Adam)
    };
    let mut r = Reference::new(Kind::Adam, h, 3);
    let mut p = [0.0; 3];
    assert_eq!(
        r.step(&mut p, &[0.0, 1.0, -2.0]),
        Err(RefError::InvalidHyperparameter {
            name: "eps",
            requirement: "finite and > 0"
        })
    );
    assert_eq!(p, [0.0; 3]);
    assert_eq!(r.step, 0);
    assert!(r.exp_avg.is_none());
    // The smallest positive eps is accepted, and the all-zero element then moves by 0/eps = 0, not NaN.
    r.hyper.eps = f64::MIN_POSITIVE;
    r.step(&mut p, &[0.0, 1.0, -2.0]).unwrap();
    assert_eq!(p[0], 0.0);
    assert_close(p[1], -0.1);
    assert_close(p[2], 0.1);
}

#[test]
fn adam_l2_weight_decay_goes_into_the_moments() {
    let h = Hyper {
        lr: 0.1,
        weight_decay: 0.5,
        ..hyper(Kind::Adam)
    };
    let mut r = Reference::new(Kind::Adam, h, 1);
    let mut p = [2.0];
    r.step(&mut p, &[1.0]).unwrap();
    // g = 1 + 0.5*2 = 2: m = 0.2, v = 0.004; p = 2 - 0.1 * 2/(2 + 1e-8).
    assert_close(some(&r.exp_avg)[0], 0.2);
    assert_close(some(&r.exp_avg_sq)[0], 0.004);
    assert_close(p[0], 2.0 - 0.1 * 2.0 / (2.0 + 1e-8));
}

#[test]
fn adam_maximize_moves_params_up_the_gradient() {
    let h = Hyper {
        maximize: true,
        ..hyper(Kind::Adam)
    };
    let mut r = Reference::new(Kind::Adam, h, 1);
    let mut p = [0.0];
    r.step(&mut p, &[0.5]).unwrap();
    // g = -0.5: p = +1e-3 * 0.5 / (0.5 + 1e-8).
    assert_close(p[0], 1e-3 * 0.5 / (0.5 + 1e-8));
    assert_close(some(&r.exp_avg)[0], -0.05);
}

#[test]
fn amsgrad_takes_the_max_of_raw_v_and_divides_by_the_current_sqrt_bc2() {
    // lr 0.1, b1 0.9, b2 0.5, eps 1e-8; grads 1 then 0 (shrinking).
    let h = Hyper {
        lr: 0.1,
        betas: (0.9, 0.5),
        amsgrad: true,
        ..hyper(Kind::Adam)
    };
    let mut r = Reference::new(Kind::Adam, h, 1);
    let mut p = [0.0];

    // t=1, g=1: m = 0.1, v = 0.5, vmax = 0.5, bc1 = 0.1, bc2 = 0.5.
    //   p1 = -0.1 * (0.1/0.1) / (sqrt(0.5)/sqrt(0.5) + 1e-8) = -0.1/(1 + 1e-8).
    r.step(&mut p, &[1.0]).unwrap();
    let p1 = -0.1 / (1.0 + 1e-8);
    assert_close(p[0], p1);

    // t=2, g=0: m = 0.09, v = 0.25 (raw v shrank), vmax = max(0.5, 0.25) = 0.5, bc1 = 1-0.81 = 0.19,
    //   bc2 = 1-0.25 = 0.75.  denom = sqrt(0.5)/sqrt(0.75) + eps = sqrt(2/3) + eps.
    //   p2 = p1 - 0.1 * (0.09/0.19) / (sqrt(2/3) + 1e-8) = -0.15801422904.
    r.step(&mut p, &[0.0]).unwrap();
    let p2 = p1 - 0.1 * (0.09 / 0.19) / ((2.0f64 / 3.0).sqrt() + 1e-8);
    assert_close(p[0], p2);
    assert!((p[0] - -0.158_014_229_04).abs() < 1e-10);
    assert_close(some(&r.exp_avg_sq)[0], 0.25);
    assert_close(some(&r.max_exp_avg_sq)[0], 0.5);

    // Not the bias-corrected form max(v̂1 = 1, v̂2 = 1/3) = 1 -> p2 = p1 - 0.1*(0.09/0.19)/(1 + eps) = -0.1474,
    // and not plain Adam sqrt(0.25/0.75) -> p2 = -0.1820.
    let vhat_form = p1 - 0.1 * (0.09 / 0.19) / (1.0 + 1e-8);
    let no_amsgrad = p1 - 0.1 * (0.09 / 0.19) / ((1.0f64 / 3.0).sqrt() + 1e-8);
    assert!((p[0] - vhat_form).abs() > 1e-2);
    assert!((p[0] - no_amsgrad).abs() > 1e-2);
}

#[test]
fn amsgrad_max_propagates_nan_like_torch_maximum() {
    // torch.maximum returns NaN if either side is NaN (f64::max would keep the old finite 0.001).
    let h = Hyper {
        amsgrad: true,
        ..hyper(Kind::Adam)
    };
    let mut r = Reference::new(Kind::Adam, h, 1);
    let mut p = [0.0];
    r.step(&mut p, &[1.0]).unwrap();
    assert_close(some(&r.max_exp_avg_sq)[0], 0.001);
    // A NaN gradient is refused (as the generic optimizers refuse it), so the NaN comes in through the
    // state, which a caller may set: v = NaN after this step, and the max must keep it.
    r.exp_avg_sq = Some(vec![f64::NAN]);
    r.step(&mut p, &[1.0]).unwrap();
    assert!(some(&r.max_exp_avg_sq)[0].is_nan());
}

// ---------------------------------------------------------------------------------------------------------
// AdamW
// ---------------------------------------------------------------------------------------------------------

#[test]
fn adamw_decays_p_by_one_minus_lr_wd_before_the_update_and_keeps_wd_out_of_the_moments() {
    let h = Hyper {
        lr: 0.1,
        weight_decay: 0.5,
        ..hyper(Kind::AdamW)
    };
    let mut r = Reference::new(Kind::AdamW, h, 1);
    let mut p = [2.0];
    r.step(&mut p, &[1.0]).unwrap();
    // p = 2*(1 - 0.1*0.5) - 0.1 * 1/(1 + 1e-8) = 1.9 - 0.0999999990 = 1.800000001.
    // (Decay after the update: (2 - 0.1)*0.95 = 1.805; Adam's L2 form: 2 - 0.1*2/(2+eps) = 1.9.)
    assert_close(p[0], 2.0 * 0.95 - 0.1 / (1.0 + 1e-8));
    assert_close(some(&r.exp_avg)[0], 0.1);
    assert_close(some(&r.exp_avg_sq)[0], 0.001);
}

#[test]
fn adamw_with_default_wd_and_zero_gradient_only_decays() {
    // Default lr 1e-3, wd 1e-2: p = 1 * (1 - 1e-5); the Adam part is 0/(0 + eps) = 0.
    let mut r = Reference::new(Kind::AdamW, hyper(Kind::AdamW), 2);
    let mut p = [1.0, -4.0];
    r.step(&mut p, &[0.0, 0.0]).unwrap();
    assert_all_close(&p, &[0.99999, -3.99996]);
}

#[test]
fn adamw_maximize_negates_the_gradient_but_not_the_decay() {
    let h = Hyper {
        lr: 0.1,
        weight_decay: 0.5,
        maximize: true,
        ..hyper(Kind::AdamW)
    };
    let mut r = Reference::new(Kind::AdamW, h, 2);
    let mut p = [2.0, 3.0];
    r.step(&mut p, &[1.0, 0.0]).unwrap();
    // p0 = 2*0.95 + 0.1/(1 + 1e-8) ; p1 = 3*0.95 = 2.85.
    assert_all_close(&p, &[1.9 + 0.1 / (1.0 + 1e-8), 2.85]);
}

// ---------------------------------------------------------------------------------------------------------
// RMSprop
// ---------------------------------------------------------------------------------------------------------

#[test]
fn rmsprop_plain_step_puts_eps_outside_the_sqrt_and_keeps_only_square_avg() {
    // Defaults lr 1e-2, alpha 0.99, eps 1e-8; p 0; g = [1, 1e-8].
    let mut r = Reference::new(Kind::RmsProp, hyper(Kind::RmsProp), 2);
    let mut p = [0.0, 0.0];
    r.step(&mut p, &[1.0, 1e-8]).unwrap();
    // v = 0.01 g^2.  g=1: avg = 0.1 + 1e-8, p = -0.01/(0.1 + 1e-8).
    //   g=1e-8: v = 1e-18, avg = 1e-9 + 1e-8 = 1.1e-8, p = -0.01 * 1e-8/1.1e-8 = -0.0090909.
    //   (eps inside the sqrt, TensorFlow style: sqrt(1e-18 + 1e-8) ~ 1e-4 and p would be ~ -1e-6.)
    assert_all_close(&p, &[-0.01 / (0.1 + 1e-8), -0.01 * 1e-8 / 1.1e-8]);
    assert!((p[1] - -0.01 / 1.1).abs() < 1e-12);
    assert_all_close(some(&r.square_avg), &[0.01, 1e-18]);
    assert!(r.momentum_buffer.is_none() && r.grad_avg.is_none());
}

#[test]
fn rmsprop_centered_subtracts_the_squared_grad_average_inside_the_sqrt() {
    let h = Hyper {
        centered: true,
        ..hyper(Kind::RmsProp)
    };
    let mut r = Reference::new(Kind::RmsProp, h, 1);
    let mut p = [0.0];
    r.step(&mut p, &[1.0]).unwrap();
    // v = 0.01, gbar = 0.01, avg = sqrt(0.01 - 0.0001) + 1e-8 = sqrt(0.0099) + 1e-8;
    // p = -0.01/avg = -0.100503771.
    assert_close(p[0], -0.01 / (0.0099f64.sqrt() + 1e-8));
    assert!((p[0] - -0.100_503_771_4).abs() < 1e-10);
    assert_close(some(&r.grad_avg)[0], 0.01);
    assert_close(some(&r.square_avg)[0], 0.01);
    assert!(r.momentum_buffer.is_none());
}

#[test]
fn rmsprop_momentum_buffer_starts_at_zero_and_lr_stays_outside_it() {
    let h = Hyper {
        momentum: 0.5,
        ..hyper(Kind::RmsProp)
    };
    let mut r = Reference::new(Kind::RmsProp, h, 1);
    let mut p = [0.0];

    // Step 1, g=1: v = 0.01, avg = 0.1 + 1e-8, buf = 0.5*0 + 1/avg = 9.999999, p = -0.01*buf.
    r.step(&mut p, &[1.0]).unwrap();
    let buf1 = 1.0 / (0.1 + 1e-8);
    let p1 = -0.01 * buf1;
    assert_close(some(&r.momentum_buffer)[0], buf1);
    assert_close(p[0], p1);

    // Step 2, g=1: v = 0.99*0.01 + 0.01 = 0.0199, buf = 0.5*buf1 + 1/(sqrt(0.0199) + 1e-8) = 12.0888110,
    // p = p1 - 0.01*buf = -0.2208881005.
    r.step(&mut p, &[1.0]).unwrap();
    let buf2 = 0.5 * buf1 + 1.0 / (0.0199f64.sqrt() + 1e-8);
    assert_close(some(&r.square_avg)[0], 0.0199);
    assert_close(some(&r.momentum_buffer)[0], buf2);
    assert_close(p[0], p1 - 0.01 * buf2);
    assert!((p[0] - -0.220_888_100_5).abs() < 1e-9);
}

#[test]
fn rmsprop_maximize_flips_the_step() {
    let h = Hyper {
        maximize: true,
        ..hyper(Kind::RmsProp)
    };
    let mut r = Reference::new(Kind::RmsProp, h, 1);
    let mut p = [0.0];
    r.step(&mut p, &[1.0]).unwrap();
    assert_close(p[0], 0.01 / (0.1 + 1e-8));
}

// ---------------------------------------------------------------------------------------------------------
// Adagrad
// ---------------------------------------------------------------------------------------------------------

#[test]
fn adagrad_sum_is_created_by_new_filled_with_initial_accumulator_value() {
    let h = Hyper {
        initial_accumulator_value: 0.25,
        ..hyper(Kind::Adagrad)
    };
    let r = Reference::new(Kind::Adagrad, h, 3);
    assert_eq!(some(&r.sum), &[0.25, 0.25, 0.25]);
    assert_eq!(r.step, 0);
    // No other optimizer creates state in `new`.
    for kind in [
        Kind::Sgd,
        Kind::Adam,
        Kind::AdamW,
        Kind::RmsProp,
        Kind::Lion,
    ] {
        let r = Reference::new(kind, hyper(kind), 3);
        assert!(r.sum.is_none() && r.exp_avg.is_none() && r.square_avg.is_none());
    }
}

#[test]
fn adagrad_lr_decay_uses_t_minus_one_and_the_initial_accumulator() {
    let h = Hyper {
        lr: 0.1,
        lr_decay: 0.5,
        initial_accumulator_value: 1.0,
        ..hyper(Kind::Adagrad)
    };
    let mut r = Reference::new(Kind::Adagrad, h, 1);
    let mut p = [0.0];

    // Step 1: clr = 0.1/(1 + 0*0.5) = 0.1 (full lr); sum = 1 + 1 = 2; p = -0.1/(sqrt 2 + 1e-10) = -0.0707107.
    r.step(&mut p, &[1.0]).unwrap();
    let p1 = -0.1 / (2.0f64.sqrt() + 1e-10);
    assert_close(p[0], p1);
    assert_eq!(some(&r.sum), &[2.0]);

    // Step 2: clr = 0.1/(1 + 1*0.5) = 0.0666667; sum = 3; p = p1 - clr/(sqrt 3 + 1e-10) = -0.1092008.
    r.step(&mut p, &[1.0]).unwrap();
    assert_close(p[0], p1 - (0.1 / 1.5) / (3.0f64.sqrt() + 1e-10));
    assert!((p[0] - -0.109_200_696_0).abs() < 1e-9);
    assert_eq!(some(&r.sum), &[3.0]);
}

#[test]
fn adagrad_zero_gradient_with_zero_accumulator_gives_zero_update() {
    let mut r = Reference::new(Kind::Adagrad, hyper(Kind::Adagrad), 2);
    let mut p = [1.5, -0.5];
    r.step(&mut p, &[0.0, 2.0]).unwrap();
    // 0/(0 + 1e-10) = 0 ; second: sum = 4, p = -0.5 - 0.01 * 2/(2 + 1e-10).
    assert_eq!(p[0], 1.5);
    assert_close(p[1], -0.5 - 0.01 * 2.0 / (2.0 + 1e-10));
}

// ---------------------------------------------------------------------------------------------------------
// Lion
// ---------------------------------------------------------------------------------------------------------

#[test]
fn lion_sign_of_zero_is_zero_so_zero_gradient_and_zero_m_only_decay() {
    let h = Hyper {
        lr: 0.1,
        weight_decay: 0.5,
        ..hyper(Kind::Lion)
    };
    let mut r = Reference::new(Kind::Lion, h, 2);
    let mut p = [2.0, -3.0];
    r.step(&mut p, &[0.0, -0.0]).unwrap();
    // c = 0.9*0 + 0.1*(±0) = 0 -> sign 0; p = p*(1 - 0.05) only (signum would have moved it by 0.1).
    assert_eq!(p, [2.0 * 0.95, -3.0 * 0.95]);

    // c = -0.0 exactly (m = -0.0, g = -0.0): sign(-0.0) = 0 as well.
    let h = Hyper {
        lr: 0.1,
        ..hyper(Kind::Lion)
    };
    let mut r = Reference::new(Kind::Lion, h, 1);
    r.exp_avg = Some(vec![-0.0]);
    let c = r.lion_c(&[-0.0]).unwrap();
    assert!(c[0] == 0.0 && c[0].is_sign_negative(), "c = {:?}", c);
    let mut p = [1.0];
    r.step(&mut p, &[-0.0]).unwrap();
    assert_eq!(p, [1.0]);
}

#[test]
fn lion_first_step_moves_by_exactly_lr_times_sign_of_g() {
    let mut r = Reference::new(Kind::Lion, hyper(Kind::Lion), 3);
    let mut p = [0.5, 0.5, 0.5];
    r.step(&mut p, &[0.3, -1e-20, 7.0]).unwrap();
    // m = 0: c = 0.1 g, sign(c) = sign(g); default lr 1e-4, wd 0.
    assert_all_close(&p, &[0.5 - 1e-4, 0.5 + 1e-4, 0.5 - 1e-4]);
    // m after the step: 0.01 g.
    assert_all_close(some(&r.exp_avg), &[0.003, -1e-22, 0.07]);
}

#[test]
fn lion_decays_p_by_one_minus_lr_wd_before_the_sign_step() {
    let h = Hyper {
        lr: 0.1,
        weight_decay: 0.5,
        ..hyper(Kind::Lion)
    };
    let mut r = Reference::new(Kind::Lion, h, 1);
    let mut p = [2.0];
    r.step(&mut p, &[1.0]).unwrap();
    // p = 2*(1 - 0.05) - 0.1*sign(0.1) = 1.8.  (Decaying after the step: (2 - 0.1)*0.95 = 1.805.)
    assert_close(p[0], 1.8);
}

#[test]
fn lion_update_uses_beta1_and_momentum_ema_uses_beta2() {
    // b1 0.9, b2 0.99, lr 0.5, wd 0.
    let h = Hyper {
        lr: 0.5,
        ..hyper(Kind::Lion)
    };
    let mut r = Reference::new(Kind::Lion, h, 1);
    let mut p = [0.0];

    // Step 1, g = 1: c = 0.1 > 0 -> p = -0.5; m = 0.99*0 + 0.01*1 = 0.01.
    r.step(&mut p, &[1.0]).unwrap();
    assert_eq!(p, [-0.5]);
    assert_close(some(&r.exp_avg)[0], 0.01);

    // Step 2, g = -0.1: c = 0.9*0.01 + 0.1*(-0.1) = -0.001 < 0 -> p = -0.5 + 0.5 = 0.
    // With b1 and b2 swapped: m = 0.1 after step 1, c = 0.99*0.1 + 0.01*(-0.1) = 0.098 > 0 -> p = -1.
    let c = r.lion_c(&[-0.1]).unwrap();
    assert!((c[0] - -0.001).abs() < 1e-15);
    r.step(&mut p, &[-0.1]).unwrap();
    assert_eq!(p, [0.0]);
    // m = 0.99*0.01 + 0.01*(-0.1) = 0.0089.
    assert_close(some(&r.exp_avg)[0], 0.0089);
}

#[test]
fn lion_momentum_is_updated_after_the_parameter_step() {
    let h = Hyper {
        lr: 0.5,
        ..hyper(Kind::Lion)
    };
    let mut r = Reference::new(Kind::Lion, h, 1);
    let mut p = [0.0];
    r.step(&mut p, &[1.0]).unwrap(); // p = -0.5, m = 0.01

    // Step 2, g = -0.085: old m gives c = 0.009 - 0.0085 = +0.0005 -> p = -0.5 - 0.5 = -1.
    // Updating m first would give m' = 0.0099 - 0.00085 = 0.00905, c' = 0.008145 - 0.0085 = -0.000355
    // and p = 0.
    r.step(&mut p, &[-0.085]).unwrap();
    assert_eq!(p, [-1.0]);
    assert_close(some(&r.exp_avg)[0], 0.00905);
}

#[test]
fn lion_ignores_maximize() {
    let h = Hyper {
        maximize: true,
        ..hyper(Kind::Lion)
    };
    let mut r = Reference::new(Kind::Lion, h, 1);
    let mut p = [0.0];
    r.step(&mut p, &[1.0]).unwrap();
    assert_eq!(p, [-1e-4]);
}

#[test]
fn lion_c_is_the_next_interpolation_and_changes_no_state() {
    let h = Hyper {
        lr: 0.1,
        ..hyper(Kind::Lion)
    };
    let mut r = Reference::new(Kind::Lion, h, 2);
    // Before any step m = 0: c = 0.1 g.
    assert_all_close(&r.lion_c(&[1.0, -2.0]).unwrap(), &[0.1, -0.2]);
    assert!(r.exp_avg.is_none(), "lion_c must not create state");

    r.step(&mut [0.0, 0.0], &[1.0, -2.0]).unwrap(); // m = [0.01, -0.02]
    let before = format!("{r:?}");
    // c = 0.9*m + 0.1*g with g = [0.5, 0.5]: [0.009 + 0.05, -0.018 + 0.05] = [0.059, 0.032].
    assert_all_close(&r.lion_c(&[0.5, 0.5]).unwrap(), &[0.059, 0.032]);
    assert_eq!(format!("{r:?}"), before);

    // Wrong length or another optimizer: None.
    assert_eq!(r.lion_c(&[1.0]), None);
    let adam = Reference::new(Kind::Adam, hyper(Kind::Adam), 2);
    assert_eq!(adam.lion_c(&[1.0, 2.0]), None);
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

#[test]
fn length_mismatch_returns_the_error_and_changes_nothing() {
    for kind in Kind::ALL {
        // Every buffer enabled, and one good step so that the state exists.
        let h = Hyper {
            momentum: 0.9,
            amsgrad: true,
            centered: true,
            weight_decay: 0.1,
            ..hyper(kind)
        };
        let mut r = Reference::new(kind, h, 3);
        let mut p = [1.0, -2.0, 3.0];
        r.step(&mut p, &[0.1, 0.2, -0.3]).unwrap();
        let state_before = format!("{r:?}");
        let p_before = p;

        // Parameters too long.
        let mut p_long = [1.0, -2.0, 3.0, 4.0];
        assert_eq!(
            r.step(&mut p_long, &[0.1, 0.2, 0.3]),
            Err(RefError::LengthMismatch {
                expected: 3,
                found: 4
            }),
            "{kind:?}"
        );
        assert_eq!(p_long, [1.0, -2.0, 3.0, 4.0]);

        // Gradients too short.
        assert_eq!(
            r.step(&mut p, &[0.1, 0.2]),
            Err(RefError::LengthMismatch {
                expected: 3,
                found: 2
            }),
            "{kind:?}"
        );
        assert_eq!(p, p_before);
        assert_eq!(format!("{r:?}"), state_before, "{kind:?}: state changed");
        assert_eq!(r.step, 1);
    }
}

#[test]
fn a_caller_set_buffer_of_the_wrong_length_is_an_error_not_a_panic() {
    let mut r = Reference::new(Kind::Adam, hyper(Kind::Adam), 2);
    r.exp_avg = Some(vec![0.0; 5]);
    let mut p = [1.0, 2.0];
    assert_eq!(
        r.step(&mut p, &[0.1, 0.2]),
        Err(RefError::LengthMismatch {
            expected: 2,
            found: 5
        })
    );
    assert_eq!(p, [1.0, 2.0]);
    assert_eq!(r.step, 0);
}

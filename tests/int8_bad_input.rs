//! Bad input to the int8 layers: every refusal is a typed error and writes nothing.

use edgetune::nn::int8::{
    activation_range, avg_pool, conv2d, depthwise, dequantize, from_scales_into, fully_connected,
    max_pool, quantize, ConvShape, DenseShape, FusedActivation, OutputStage, QuantParams, Requant,
    Requantizer,
};
use edgetune::nn::{Conv2dShape, NnError, Padding, Pool2dShape};
use edgetune::Error;

const BAD_SHAPE: Error = Error::Nn(NnError::InvalidShape);
const BAD_Q: Error = Error::Nn(NnError::InvalidQuantization);
const S: ConvShape = ConvShape::new(Conv2dShape::new(3, 3, 2, 4, 2, 2));
const MUL: [i32; 1] = [1 << 30];
const SHIFT: [i32; 1] = [0];

fn stage() -> OutputStage<'static> {
    OutputStage {
        input_zero_point: 0,
        requant: Requant::new(&MUL, &SHIFT).unwrap(),
        output_zero_point: 0,
        act_min: -128,
        act_max: 127,
    }
}

fn len(expected: usize, found: usize) -> Error {
    Error::LengthMismatch { expected, found }
}

#[test]
fn conv_refuses_bad_shapes_lengths_and_stages_without_writing() {
    let (w, b, x) = ([1i8; 32], [0i32; 4], [1i8; 18]);
    let mut y = [7i8; 16];
    let call = conv2d::forward;
    assert_eq!(
        call(&S, &stage(), &w[1..], Some(&b), &x, &mut y),
        Err(len(32, 31))
    );
    assert_eq!(
        call(&S, &stage(), &w, Some(&b[1..]), &x, &mut y),
        Err(len(4, 3))
    );
    assert_eq!(
        call(&S, &stage(), &w, Some(&b), &x[1..], &mut y),
        Err(len(18, 17))
    );
    assert_eq!(
        call(&S, &stage(), &w, Some(&b), &x, &mut y[1..]),
        Err(len(16, 15))
    );
    assert_eq!(
        call(&S.dilation(0, 1), &stage(), &w, None, &x, &mut y),
        Err(BAD_SHAPE)
    );
    assert_eq!(
        call(&S.dilation(3, 1), &stage(), &w, None, &x, &mut y),
        Err(BAD_SHAPE),
        "span 4 > 3"
    );
    let zero_kernel = ConvShape::new(Conv2dShape::new(3, 3, 2, 4, 0, 2));
    assert_eq!(
        call(&zero_kernel, &stage(), &w, None, &x, &mut y),
        Err(BAD_SHAPE)
    );
    let mut st = stage();
    st.input_zero_point = 128;
    assert_eq!(call(&S, &st, &w, None, &x, &mut y), Err(BAD_Q));
    let mut st = stage();
    (st.act_min, st.act_max) = (5, 4);
    assert_eq!(call(&S, &st, &w, None, &x, &mut y), Err(BAD_Q));
    // A requantiser of 2 channels for 4 outputs.
    let (m2, s2) = ([1 << 30; 2], [0; 2]);
    let mut st = stage();
    st.requant = Requant::new(&m2, &s2).unwrap();
    assert_eq!(call(&S, &st, &w, None, &x, &mut y), Err(len(4, 2)));
    assert!(y.iter().all(|&v| v == 7), "nothing written");
    // And it works with the right arguments.
    call(&S, &stage(), &w, Some(&b), &x, &mut y).unwrap();
    assert_eq!(y[0], 4); // 8 taps of 1·1, times 0.5
}

#[test]
fn depthwise_needs_groups_equal_to_input_channels() {
    let s = ConvShape::new(Conv2dShape::new(3, 3, 2, 4, 2, 2).groups(2));
    let (w, x) = ([1i8; 16], [1i8; 18]);
    let mut y = [7i8; 16];
    assert_eq!(
        depthwise::forward(&S, &stage(), &w, None, &x, &mut y),
        Err(BAD_SHAPE)
    );
    assert_eq!(
        depthwise::forward(&s, &stage(), &w[..15], None, &x, &mut y),
        Err(len(16, 15))
    );
    assert!(y.iter().all(|&v| v == 7));
    depthwise::forward(&s, &stage(), &w, None, &x, &mut y).unwrap();
    assert_eq!(y[0], 2);
}

#[test]
fn dense_and_pools_refuse_bad_arguments() {
    let mut y = [7i8; 3];
    let d = DenseShape::new(2, 3);
    assert_eq!(
        fully_connected::forward(&DenseShape::new(0, 3), &stage(), &[], None, &[], &mut y),
        Err(BAD_SHAPE)
    );
    assert_eq!(
        fully_connected::forward(
            &DenseShape::new(usize::MAX, 2),
            &stage(),
            &[],
            None,
            &[],
            &mut y
        ),
        Err(BAD_SHAPE)
    );
    assert_eq!(
        fully_connected::forward(&d, &stage(), &[1; 5], None, &[1; 2], &mut y),
        Err(len(6, 5))
    );
    assert_eq!(
        fully_connected::forward(&d, &stage(), &[1; 6], None, &[1; 3], &mut y),
        Err(len(2, 3))
    );
    let p = Pool2dShape::new(2, 2, 1, 2, 2);
    let mut z = [7i8; 1];
    assert_eq!(avg_pool::forward(&p, (1, 0), &[1; 4], &mut z), Err(BAD_Q));
    assert_eq!(
        max_pool::forward(&p, (0, 1), &[1; 3], &mut z),
        Err(len(4, 3))
    );
    let too_padded = p.pad(Padding::symmetric(2), Padding::NONE);
    assert_eq!(
        max_pool::forward(&too_padded, (0, 1), &[1; 4], &mut z),
        Err(BAD_SHAPE)
    );
    assert_eq!((y, z), ([7; 3], [7]), "nothing written");
}

#[test]
fn scales_must_be_finite_and_positive() {
    for bad in [0.0f32, -1.0, f32::NAN, f32::INFINITY, -0.0] {
        assert_eq!(QuantParams::new(bad, 0), Err(BAD_Q), "{bad}");
        assert_eq!(Requantizer::<1>::from_scales(bad, &[0.1], 0.1), Err(BAD_Q));
        assert_eq!(Requantizer::<1>::from_scales(0.1, &[bad], 0.1), Err(BAD_Q));
        assert_eq!(Requantizer::<1>::from_scales(0.1, &[0.1], bad), Err(BAD_Q));
    }
    assert_eq!(QuantParams::new(0.1, 128), Err(BAD_Q));
    assert_eq!(QuantParams::new(0.1, -129), Err(BAD_Q));
    // A multiplier of 2^31 or more cannot be represented.
    assert_eq!(
        Requantizer::<1>::from_scales(1e20, &[1.0], 1e-20),
        Err(BAD_Q)
    );
    let (mut m, mut s) = ([5; 2], [5; 2]);
    assert_eq!(
        from_scales_into(0.1, &[0.1, f32::NAN], 0.1, &mut m, &mut s),
        Err(BAD_Q)
    );
    assert_eq!(
        from_scales_into(0.1, &[0.1], 0.1, &mut m, &mut s),
        Err(len(1, 2))
    );
    assert_eq!((m, s), ([5; 2], [5; 2]), "nothing written");
    assert_eq!(Requant::new(&[-1], &[0]), Err(BAD_Q));
    assert_eq!(Requant::new(&[1], &[32]), Err(BAD_Q));
    assert_eq!(Requant::new(&[], &[]), Err(len(1, 0)));
    assert_eq!(Requant::new(&[1, 2], &[0]), Err(len(2, 1)));
}

#[test]
fn activation_ranges_follow_tflite_and_refuse_empty_ones() {
    let q = QuantParams::new(0.1, 10).unwrap();
    assert_eq!(activation_range(FusedActivation::Relu, &q), Ok((10, 127)));
    assert_eq!(activation_range(FusedActivation::Relu6, &q), Ok((10, 70)));
    assert_eq!(
        activation_range(FusedActivation::ReluN1To1, &q),
        Ok((0, 20))
    );
    // 1 / 0.4 is 2.5 exactly in f32 (2.4999999627 in f64) and rounds away from zero: TFLite
    // divides in float.
    let h = QuantParams::new(0.4, 0).unwrap();
    assert_eq!(
        activation_range(FusedActivation::ReluN1To1, &h),
        Ok((-3, 3))
    );
    // Real 0 above int8's range: every ReLU output would be clamped to one value.
    let low = QuantParams {
        scale: 1e-3,
        zero_point: 100,
    };
    assert_eq!(
        activation_range(FusedActivation::Relu6, &low),
        Ok((100, 127))
    );
    let tiny = QuantParams {
        scale: 1e-3,
        zero_point: -128,
    };
    assert_eq!(
        activation_range(FusedActivation::ReluN1To1, &tiny),
        Ok((-128, 127))
    );
    // 6 / 1e-38 leaves i32: TFLite refuses it too.
    let huge = QuantParams {
        scale: 1e-38,
        zero_point: 0,
    };
    assert_eq!(activation_range(FusedActivation::Relu6, &huge), Err(BAD_Q));
    assert_eq!(
        activation_range(
            FusedActivation::None,
            &QuantParams {
                scale: 0.0,
                zero_point: 0
            }
        ),
        Err(BAD_Q)
    );
}

#[test]
fn quantize_and_dequantize_check_everything_first() {
    let p = QuantParams::new(0.5, 1).unwrap();
    let mut q = [9i8; 3];
    assert_eq!(
        quantize(&p, &[1.0, f32::NAN, 2.0], &mut q).unwrap_err(),
        Error::InvalidInput {
            index: 1,
            fault: edgetune::ValueFault::NotFinite
        }
    );
    assert_eq!(quantize(&p, &[1.0, 2.0], &mut q), Err(len(2, 3)));
    assert_eq!(q, [9; 3]);
    quantize(&p, &[0.25, -0.25, 1e9], &mut q).unwrap();
    assert_eq!(
        q,
        [2, 0, 127],
        "ties away from zero, then the zero point; saturated"
    );
    let mut y = [fixed::types::I8F24::ZERO; 2];
    let wide = QuantParams::new(2.0, 0).unwrap();
    assert!(matches!(
        dequantize(&wide, &[1, 127], &mut y),
        Err(Error::NotRepresentable { .. })
    ));
    assert_eq!(y, [fixed::types::I8F24::ZERO; 2]);
    let mut f = [0.0f32; 2];
    assert_eq!(dequantize(&p, &[1, 2], &mut f[..1]), Err(len(2, 1)));
    dequantize(&p, &[1, -128], &mut f).unwrap();
    assert_eq!(f, [0.0, -64.5]);
}

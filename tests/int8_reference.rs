//! edgetune's int8 convolutions against a plain reference written here (nested loops over
//! TFLite's index formulas, i64 accumulation, the documented requantisation) on geometries the
//! golden models do not have: groups, dilation with SAME padding and strides, depth multipliers,
//! explicit asymmetric padding. Pseudo-random int8 data, fixed seed.

use edgetune::nn::int8::{
    conv2d, depthwise, multiply_by_quantized_multiplier, ConvShape, OutputStage, Requant,
};
use edgetune::nn::{Conv2dShape, Padding};

struct Lcg(u64);
impl Lcg {
    fn i8(&mut self) -> i8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8 as i8
    }
}

#[allow(clippy::too_many_arguments)]
/// The reference: TFLite's `ConvPerChannel` / `DepthwiseConvPerChannel` loops, literally.
fn reference(
    s: &ConvShape,
    depthwise: bool,
    w: &[i8],
    b: &[i32],
    x: &[i8],
    st: &OutputStage,
    m: &[i32],
    sh: &[i32],
) -> Vec<i8> {
    let c = &s.conv;
    let (oh, ow) = (s.out_h() as i64, s.out_w() as i64);
    let (ih, iw, ic, oc) = (c.in_h as i64, c.in_w as i64, c.in_c as i64, c.out_c as i64);
    let (kh, kw) = (c.kh as i64, c.kw as i64);
    let fic = ic / c.groups as i64;
    let mut y = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..oc {
                let mut acc = b[o as usize] as i64;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = oy * c.stride_h as i64 - c.pad_h.before as i64
                            + ky * s.dilation_h as i64;
                        let ix = ox * c.stride_w as i64 - c.pad_w.before as i64
                            + kx * s.dilation_w as i64;
                        if iy < 0 || iy >= ih || ix < 0 || ix >= iw {
                            continue;
                        }
                        for ci in 0..(if depthwise { 1 } else { fic }) {
                            let (xc, wi) = if depthwise {
                                (o / (oc / ic), (ky * kw + kx) * oc + o)
                            } else {
                                let g = o / (oc / c.groups as i64);
                                (g * fic + ci, ((o * kh + ky) * kw + kx) * fic + ci)
                            };
                            let xv = x[((iy * iw + ix) * ic + xc) as usize] as i64
                                - st.input_zero_point as i64;
                            acc += xv * w[wi as usize] as i64;
                        }
                    }
                }
                let k = if m.len() == 1 { 0 } else { o as usize };
                let v = multiply_by_quantized_multiplier(acc as i32, m[k], sh[k])
                    + st.output_zero_point;
                y.push(v.clamp(st.act_min as i32, st.act_max as i32) as i8);
            }
        }
    }
    y
}

#[test]
fn convolutions_match_the_plain_reference_on_every_geometry() {
    let mut rng = Lcg(7);
    let mut cases = 0;
    let mut outputs = 0;
    let mut varied = 0;
    for &(in_h, in_w, in_c, out_c, kh, kw) in &[
        (5, 7, 4, 6, 3, 2),
        (1, 13, 3, 6, 1, 4),
        (6, 6, 2, 4, 3, 3),
        (4, 9, 6, 6, 2, 3),
    ] {
        for (sh_, sw_) in [(1, 1), (2, 1), (1, 3)] {
            for (dh, dw) in [(1, 1), (2, 1), (1, 2), (2, 3)] {
                for mode in 0..3 {
                    for depthwise in [false, true] {
                        let groups = if depthwise {
                            in_c
                        } else if in_c % 2 == 0 && out_c % 2 == 0 && mode == 1 {
                            2
                        } else {
                            1
                        };
                        let out_c = if depthwise { in_c * 2 } else { out_c };
                        let base = ConvShape::new(
                            Conv2dShape::new(in_h, in_w, in_c, out_c, kh, kw)
                                .stride(sh_, sw_)
                                .groups(groups),
                        )
                        .dilation(dh, dw);
                        let s = match mode {
                            0 => base,
                            1 => base.same(),
                            _ => {
                                let mut s = base;
                                s.conv.pad_h = Padding {
                                    before: 1,
                                    after: 0,
                                };
                                s.conv.pad_w = Padding {
                                    before: 0,
                                    after: 2,
                                };
                                s
                            }
                        };
                        if !s.valid() {
                            continue;
                        }
                        let w: Vec<i8> = (0..s.weights()).map(|_| rng.i8()).collect();
                        let b: Vec<i32> = (0..out_c).map(|i| i as i32 * 37 - 100).collect();
                        let x: Vec<i8> = (0..s.input_len()).map(|_| rng.i8()).collect();
                        let m: Vec<i32> = (0..out_c)
                            .map(|i| (1 << 30) + i as i32 * 12_345_678)
                            .collect();
                        let sh: Vec<i32> = (0..out_c).map(|i| -11 - (i as i32 % 3)).collect();
                        let st = OutputStage {
                            input_zero_point: -17,
                            requant: Requant::new(&m, &sh).unwrap(),
                            output_zero_point: 9,
                            act_min: -100,
                            act_max: 120,
                        };
                        let want = reference(&s, depthwise, &w, &b, &x, &st, &m, &sh);
                        let mut y = vec![0i8; s.output_len()];
                        if depthwise {
                            depthwise::forward(&s, &st, &w, Some(&b), &x, &mut y).unwrap();
                        } else {
                            conv2d::forward(&s, &st, &w, Some(&b), &x, &mut y).unwrap();
                        }
                        assert_eq!(y, want, "{s:?} depthwise {depthwise}");
                        varied += usize::from(y.iter().any(|&v| v != y[0]));
                        cases += 1;
                        outputs += y.len();
                    }
                }
            }
        }
    }
    println!("{cases} geometries ({varied} with varied outputs), {outputs} outputs equal to the plain reference");
    assert!(varied > 100, "cases that test something");
}

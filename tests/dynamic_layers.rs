//! The run-time-sized layers of `edgetune::dynamic` against the const-generic ones of
//! `edgetune::nn`: for f32, I16F16 and I8F24 at several shapes (64-32-10, 3-5, 17-1, 4-8, 1-1,
//! 5-4) with random weights, inputs and upstream gradients, dense forward, dense backward
//! (accumulated `dW`, `db` and `dx`, over several samples), ReLU forward/backward and softmax
//! cross-entropy (loss and `dlogits`) are bit for bit equal; every size mismatch, non-finite
//! input and bad label is a typed error with nothing written.

use edgetune::dynamic;
use edgetune::nn::{self, Activation, Relu, Scalar};
use edgetune::num::fixed::{I16F16, I8F24};
use edgetune::{Error, ValueFault};

mod common;
use common::Rng;

/// `n` values uniform in `[-a, a)`, rounded to `S`.
fn values<S: Scalar>(rng: &mut Rng, n: usize, a: f64) -> Vec<S> {
    rng.vec(n, a).into_iter().map(S::from_f64).collect()
}

/// Raw bits, for bit-for-bit comparisons (f32 bits; fixed point's raw i32).
trait Bits: Scalar {
    fn bits(self) -> u32;
}
impl Bits for f32 {
    fn bits(self) -> u32 {
        self.to_bits()
    }
}
impl Bits for I16F16 {
    fn bits(self) -> u32 {
        self.to_bits() as u32
    }
}
impl Bits for I8F24 {
    fn bits(self) -> u32 {
        self.to_bits() as u32
    }
}

fn bits<S: Bits>(v: &[S]) -> Vec<u32> {
    v.iter().map(|x| x.bits()).collect()
}

/// Counts the elements compared bit for bit.
static COMPARED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn same<S: Bits>(what: &str, a: &[S], b: &[S]) {
    assert_eq!(bits(a), bits(b), "{what}");
    COMPARED.fetch_add(a.len(), std::sync::atomic::Ordering::Relaxed);
}

/// One shape, `SAMPLES` samples: static and dynamic dense + ReLU + softmax CE agree bit for bit.
fn dense_case<S: Bits, const I: usize, const O: usize>(rng: &mut Rng) {
    const SAMPLES: usize = 5;
    // Weights of a few times torch's init scale and inputs like normalised pixels, so that fixed
    // point is exercised over many raw values (and I8F24's ±128 range is not left).
    let w = values::<S>(rng, I * O, 1.0);
    let b = values::<S>(rng, O, 0.5);
    let mut layer = nn::Dense::<S, I, O>::zeroed();
    for (row, src) in layer.weights.iter_mut().zip(w.chunks_exact(I)) {
        row.copy_from_slice(src);
    }
    layer.bias.copy_from_slice(&b);
    let mut g_static = nn::Dense::<S, I, O>::zeroed();
    let (mut dw, mut db) = (vec![S::ZERO; I * O], vec![S::ZERO; O]);
    for _ in 0..SAMPLES {
        let x: [S; I] = values::<S>(rng, I, 2.0).try_into().unwrap();
        // forward
        let mut y_s = [S::ZERO; O];
        layer.forward(&x, &mut y_s);
        let mut y_d = vec![S::ZERO; O];
        dynamic::dense_forward(&w, &b, &x, &mut y_d).unwrap();
        same("dense forward", &y_s, &y_d);
        // ReLU forward / backward
        let mut h_s = [S::ZERO; O];
        Relu.forward(&y_s, &mut h_s);
        let mut h_d = vec![S::ZERO; O];
        dynamic::relu_forward(&y_d, &mut h_d).unwrap();
        same("relu forward", &h_s, &h_d);
        let dy: [S; O] = values::<S>(rng, O, 1.0).try_into().unwrap();
        let mut dh_s = [S::ZERO; O];
        Relu.backward(&h_s, &dy, &mut dh_s);
        let mut dh_d = vec![S::ZERO; O];
        dynamic::relu_backward(&h_d, &dy, &mut dh_d).unwrap();
        same("relu backward", &dh_s, &dh_d);
        // softmax cross-entropy on the dense output
        let label = (rng.next_u64() % O as u64) as usize;
        let mut dz_s = [S::ZERO; O];
        let loss_s = nn::softmax_cross_entropy(&y_s, label, &mut dz_s).unwrap();
        let mut dz_d = vec![S::ZERO; O];
        let loss_d = dynamic::softmax_cross_entropy(&y_d, label, &mut dz_d).unwrap();
        same("softmax ce loss", &[loss_s], &[loss_d]);
        same("softmax ce dlogits", &dz_s, &dz_d);
        // dense backward: accumulate over the samples, dx each time
        let mut dx_s = [S::ZERO; I];
        layer.backward(&x, &dy, Some(&mut g_static), Some(&mut dx_s));
        let mut dx_d = vec![S::ZERO; I];
        dynamic::dense_backward(&w, &x, &dy, Some((&mut dw, &mut db)), Some(&mut dx_d)).unwrap();
        same("dense dx", &dx_s, &dx_d);
        same("dense dW", g_static.weights.as_flattened(), &dw);
        same("dense db", &g_static.bias, &db);
        // the partial forms: no grads, no dx
        let mut dx_only = vec![S::ZERO; I];
        dynamic::dense_backward(&w, &x, &dy, None, Some(&mut dx_only)).unwrap();
        same("dense dx alone", &dx_s, &dx_only);
    }
}

/// A 64-32-10 MLP (the digits model's shape) end to end: static network pieces against the
/// dynamic functions, in every number type.
fn shapes<S: Bits>(seed: u64) {
    let mut rng = Rng(seed);
    dense_case::<S, 64, 32>(&mut rng);
    dense_case::<S, 32, 10>(&mut rng);
    dense_case::<S, 3, 5>(&mut rng);
    dense_case::<S, 17, 1>(&mut rng);
    dense_case::<S, 4, 8>(&mut rng);
    dense_case::<S, 1, 1>(&mut rng);
    dense_case::<S, 5, 4>(&mut rng);
}

#[test]
fn dynamic_layers_equal_static_bit_for_bit() {
    for seed in [1, 2, 3] {
        shapes::<f32>(seed);
        shapes::<I16F16>(seed + 10);
        shapes::<I8F24>(seed + 20);
    }
    let n = COMPARED.load(std::sync::atomic::Ordering::Relaxed);
    println!("{n} elements compared bit for bit");
    assert!(n > 0);
}

#[test]
fn size_mismatches_and_bad_inputs_are_typed_errors_and_write_nothing() {
    let w = [1.0f32; 6]; // O = 2, I = 3
    let b = [0.5f32; 2];
    let x = [1.0f32; 3];
    let mut y = [7.0f32; 2];
    let mism = |expected, found| Err(Error::LengthMismatch { expected, found });
    assert_eq!(dynamic::dense_forward(&w[..5], &b, &x, &mut y), mism(6, 5));
    assert_eq!(dynamic::dense_forward(&w, &b, &x[..2], &mut y), mism(4, 6));
    assert_eq!(dynamic::dense_forward(&w, &b, &x, &mut y[..1]), mism(2, 1));
    let nan = [1.0, f32::NAN, 2.0];
    assert_eq!(
        dynamic::dense_forward(&w, &b, &nan, &mut y),
        Err(Error::InvalidInput {
            index: 1,
            fault: ValueFault::NotFinite
        })
    );
    assert_eq!(y, [7.0; 2]);

    let dy = [1.0f32, -1.0];
    let (mut dw, mut db, mut dx) = ([3.0f32; 6], [3.0f32; 2], [3.0f32; 3]);
    assert_eq!(
        dynamic::dense_backward(&w, &x, &dy, Some((&mut dw[..5], &mut db)), Some(&mut dx)),
        mism(6, 5)
    );
    assert_eq!(
        dynamic::dense_backward(&w, &x, &dy, Some((&mut dw, &mut db[..1])), Some(&mut dx)),
        mism(2, 1)
    );
    assert_eq!(
        dynamic::dense_backward(&w, &x, &dy, Some((&mut dw, &mut db)), Some(&mut dx[..2])),
        mism(3, 2)
    );
    assert_eq!(
        dynamic::dense_backward(&w, &x, &[1.0, f32::INFINITY], None, Some(&mut dx)),
        Err(Error::InvalidInput {
            index: 1,
            fault: ValueFault::NotFinite
        })
    );
    assert_eq!((dw, db, dx), ([3.0; 6], [3.0; 2], [3.0; 3]));

    let mut h = [5.0f32; 3];
    assert_eq!(dynamic::relu_forward(&x, &mut h[..2]), mism(3, 2));
    assert_eq!(dynamic::relu_backward(&x, &x[..2], &mut h), mism(3, 2));
    assert_eq!(dynamic::relu_backward(&x, &x, &mut h[..1]), mism(3, 1));
    assert_eq!(h, [5.0; 3]);

    let mut dz = [9.0f32; 3];
    assert_eq!(
        dynamic::softmax_cross_entropy(&x, 3, &mut dz),
        Err(Error::Nn(nn::NnError::LabelOutOfRange {
            label: 3,
            classes: 3
        }))
    );
    assert_eq!(
        dynamic::softmax_cross_entropy(&x, 0, &mut dz[..2]),
        Err(Error::LengthMismatch {
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        dynamic::softmax_cross_entropy(&nan, 0, &mut dz),
        Err(Error::InvalidInput {
            index: 1,
            fault: ValueFault::NotFinite
        })
    );
    assert_eq!(dz, [9.0; 3]);
    // the empty layer (I = 0): y = b, no panic
    let mut y1 = [0.0f32; 2];
    dynamic::dense_forward(&[], &b, &[], &mut y1).unwrap();
    assert_eq!(y1, b);
}

//! The app end to end on mocked hardware: synthetic accelerometer windows of two classes
//! ("rest" and "shake", see `common::window_mg`) go through the mocked I2C bus, the LIS3DH
//! driver, the feature extraction and on-device training, with the mocked button as the label.
//!
//! # Thresholds
//! The two classes differ in how much the board moves: at rest the mean absolute deviation is
//! the sensor noise (about 7 mg per axis), shaking adds at least 400 mg · 2/π ≈ 250 mg spread
//! over x and y. One linear boundary in the deviation features separates them completely, so a
//! trained network should classify every held-out window; the test asks for **90 %** of 40
//! held-out windows (chance is 50 %), leaving room for the short run (60 windows, about 70 %
//! of them "rest", as a user holds the button a minority of the time), and for the mean
//! held-out cross-entropy to fall to **half** of the untrained network's or less. Both are
//! asserted for `f32` (the Cortex-M4F boards) and `I16F16` (the RP2040).

mod common;

use common::{window_accel, window_transactions, ADDR};
use edgetune::nn::Scalar;
use edgetune::num::fixed::I16F16;
use edgetune::optim::AdamNum;
use edgetune::train::Pcg32;
use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2cTx};
use embedded_hal_mock::eh1::MockError;
use sensor_app::app::{TrainFailure, PARAMS};
use sensor_app::{lis3dh, Address, App, AppError, Button, DataRate, Features, Lis3dh, Range};

const TRAIN_WINDOWS: usize = 60;
const HELD_OUT_PER_CLASS: usize = 20;

fn init_transactions() -> Vec<I2cTx> {
    vec![
        I2cTx::write_read(ADDR, vec![0x0F], vec![0x33]),
        I2cTx::write(ADDR, vec![0x20, 0x47]),
        I2cTx::write(ADDR, vec![0x23, 0x98]),
    ]
}

/// Held-out features and labels, never shown to the app.
fn held_out() -> Vec<(Features, usize)> {
    let mut rng = Pcg32::seeded(0xbeef);
    (0..2 * HELD_OUT_PER_CLASS)
        .map(|i| {
            let class = i % 2;
            (Features::of(&window_accel(&mut rng, class)), class)
        })
        .collect()
}

/// (accuracy in %, mean cross-entropy) of the app's network on `set`.
fn evaluate<S: Scalar + AdamNum>(app: &mut App<S>, set: &[(Features, usize)]) -> (f64, f64) {
    let mut right = 0;
    let mut loss = 0.0;
    for (f, label) in set {
        let x = f.input::<S>();
        right += usize::from(app.predict(&x) == *label);
        loss += app.loss(&x, *label).unwrap();
    }
    (
        100.0 * right as f64 / set.len() as f64,
        loss / set.len() as f64,
    )
}

fn run<S: Scalar + AdamNum>(name: &str) {
    let mut rng = Pcg32::seeded(7);
    // The stream: about 30 % "shake" (button held), the first two windows one of each so the
    // run does not depend on when the first press comes.
    let labels: Vec<usize> = (0..TRAIN_WINDOWS)
        .map(|i| match i {
            0 => 0,
            1 => 1,
            _ => usize::from(rng.below(10) < 3),
        })
        .collect();
    let mut pin_tx = Vec::new();
    let mut i2c_tx = init_transactions();
    let mut decoded = Vec::new();
    for &class in &labels {
        // Every 8th reading first finds no new data, as when the loop outruns 50 Hz.
        let (p, i, d) = window_transactions(&mut rng, class, 8);
        pin_tx.extend(p);
        i2c_tx.extend(i);
        decoded.push(d);
    }
    let mut i2c = I2cMock::new(&i2c_tx);
    let mut pin = PinMock::new(&pin_tx);
    let mut sensor = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    sensor.init(Range::G4, DataRate::Hz50).unwrap();
    let mut button = Button::active_low(pin.clone());

    let mut app = App::<S>::new(1).unwrap();
    let test = held_out();
    let (acc0, loss0) = evaluate(&mut app, &test);

    let mut last = None;
    for (k, &class) in labels.iter().enumerate() {
        let r = app.cycle(&mut sensor, &mut button, &mut NoopDelay).unwrap();
        assert_eq!(r.window as usize, k + 1);
        assert_eq!(r.label, Some(class as u8));
        // The features the app saw are those of the readings the driver had to decode.
        assert_eq!(r.features, Features::of(&decoded[k]));
        last = Some(r);
    }
    i2c.done();
    pin.done();

    let last = last.unwrap();
    let (acc1, loss1) = evaluate(&mut app, &test);
    println!(
        "{name}: held-out accuracy {acc0:.1} % -> {acc1:.1} %, mean loss {loss0:.6} -> {loss1:.6}; \
         last {}/{} stream windows right before training on them; stored {:?}; last batch loss {:?} milli",
        last.recent_right, last.recent_scored, last.stored, last.batch_loss_milli
    );
    let n1 = labels.iter().filter(|&&c| c == 1).count() as u16;
    assert_eq!(
        last.stored,
        [TRAIN_WINDOWS as u16 - n1, n1].map(|n| n.min(32))
    );
    assert!(acc1 >= 90.0, "{name}: held-out accuracy {acc1} % < 90 %");
    assert!(
        loss1 <= 0.5 * loss0,
        "{name}: held-out loss {loss1} not at most half of {loss0}"
    );
    assert!(
        last.recent_right >= 18,
        "{name}: only {}/20 recent windows right",
        last.recent_right
    );
}

#[test]
fn fine_tuning_on_mocked_sensor_data_learns_rest_versus_shake_f32() {
    run::<f32>("f32");
}

#[test]
fn fine_tuning_on_mocked_sensor_data_learns_rest_versus_shake_i16f16() {
    run::<I16F16>("I16F16");
}

#[test]
fn a_window_during_which_the_button_changes_is_reported_and_not_learned() {
    let mut rng = Pcg32::seeded(3);
    let (_, i2c_tx, _) = window_transactions(&mut rng, 0, 0);
    let mut i2c = I2cMock::new(&i2c_tx);
    let mut pin = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::Low)]);
    let mut sensor = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    let mut button = Button::active_low(pin.clone());
    let mut app = App::<f32>::new(1).unwrap();
    let before = *app.params();
    let r = app.cycle(&mut sensor, &mut button, &mut NoopDelay).unwrap();
    assert_eq!(r.label, None);
    assert_eq!(r.stored, [0, 0]);
    assert_eq!(r.recent_scored, 0);
    assert_eq!(r.batch_loss_milli, None);
    assert_eq!(*app.params(), before);
    i2c.done();
    pin.done();
}

#[test]
fn a_bus_error_mid_window_is_returned_typed_and_drops_only_that_window() {
    let mut rng = Pcg32::seeded(4);
    let (pin_a, i2c_a, _) = window_transactions(&mut rng, 0, 0);
    // The 11th reading of the first window fails; the next window is read whole.
    let mut i2c_tx: Vec<I2cTx> = i2c_a[..10].to_vec();
    i2c_tx.push(I2cTx::write_read(ADDR, vec![0xA7], vec![0; 7]).with_error(ErrorKind::Other));
    let (pin_b, i2c_b, _) = window_transactions(&mut rng, 1, 0);
    i2c_tx.extend(i2c_b);
    let mut pin_tx = vec![pin_a[0].clone()];
    pin_tx.extend(pin_b);
    let mut i2c = I2cMock::new(&i2c_tx);
    let mut pin = PinMock::new(&pin_tx);
    let mut sensor = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    let mut button = Button::active_low(pin.clone());
    let mut app = App::<f32>::new(1).unwrap();

    let e = app.cycle(&mut sensor, &mut button, &mut NoopDelay);
    assert_eq!(
        e,
        Err(AppError::Sensor(lis3dh::Error::I2c(ErrorKind::Other)))
    );
    let r = app.cycle(&mut sensor, &mut button, &mut NoopDelay).unwrap();
    assert_eq!(r.window, 1, "the failed window must not count");
    assert_eq!(r.label, Some(1));
    assert_eq!(r.stored, [0, 1]);
    i2c.done();
    pin.done();
}

#[test]
fn a_button_pin_error_is_returned_typed() {
    let mut i2c = I2cMock::new(&[]);
    let err = MockError::Io(std::io::ErrorKind::BrokenPipe);
    let mut pin = PinMock::new(&[PinTx::get(State::High).with_error(err.clone())]);
    let mut sensor = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    let mut button = Button::active_low(pin.clone());
    let mut app = App::<I16F16>::new(1).unwrap();
    assert_eq!(
        app.cycle(&mut sensor, &mut button, &mut NoopDelay),
        Err(AppError::Button(err))
    );
    i2c.done();
    pin.done();
}

#[test]
fn a_label_outside_the_classes_is_an_error_and_changes_nothing() {
    let mut app = App::<f32>::new(1).unwrap();
    let before = *app.params();
    assert_eq!(
        app.learn(&Features::default(), 2),
        Err(TrainFailure::Label(2))
    );
    assert_eq!(*app.params(), before);
}

#[test]
fn the_initialisation_is_seeded_glorot_uniform() {
    let a = App::<f32>::new(1).unwrap();
    let b = App::<f32>::new(1).unwrap();
    let c = App::<f32>::new(2).unwrap();
    assert_eq!(a.params(), b.params());
    assert_ne!(a.params(), c.params());
    let p = a.params();
    assert_eq!(p.len(), PARAMS);
    assert!(p[..48].iter().all(|w| w.abs() <= 0.6547));
    assert!(p[48..56].iter().all(|&b| b == 0.0));
    assert!(p[56..72].iter().all(|w| w.abs() <= 0.7746));
    assert!(p[72..].iter().all(|&b| b == 0.0));
    // Not degenerate: the weights spread over most of their range.
    let max = p[..48].iter().fold(0.0f32, |m, w| m.max(w.abs()));
    assert!(max > 0.5);
}

#[test]
fn the_training_state_fits_in_four_kib() {
    let f = std::mem::size_of::<App<f32>>();
    let q = std::mem::size_of::<App<I16F16>>();
    println!("size_of App<f32> = {f} B, App<I16F16> = {q} B (64-bit host)");
    assert!(f <= 4096 && q <= 4096);
}

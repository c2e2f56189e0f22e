//! The app end to end on mocked hardware: synthetic accelerometer windows of two classes
//! ("rest" and "shake", see `common::window_mg`) go through the mocked I2C bus, the LIS3DH
//! driver, the feature extraction and on-device training, with the mocked button as the label.
//!
//! # The adaptation
//! The network starts as pretrained on the PC (board still versus shaken hard, 400 to 1200 mg;
//! `sensor_app::pretrained`). The user's classes are different (`synth::USER_HELD`, a board held
//! in a trembling hand, 25 mg of noise, versus `synth::USER_WAVE`, a gentle wave of 100 to
//! 300 mg): the pretrained network gets about two thirds of them right (the tool's held-out
//! figure is in `pretrained.rs`). On the device only the head (18 parameters) learns.
//!
//! # Thresholds
//! The user's classes differ in how much the board moves: the mean absolute deviation of a
//! held board is about 20 mg per axis, a wave adds at least 100 mg · 2/π ≈ 64 mg in the x-y
//! plane (less for a window that catches under a full period of a slow wave). A boundary in the
//! deviation features separates nearly all windows, so after adaptation the test asks for
//! **90 %** of 40 held-out windows (chance is 50 %; the pretrained network is near 65 %) and
//! for the mean held-out cross-entropy to fall to **half** of the pretrained network's or less,
//! after a short run (60 windows, about 70 % of them "held", as a user holds the button a
//! minority of the time). Both are asserted for `f32` (the Cortex-M4F boards) and `I16F16` (the
//! RP2040).
//!
//! The seeds here give 65.0 % (f32) and 62.5 % (I16F16) → 100 %. With six other seed pairs for
//! the stream and the held-out set (tried by hand with the previous pretrained weights, not part
//! of the test) the adapted network scored 90.0 to
//! 97.5 % (pretrained: 57.5 to 72.5 %) and the loss always fell below half: the 90 % threshold
//! is met but not by a wide margin on every draw of 60 windows.

mod common;

use common::{window_transactions, ADDR};
use edgetune::nn::{NnError, Scalar};
use edgetune::num::fixed::I16F16;
use edgetune::optim::AdamNum;
use edgetune::train::{evaluate, Pcg32};
use edgetune::Error;
use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2cTx};
use embedded_hal_mock::eh1::MockError;
use sensor_app::app::{glorot, CLASSES, PARAMS, TRAINABLE};
use sensor_app::synth::{window_accel, USER_HELD, USER_WAVE};
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
            let scene = [&USER_HELD, &USER_WAVE][class];
            (Features::of(&window_accel(&mut rng, scene)), class)
        })
        .collect()
}

/// (accuracy in %, mean cross-entropy) of the app's network on `set`.
fn evaluate_app<S: Scalar + AdamNum>(app: &App<S>, set: &[(Features, usize)]) -> (f64, f64) {
    let set: Vec<([S; 6], usize)> = set.iter().map(|(f, l)| (f.input::<S>(), *l)).collect();
    let e = evaluate(app.net(), &set).unwrap();
    (100.0 * e.accuracy.unwrap(), e.mean_loss)
}

fn run<S: Scalar + AdamNum>(name: &str, mut app: App<S>) {
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
        let scene = [&USER_HELD, &USER_WAVE][class];
        let (p, i, d) = window_transactions(&mut rng, scene, class, 8);
        pin_tx.extend(p);
        i2c_tx.extend(i);
        decoded.push(d);
    }
    let mut i2c = I2cMock::new(&i2c_tx);
    let mut pin = PinMock::new(&pin_tx);
    let mut sensor = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    sensor.init(Range::G4, DataRate::Hz50).unwrap();
    let mut button = Button::active_low(pin.clone());

    let test = held_out();
    let (acc0, loss0) = evaluate_app(&app, &test);

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
    let (acc1, loss1) = evaluate_app(&app, &test);
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
fn fine_tuning_the_pretrained_head_on_mocked_sensor_data_learns_the_users_gesture_f32() {
    run::<f32>("f32", App::pretrained().unwrap());
}

#[test]
fn fine_tuning_the_pretrained_head_on_mocked_sensor_data_learns_the_users_gesture_i16f16() {
    run::<I16F16>("I16F16", App::pretrained().unwrap());
}

#[test]
fn a_window_during_which_the_button_changes_is_reported_and_not_learned() {
    let mut rng = Pcg32::seeded(3);
    let (_, i2c_tx, _) = window_transactions(&mut rng, &USER_HELD, 0, 0);
    let mut i2c = I2cMock::new(&i2c_tx);
    let mut pin = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::Low)]);
    let mut sensor = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    let mut button = Button::active_low(pin.clone());
    let mut app = App::<f32>::pretrained().unwrap();
    let before = app.params().unwrap();
    let r = app.cycle(&mut sensor, &mut button, &mut NoopDelay).unwrap();
    assert_eq!(r.label, None);
    assert_eq!(r.stored, [0, 0]);
    assert_eq!(r.recent_scored, 0);
    assert_eq!(r.batch_loss_milli, None);
    assert_eq!(app.params().unwrap(), before);
    i2c.done();
    pin.done();
}

#[test]
fn a_bus_error_mid_window_is_returned_typed_and_drops_only_that_window() {
    let mut rng = Pcg32::seeded(4);
    let (pin_a, i2c_a, _) = window_transactions(&mut rng, &USER_HELD, 0, 0);
    // The 11th reading of the first window fails; the next window is read whole.
    let mut i2c_tx: Vec<I2cTx> = i2c_a[..10].to_vec();
    i2c_tx.push(I2cTx::write_read(ADDR, vec![0xA7], vec![0; 7]).with_error(ErrorKind::Other));
    let (pin_b, i2c_b, _) = window_transactions(&mut rng, &USER_WAVE, 1, 0);
    i2c_tx.extend(i2c_b);
    let mut pin_tx = vec![pin_a[0].clone()];
    pin_tx.extend(pin_b);
    let mut i2c = I2cMock::new(&i2c_tx);
    let mut pin = PinMock::new(&pin_tx);
    let mut sensor = Lis3dh::new(i2c.clone(), Address::Sa0Low);
    let mut button = Button::active_low(pin.clone());
    let mut app = App::<f32>::pretrained().unwrap();

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
    let mut app = App::<I16F16>::pretrained().unwrap();
    assert_eq!(
        app.cycle(&mut sensor, &mut button, &mut NoopDelay),
        Err(AppError::Button(err))
    );
    i2c.done();
    pin.done();
}

#[test]
fn a_label_outside_the_classes_is_an_error_and_changes_nothing() {
    let mut app = App::<f32>::pretrained().unwrap();
    let before = app.params().unwrap();
    assert_eq!(
        app.learn(&Features::default(), 2),
        Err(Error::Nn(NnError::LabelOutOfRange {
            label: 2,
            classes: CLASSES
        }))
    );
    assert_eq!(app.params().unwrap(), before);
}

#[test]
fn the_random_initialisation_is_seeded_glorot_uniform() {
    let a = glorot(1);
    assert_eq!(a, glorot(1));
    assert_ne!(a, glorot(2));
    assert_eq!(a.len(), PARAMS);
    assert!(a[..48].iter().all(|w| w.abs() <= 0.6547));
    assert!(a[48..56].iter().all(|&b| b == 0.0));
    assert!(a[56..72].iter().all(|w| w.abs() <= 0.7746));
    assert!(a[72..].iter().all(|&b| b == 0.0));
    // Not degenerate: the weights spread over most of their range.
    let max = a[..48].iter().fold(0.0f64, |m, w| m.max(w.abs()));
    assert!(max > 0.5);
    let app = App::<f32>::seeded(1).unwrap();
    assert_eq!(app.params().unwrap(), a.map(|p| p as f32));
}

#[test]
fn the_app_starts_from_the_pretrained_weights_and_trains_only_the_head() {
    let mut app = App::<f32>::pretrained().unwrap();
    assert_eq!(app.params().unwrap(), sensor_app::pretrained::PARAMS);
    assert_eq!(TRAINABLE, 18);
    // Two labelled windows: one step per window after the second; the feature layer (the
    // first 56 parameters) must not move, the head must.
    let mut rng = Pcg32::seeded(9);
    for class in [0, 1] {
        let scene = [&USER_HELD, &USER_WAVE][class];
        app.learn(&Features::of(&window_accel(&mut rng, scene)), class)
            .unwrap();
    }
    let after = app.params().unwrap();
    assert_eq!(after[..56], sensor_app::pretrained::PARAMS[..56]);
    assert_ne!(after[56..], sensor_app::pretrained::PARAMS[56..]);
}

#[test]
fn the_training_state_fits_in_four_kib() {
    let f = std::mem::size_of::<App<f32>>();
    let q = std::mem::size_of::<App<I16F16>>();
    println!("size_of App<f32> = {f} B, App<I16F16> = {q} B (64-bit host)");
    assert!(f <= 4096 && q <= 4096);
}

//! Checkpoints to NOR flash: save the whole training state and resume it bit for bit, through
//! power cuts and against corrupt or foreign data.
//!
//! A checkpoint holds three parts, each [`Checkpointable`]:
//! - the **parameters**: a `[S; N]` arena (for an [`mlp!`](crate::mlp) network, its trainable
//!   arena `net.trainable()`, restored into `net.trainable_mut()`);
//! - the **optimizer**: configuration (every hyperparameter, bit-exact), step counter, the number
//!   type's [`Aux`](crate::num::Num::Aux) state (the fixed-point stochastic-rounding generator)
//!   and every moment buffer; or `()` for none;
//! - the **[`Progress`]**: the schedule's epoch (resume with
//!   [`Scheduler::at`](crate::train::Scheduler::at)), a step count and four application words.
//!
//! A run of `T` steps and a run of `T/2` steps, checkpoint, restore into fresh state, `T/2` more
//! give identical bits (tested for Adam in `f32` and `I16F16` with stochastic rounding and for SGD
//! with momentum, on a network and on a plain arena), provided the application restores its own
//! data order too. The [`SampleBuffer`](crate::train::SampleBuffer) (samples, counters and its
//! generator) and a [`Pcg32`](crate::train::Pcg32) data generator are [`Checkpointable`], and a
//! pair `(A, B)` of parts is one part, so they go into the same record as the parameters:
//! `store.save(&(params, (buffer, generator)), &opt, &progress)`. A power cut then loses no
//! buffered sample, and the resumed run draws the same batches (tested, through a power cut at
//! every flash operation of a save).
//!
//! The example stores into `SimFlash`, the RAM flash simulator of the `sim-flash` feature (a test
//! double, off by default); on a board, `Store::new` takes the HAL's `NorFlash` driver instead.
//!
//! ```
//! # #[cfg(feature = "sim-flash")] {
//! use edgetune::checkpoint::{Progress, SimFlash, Store};
//! use edgetune::optim::{Adam, AdamConfig, Optimizer};
//!
//! let mut params = [0.5f32, -0.25, 1.0];
//! let mut opt = Adam::<f32, 3>::new(AdamConfig::adam(1e-2)).unwrap();
//! opt.step(&mut params, &[0.1, -0.2, 0.3]).unwrap();
//! let progress = Progress { epoch: 1, step: 1, user: [0; 4] };
//!
//! // Two 1 KiB slots (4 sectors each) at the start of an 8 KiB flash.
//! let mut store = Store::new(SimFlash::<8192, 8, 256>::new(), 0, 1024).unwrap();
//! store.save(&params, &opt, &progress).unwrap();
//!
//! // After a reset: fresh state, restored.
//! let mut params2 = [0.0f32; 3];
//! let mut opt2 = Adam::<f32, 3>::new(AdamConfig::adam(1.0)).unwrap();
//! let mut progress2 = Progress::ZERO;
//! store.restore(&mut params2, &mut opt2, &mut progress2).unwrap();
//! assert_eq!(params2.map(f32::to_bits), params.map(f32::to_bits));
//! assert_eq!((opt2.step_count(), opt2.config().lr, progress2), (1, 1e-2, progress));
//! # }
//! ```
//!
//! # Format (version 1)
//! Little-endian 32-bit words, in one slot:
//!
//! | words | content |
//! |---|---|
//! | 0 | magic `ETCK` (`0x4B43_5445`) |
//! | 1 | format version (1) |
//! | 2 | header words `H` (20) |
//! | 3 | payload words `P` |
//! | 4 | sequence number (newer is greater, serial-number arithmetic) |
//! | 5 | part count (3) |
//! | 6, 7 | reserved, 0 |
//! | 8..20 | per part (parameters, optimizer, progress), 4 words: `kind \| flags << 8` ([`Kind`]), number-type code ([`Word::CODE`]), element count `N`, payload words |
//! | `H .. H+P` | payload: each part's [`Checkpointable::save`] words, in that order |
//! | at `align(4·(H+P), WRITE_SIZE)` | CRC-32/ISO-HDLC of the bytes of words `0 .. H+P`, alone in its write unit |
//!
//! Words 0–4 and the CRC rule are the same in every version, so a record of another version is
//! still recognised as complete (and rejected with
//! [`UnsupportedVersion`](CheckpointError::UnsupportedVersion)).
//! A [`Pcg32`](crate::train::Pcg32) is 4 words (state, then increment, each low word first); a
//! [`SampleBuffer<T, CAP>`](crate::train::SampleBuffer) `9 + CAP·T::WORDS` (policy, samples held,
//! samples seen (2), ring position, its generator (4), then every slot in storage order, unused
//! slots as zero words); a pair `(A, B)` is `A`'s words then `B`'s, tagged [`Kind::Pair`] with
//! `A`'s number type and size and `B`'s kind as flags. Samples: `u32` and `u8` one word each,
//! arrays and pairs of [`Word`]s their elements in order.
//! Values: `f32` one word (its bits), `f64` two (low word first), `FixedI32<F>` one (its bits),
//! I4F12 one (its `i16` bits sign-extended),
//! [`MiniFloat`](crate::num::fixed::MiniFloat) one (its bits), the rounding state two (generator
//! state, mode). An optimizer writes its configuration (each `f64` hyperparameter as two words
//! in declaration order, then a word of boolean flags), its step counter, its `Aux`, then each
//! buffer in declaration order.
//!
//! Sizes are compile-time constants: [`Checkpointable::WORDS`], and
//! [`Store::record_bytes`] for a whole record. A host tool that learns the sizes at run time
//! (the Python package, a fleet's server) writes and reads the same records through
//! [`RuntimePart`] (a parameter slice, the run-time-sized optimizers of `dynamic`) with
//! [`Store::save_parts`], [`Store::restore_parts`] and [`Store::record_bytes_of`]. Adam `f32` over `N` parameters with its
//! parameters takes `4·(20 + N + 11 + 1 + 2N + 7) + CRC` bytes.
//!
//! # Two slots
//! [`Store`] owns two regions of whole erase sectors. [`Store::save`] writes into the slot that
//! does not hold the newest valid checkpoint: it erases the sectors the record needs, writes the
//! header and payload, and writes the CRC last, in its own write unit, with the sequence number
//! one above the newest. [`Store::restore`] checks both slots' CRCs and takes the valid one with
//! the newer sequence number. The slot holding the newest valid checkpoint is never erased or
//! written.
//!
//! # What is guaranteed under power loss and bad input
//! Guaranteed (tested by cutting power at every erase and write of a save, both before the
//! operation and half way through it with a partially programmed word or a half-erased sector):
//! - After a power cut during [`Store::save`], [`Store::restore`] returns either the previous
//!   newest checkpoint or the new one, complete and bit-exact; never a mixture. The new one wins
//!   only once its CRC write has completed.
//! - A failed save (flash error, [`TooLarge`](CheckpointError::TooLarge)) leaves the previous
//!   checkpoint restorable.
//! - [`Store::restore`] validates before it writes: the CRC, the version, each part's kind,
//!   flags, number type and size against the destination's, and every stored value (each
//!   hyperparameter with the optimizer's own check, each flag word, each
//!   [`MiniFloat`](crate::num::fixed::MiniFloat) encoding). A rejected checkpoint (corrupt,
//!   truncated, foreign, another version, shape, number type or optimizer) returns a typed
//!   [`CheckpointError`] and leaves every destination untouched.
//! - No input makes restore panic or read outside its slots (fuzzed: `fuzz/`).
//! - Saves never program a write unit twice between erases (flash with ECC forbids it).
//!
//! Not guaranteed:
//! - Detection of corruption relies on CRC-32: a random corruption of a complete record passes
//!   with probability `2^-32`; deliberate forgery is not detected (this is not authentication).
//! - A flash read that fails (a driver error, not a power cut) *between* validation and the
//!   second, writing pass leaves the destinations partly written; the error is returned.
//!   Restoring again from the same store repairs them.
//! - Flash that loses bits after a completed write (retention, disturb) is only detected, not
//!   corrected: if both slots are damaged, restore fails with
//!   [`BadCrc`](CheckpointError::BadCrc).
//! - The first save into an empty store has no previous checkpoint to fall back to.
//! - Values are restored as they were saved: a checkpoint of a diverged run (NaN parameters in
//!   `f32`) restores as such; see [`train::guard`](crate::train::guard) to avoid saving one.
//! - The application's own data order is saved only if it puts it in the record: a
//!   [`SampleBuffer`](crate::train::SampleBuffer) and a [`Pcg32`](crate::train::Pcg32) as parts
//!   (in a pair with the parameters), anything else in [`Progress::user`].

pub(crate) mod codec;
mod error;
pub(crate) mod optim;
mod runtime;
#[cfg(feature = "sim-flash")]
mod sim;
mod store;
mod train;

pub use codec::{Checkpointable, Kind, Progress, Sink, SliceSink, SliceSource, Source, Tag, Word};
pub use error::{CheckpointError, Part};
pub use runtime::RuntimePart;
#[cfg(feature = "sim-flash")]
pub use sim::{Cut, SimFlash, Tear};
pub use store::{Saved, Store, CHUNK, HEADER_WORDS, MAGIC, VERSION};

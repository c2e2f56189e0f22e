//! The device's checkpoints ([`edgetune::checkpoint`]) from Python: `checkpoint_save` and
//! `checkpoint_restore` run the library's own [`Store`] over a flash image in memory, so the
//! bytes are the two slots a device's checkpoint region holds, written and validated by the
//! firmware's code (header, CRC, every part's kind, number type and size, every value).

use crate::{misuse, Optimizer};
use edgetune::checkpoint::{
    CheckpointError, Progress, RuntimePart, Sink, Source, Store, Tag, Word,
};
use edgetune::num::fixed::{I16F16, I4F12, I8F24};
use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash,
};
use numpy::{PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// A flash image in memory with the device's write unit `W`: NOR semantics (a write can only
/// clear bits, an erase sets a sector to `0xFF`), sectors of `max(W, 4)` bytes.
struct Image<const W: usize> {
    bytes: Vec<u8>,
}

impl<const W: usize> ErrorType for Image<W> {
    type Error = NorFlashErrorKind;
}

impl<const W: usize> ReadNorFlash for Image<W> {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl<const W: usize> NorFlash for Image<W> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = if W > 4 { W } else { 4 };
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        self.bytes[from as usize..to as usize].fill(0xFF);
        Ok(())
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let at = offset as usize;
        for (d, s) in self.bytes[at..at + bytes.len()].iter_mut().zip(bytes) {
            *d &= s;
        }
        Ok(())
    }
}

/// A parameter arena read from a numpy array: a sized [`RuntimePart`] over its values.
struct Arena<S>(Vec<S>);

impl<S: Word> RuntimePart for Arena<S> {
    fn tag(&self) -> Tag {
        self.0[..].tag()
    }
    fn words(&self) -> usize {
        self.0[..].words()
    }
    fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError> {
        self.0[..].save_words(out)
    }
    fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        self.0[..].check_words(src)
    }
    fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        self.0[..].load_words(src)
    }
}

/// The parameters of one dtype, copied out of (and back into) a numpy array.
enum Params {
    F32(Arena<f32>),
    I16F16(Arena<I16F16>),
    I8F24(Arena<I8F24>),
    I4F12(Arena<I4F12>),
}

/// The elements of a numpy array of `T`, C-contiguous.
fn elements<T: numpy::Element + Copy>(a: &Bound<'_, PyAny>, want: &str) -> PyResult<Vec<T>> {
    let arr = a
        .cast::<PyArrayDyn<T>>()
        .map_err(|_| misuse(format!("params: expected a numpy array of {want}")))?;
    let ro = arr
        .try_readonly()
        .map_err(|e| misuse(format!("params: {e}")))?;
    Ok(ro
        .as_slice()
        .map_err(|e| misuse(format!("params: {e}")))?
        .to_vec())
}

/// Writes `values` into the numpy array `a` of `T` (same length, writable).
fn store<T: numpy::Element + Copy>(a: &Bound<'_, PyAny>, values: &[T]) -> PyResult<()> {
    let arr = a
        .cast::<PyArrayDyn<T>>()
        .map_err(|_| misuse("params: wrong array type"))?;
    let mut rw = arr
        .try_readwrite()
        .map_err(|e| misuse(format!("params: {e}")))?;
    let dst = rw
        .as_slice_mut()
        .map_err(|e| misuse(format!("params: {e}")))?;
    if dst.len() != values.len() {
        return Err(misuse("params: wrong length"));
    }
    dst.copy_from_slice(values);
    Ok(())
}

impl Params {
    fn read(dtype: &str, a: &Bound<'_, PyAny>) -> PyResult<Params> {
        Ok(match crate::Kind::parse(dtype)? {
            crate::Kind::F32 => Params::F32(Arena(elements::<f32>(a, "float32")?)),
            crate::Kind::I16F16 => Params::I16F16(Arena(
                elements::<i32>(a, "int32 (raw I16F16 bits)")?
                    .into_iter()
                    .map(I16F16::from_bits)
                    .collect(),
            )),
            crate::Kind::I8F24 => Params::I8F24(Arena(
                elements::<i32>(a, "int32 (raw I8F24 bits)")?
                    .into_iter()
                    .map(I8F24::from_bits)
                    .collect(),
            )),
            crate::Kind::I4F12 => Params::I4F12(Arena(
                elements::<i16>(a, "int16 (raw I4F12 bits)")?
                    .into_iter()
                    .map(I4F12::from_bits)
                    .collect(),
            )),
        })
    }

    fn write_back(&self, a: &Bound<'_, PyAny>) -> PyResult<()> {
        match self {
            Params::F32(v) => store(a, &v.0),
            Params::I16F16(v) => store(a, &v.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
            Params::I8F24(v) => store(a, &v.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
            Params::I4F12(v) => store(a, &v.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
        }
    }

    fn part(&self) -> &dyn RuntimePart {
        match self {
            Params::F32(v) => v,
            Params::I16F16(v) => v,
            Params::I8F24(v) => v,
            Params::I4F12(v) => v,
        }
    }

    fn part_mut(&mut self) -> &mut dyn RuntimePart {
        match self {
            Params::F32(v) => v,
            Params::I16F16(v) => v,
            Params::I8F24(v) => v,
            Params::I4F12(v) => v,
        }
    }
}

/// The number type of the parameters: the optimizer's, or `dtype` when there is none.
fn params_dtype(optimizer: Option<&Optimizer>, dtype: Option<&str>) -> PyResult<&'static str> {
    match (optimizer, dtype) {
        (Some(o), None) => Ok(o.inner.dtype()),
        (Some(o), Some(d)) if crate::Kind::parse(d)?.name() == o.inner.dtype() => {
            Ok(o.inner.dtype())
        }
        (Some(o), Some(d)) => Err(misuse(format!(
            "dtype {d:?} differs from the optimizer's {:?}",
            o.inner.dtype()
        ))),
        (None, Some(d)) => Ok(crate::Kind::parse(d)?.name()),
        (None, None) => Err(misuse("without an optimizer, give the parameters' dtype")),
    }
}

/// Runs `f` on a [`Store`] over `image` (two slots of `slot_size` bytes) with write unit
/// `write_size`, one of the powers of two that divide the library's 128-byte chunk.
fn with_store<R>(
    image: &mut Vec<u8>,
    slot_size: usize,
    write_size: usize,
    f: impl FnOnce(&mut dyn StoreOps) -> Result<R, CheckpointError>,
) -> PyResult<R> {
    fn run<const W: usize, R>(
        image: &mut Vec<u8>,
        slot_size: usize,
        f: impl FnOnce(&mut dyn StoreOps) -> Result<R, CheckpointError>,
    ) -> PyResult<R> {
        let slot = u32::try_from(slot_size).map_err(|_| misuse("slot_size is too large"))?;
        let flash = Image::<W> {
            bytes: std::mem::take(image),
        };
        let mut store = Store::new(flash, 0, slot).map_err(crate::checkpoint_err)?;
        let done = f(&mut store);
        *image = store.into_inner().bytes;
        done.map_err(crate::checkpoint_err)
    }
    match write_size {
        1 => run::<1, R>(image, slot_size, f),
        2 => run::<2, R>(image, slot_size, f),
        4 => run::<4, R>(image, slot_size, f),
        8 => run::<8, R>(image, slot_size, f),
        16 => run::<16, R>(image, slot_size, f),
        32 => run::<32, R>(image, slot_size, f),
        64 => run::<64, R>(image, slot_size, f),
        128 => run::<128, R>(image, slot_size, f),
        other => Err(misuse(format!(
            "write_size {other}: must be a power of two from 1 to 128"
        ))),
    }
}

/// The [`Store`] operations the bindings use, for any write unit.
trait StoreOps {
    fn save(
        &mut self,
        params: &dyn RuntimePart,
        optimizer: &dyn RuntimePart,
        progress: &Progress,
    ) -> Result<(usize, u32), CheckpointError>;
    fn restore(
        &mut self,
        params: &mut dyn RuntimePart,
        optimizer: &mut dyn RuntimePart,
        progress: &mut Progress,
    ) -> Result<(usize, u32), CheckpointError>;
}

impl<const W: usize> StoreOps for Store<Image<W>> {
    fn save(
        &mut self,
        params: &dyn RuntimePart,
        optimizer: &dyn RuntimePart,
        progress: &Progress,
    ) -> Result<(usize, u32), CheckpointError> {
        self.save_parts(params, optimizer, progress)
            .map(|s| (s.slot, s.sequence))
    }
    fn restore(
        &mut self,
        params: &mut dyn RuntimePart,
        optimizer: &mut dyn RuntimePart,
        progress: &mut Progress,
    ) -> Result<(usize, u32), CheckpointError> {
        self.restore_parts(params, optimizer, progress)
            .map(|s| (s.slot, s.sequence))
    }
}

/// The image to work on: a copy of `image`, or an erased region of two slots.
fn image_of(image: Option<&[u8]>, slot_size: usize) -> PyResult<Vec<u8>> {
    let len = slot_size
        .checked_mul(2)
        .ok_or_else(|| misuse("slot_size is too large"))?;
    match image {
        Some(b) if b.len() == len => Ok(b.to_vec()),
        Some(b) => Err(misuse(format!(
            "image: {} bytes, but two slots of {slot_size} are {len}",
            b.len()
        ))),
        None => Ok(vec![0xFF; len]),
    }
}

/// Saves `params` (and `optimizer`'s whole state, and the progress words) as a device's
/// `Store::save` would into the region `image` (two slots of `slot_size` bytes; an erased region
/// when `None`), and returns the new region's bytes with the slot and sequence number written.
#[pyfunction]
#[pyo3(signature = (params, optimizer, epoch, step, user, *, slot_size, write_size, image=None, dtype=None))]
#[allow(clippy::too_many_arguments)]
fn checkpoint_save<'py>(
    py: Python<'py>,
    params: &Bound<'py, PyAny>,
    optimizer: Option<PyRef<'py, Optimizer>>,
    epoch: u32,
    step: u64,
    user: [u32; 4],
    slot_size: usize,
    write_size: usize,
    image: Option<&[u8]>,
    dtype: Option<&str>,
) -> PyResult<(Bound<'py, PyBytes>, usize, u32)> {
    let dtype = params_dtype(optimizer.as_deref(), dtype)?;
    let p = Params::read(dtype, params)?;
    let check_len = |len: usize| match &optimizer {
        Some(o) if o.inner.len() != len => Err(misuse(format!(
            "params: {len} elements, but the optimizer has {}",
            o.inner.len()
        ))),
        _ => Ok(()),
    };
    check_len(p.part().tag().elements as usize)?;
    let mut img = image_of(image, slot_size)?;
    let progress = Progress { epoch, step, user };
    let (slot, sequence) = with_store(&mut img, slot_size, write_size, |s| match &optimizer {
        Some(o) => s.save(p.part(), o.inner.part(), &progress),
        None => s.save(p.part(), &(), &progress),
    })?;
    Ok((PyBytes::new(py, &img), slot, sequence))
}

/// Restores the newest valid checkpoint of the region `image` into `params` (in place) and
/// `optimizer` (its configuration too), as a device's `Store::restore` would: everything is
/// validated first, and on an error nothing is written. Returns
/// `(slot, sequence, epoch, step, user)`. `require` names hyperparameters the record must hold
/// (a Python class's fixed choices, such as AdamW's decoupled weight decay).
#[pyfunction]
#[pyo3(signature = (image, params, optimizer, *, slot_size, write_size, dtype=None, require=None))]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn checkpoint_restore(
    py: Python<'_>,
    image: &[u8],
    params: &Bound<'_, PyAny>,
    mut optimizer: Option<PyRefMut<'_, Optimizer>>,
    slot_size: usize,
    write_size: usize,
    dtype: Option<&str>,
    require: Option<&Bound<'_, PyDict>>,
) -> PyResult<(usize, u32, u32, u64, [u32; 4])> {
    let dtype = params_dtype(optimizer.as_deref(), dtype)?;
    let mut p = Params::read(dtype, params)?;
    // Writing the values back unchanged proves the array writable before anything is restored.
    p.write_back(params)?;
    let mut img = image_of(Some(image), slot_size)?;
    let mut progress = Progress::ZERO;
    let mut scratch = optimizer.as_ref().map(|o| o.inner.clone_box());
    let (slot, sequence) = with_store(&mut img, slot_size, write_size, |s| match &mut scratch {
        Some(o) => s.restore(p.part_mut(), o.part_mut(), &mut progress),
        None => s.restore(p.part_mut(), &mut (), &mut progress),
    })?;
    if let (Some(o), Some(require)) = (&scratch, require) {
        let held = PyDict::new(py);
        o.kwargs(&held)?;
        for (key, want) in require.iter() {
            let found = held.get_item(&key)?;
            if !found.as_ref().is_some_and(|f| f.eq(&want).unwrap_or(false)) {
                return Err(misuse(format!(
                    "the checkpoint's {key} is {}, this optimizer needs {want}",
                    found.map_or_else(|| "absent".to_string(), |f| f.to_string())
                )));
            }
        }
    }
    p.write_back(params)?;
    if let (Some(o), Some(restored)) = (optimizer.as_mut(), scratch) {
        o.inner = restored;
    }
    Ok((slot, sequence, progress.epoch, progress.step, progress.user))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(checkpoint_save, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_restore, m)?)?;
    Ok(())
}

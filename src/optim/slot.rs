//! Optional state buffers chosen in the type, so an optimizer holds exactly the memory it needs.
//!
//! AMSGrad's running maximum, RMSprop's momentum buffer and RMSprop's centred gradient average
//! exist only for some configurations. Rather than always reserving them, the optimizer takes a
//! type parameter that is either [`On`] (an `[T; N]` array) or [`Off`] (a zero-sized [`Absent`]).

use crate::num::StateValue;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::On {}
    impl Sealed for super::Off {}
}

/// Selects whether an optional state buffer exists: [`On`] or [`Off`].
pub trait Slot: sealed::Sealed + 'static {
    /// The storage: `[T; N]` for [`On`], [`Absent`] for [`Off`].
    type Buf<T: StateValue, const N: usize>: SlotBuf<T>;
    /// Whether the buffer exists.
    const ON: bool;
}

/// The buffer exists (`[T; N]`, `N · size_of::<T>()` bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct On;

/// The buffer does not exist (zero bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Off;

/// The zero-sized storage of a buffer that is [`Off`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Absent;

/// Access to an optional state buffer.
pub trait SlotBuf<T>: Copy + core::fmt::Debug + 'static {
    /// The buffer filled with zeros (usable in `const` context).
    const INIT: Self;
    /// The elements, or `None` if the buffer is [`Absent`].
    fn as_slice(&self) -> Option<&[T]>;
    /// The elements mutably, or `None` if the buffer is [`Absent`].
    fn as_mut_slice(&mut self) -> Option<&mut [T]>;
}

impl<T: StateValue, const N: usize> SlotBuf<T> for [T; N] {
    const INIT: Self = [T::ZERO; N];
    #[inline(always)]
    fn as_slice(&self) -> Option<&[T]> {
        Some(self)
    }
    #[inline(always)]
    fn as_mut_slice(&mut self) -> Option<&mut [T]> {
        Some(self)
    }
}

impl<T> SlotBuf<T> for Absent {
    const INIT: Self = Absent;
    #[inline(always)]
    fn as_slice(&self) -> Option<&[T]> {
        None
    }
    #[inline(always)]
    fn as_mut_slice(&mut self) -> Option<&mut [T]> {
        None
    }
}

impl Slot for On {
    type Buf<T: StateValue, const N: usize> = [T; N];
    const ON: bool = true;
}

impl Slot for Off {
    type Buf<T: StateValue, const N: usize> = Absent;
    const ON: bool = false;
}

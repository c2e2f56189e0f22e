//! [`Checkpointable`] for every optimizer: configuration, step counter, the number type's
//! [`Aux`](crate::num::Num::Aux) state, then each moment buffer in declaration order.

use super::codec::{check_all, check_squares, put_all, take_all, Kind, Sink, Source, Tag, Word};
use super::{CheckpointError, Checkpointable};
use crate::optim::{
    Adagrad, AdagradConfig, AdagradNum, Adam, AdamConfig, AdamNum, Lion, LionConfig, LionNum,
    Momentum, MomentumConfig, MomentumNum, Optimizer, RmsProp, RmsPropConfig, RmsPropNum, Sgd,
    SgdConfig, SgdNum, Slot,
};

/// A configuration as words: each `f64` hyperparameter as two words (its bits), then one word
/// of boolean flags (bit `i` = the `i`-th flag; unknown bits are rejected).
pub(crate) trait ConfigCodec: Sized {
    const WORDS: usize;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError>;
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError>;
}

macro_rules! config_codec {
    ($config:ident { $($f:ident),* } flags { $($b:ident),* }) => {
        impl ConfigCodec for $config {
            const WORDS: usize = 2 * [$(stringify!($f)),*].len() + 1;
            fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
                $( Word::put(&self.$f, out)?; )*
                let set: &[bool] = &[$(self.$b),*];
                let flags = set
                    .iter()
                    .enumerate()
                    .fold(0u32, |f, (i, &b)| f | u32::from(b) << i);
                out.put(flags)
            }
            fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
                $( let $f = <f64 as Word>::take(src)?; )*
                let flags = src.take()?;
                #[allow(unused_mut, unused_variables)]
                let mut bits = (0..32).map(|i| flags >> i & 1 != 0);
                $( let $b = bits.next().unwrap_or(false); )*
                let known = <[&str]>::len(&[$(stringify!($b)),*]) as u32;
                if flags.checked_shr(known).unwrap_or(0) != 0 {
                    return Err(CheckpointError::InvalidValue {
                        what: "configuration flags",
                    });
                }
                Ok($config { $($f,)* $($b,)* })
            }
        }
    };
}

config_codec!(SgdConfig { lr, weight_decay } flags { maximize });
config_codec!(MomentumConfig { lr, momentum, dampening, weight_decay } flags { nesterov, maximize });
config_codec!(AdamConfig { lr, beta1, beta2, eps, weight_decay } flags { decoupled_weight_decay, maximize });
config_codec!(RmsPropConfig { lr, alpha, eps, weight_decay, momentum } flags { maximize });
config_codec!(AdagradConfig { lr, lr_decay, weight_decay, initial_accumulator_value, eps } flags { maximize });
config_codec!(LionConfig { lr, beta1, beta2, weight_decay } flags {});

/// Reads a configuration and checks it with `validate`.
pub(crate) fn check_config<C: ConfigCodec, R: Source + ?Sized>(
    src: &mut R,
    validate: impl FnOnce(&C) -> Result<(), crate::Error>,
) -> Result<(), CheckpointError> {
    let config = C::take(src)?;
    validate(&config).map_err(|e| match e {
        crate::Error::InvalidHyperparameter { name, requirement } => {
            CheckpointError::InvalidConfig { name, requirement }
        }
        _ => CheckpointError::InvalidValue {
            what: "optimizer configuration",
        },
    })
}

pub(crate) const fn tag(kind: Kind, flags: u8, number: u32, elements: usize) -> Tag {
    Tag {
        kind,
        flags,
        number,
        elements: elements as u32,
    }
}

impl<S, const N: usize> Checkpointable for Sgd<S, N>
where
    S: SgdNum + Word,
    S::Aux: Word,
{
    const TAG: Tag = tag(Kind::Sgd, 0, S::CODE, N);
    const WORDS: usize = SgdConfig::WORDS + 1 + <S::Aux as Word>::WORDS;
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        self.config().put(out)?;
        out.put(self.step_count())?;
        self.aux().put(out)
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        check_config(src, SgdConfig::validate)?;
        src.take()?;
        <S::Aux as Word>::take(src).map(|_| ())
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        let (config, step, aux) = self.state_mut();
        *config = ConfigCodec::take(src)?;
        *step = src.take()?;
        *aux = Word::take(src)?;
        Ok(())
    }
}

/// The optimizers with exactly one `[T; N]` buffer.
macro_rules! one_buffer {
    ($ty:ident, $bound:ident, $config:ident, $kind:ident, $buf:ident, $getter:ident, $check:ident) => {
        impl<S, const N: usize> Checkpointable for $ty<S, N>
        where
            S: $bound + Word,
            S::Aux: Word,
            S::$buf: Word,
        {
            const TAG: Tag = tag(Kind::$kind, 0, S::CODE, N);
            const WORDS: usize =
                $config::WORDS + 1 + <S::Aux as Word>::WORDS + N * <S::$buf as Word>::WORDS;
            fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
                self.config().put(out)?;
                out.put(self.step_count())?;
                self.aux().put(out)?;
                put_all(self.$getter(), out)
            }
            fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
                check_config(src, $config::validate)?;
                src.take()?;
                <S::Aux as Word>::take(src)?;
                $check::<S::$buf, R>(N, src)
            }
            fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
                let (config, step, aux, buf) = self.state_mut();
                *config = ConfigCodec::take(src)?;
                *step = src.take()?;
                *aux = Word::take(src)?;
                take_all(buf, src)
            }
        }
    };
}

one_buffer!(
    Momentum,
    MomentumNum,
    MomentumConfig,
    Momentum,
    Buffer,
    momentum_buffer,
    check_all
);
one_buffer!(
    Adagrad,
    AdagradNum,
    AdagradConfig,
    Adagrad,
    Sum,
    sum,
    check_squares
);
one_buffer!(Lion, LionNum, LionConfig, Lion, Moment, exp_avg, check_all);

impl<S, const N: usize, A: Slot> Checkpointable for Adam<S, N, A>
where
    S: AdamNum + Word,
    S::Aux: Word,
    S::Moment: Word,
    S::SqMoment: Word,
{
    const TAG: Tag = tag(Kind::Adam, A::ON as u8, S::CODE, N);
    const WORDS: usize = AdamConfig::WORDS
        + 1
        + <S::Aux as Word>::WORDS
        + N * <S::Moment as Word>::WORDS
        + N * <S::SqMoment as Word>::WORDS * (1 + A::ON as usize);
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        self.config().put(out)?;
        out.put(self.step_count())?;
        self.aux().put(out)?;
        put_all(self.exp_avg(), out)?;
        put_all(self.exp_avg_sq(), out)?;
        match self.max_exp_avg_sq() {
            Some(vmax) => put_all(vmax, out),
            None => Ok(()),
        }
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        check_config(src, AdamConfig::validate)?;
        src.take()?;
        <S::Aux as Word>::take(src)?;
        check_all::<S::Moment, R>(N, src)?;
        check_squares::<S::SqMoment, R>(N * (1 + A::ON as usize), src)
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        let (config, step, aux, m, v, vmax) = self.state_mut();
        *config = ConfigCodec::take(src)?;
        *step = src.take()?;
        *aux = Word::take(src)?;
        take_all(m, src)?;
        take_all(v, src)?;
        match vmax {
            Some(vmax) => take_all(vmax, src),
            None => Ok(()),
        }
    }
}

impl<S, const N: usize, M: Slot, C: Slot> Checkpointable for RmsProp<S, N, M, C>
where
    S: RmsPropNum + Word,
    S::Aux: Word,
    S::SqAvg: Word,
    S::Avg: Word,
{
    const TAG: Tag = tag(Kind::RmsProp, M::ON as u8 | (C::ON as u8) << 1, S::CODE, N);
    const WORDS: usize = RmsPropConfig::WORDS
        + 1
        + <S::Aux as Word>::WORDS
        + N * <S::SqAvg as Word>::WORDS
        + N * <S::Avg as Word>::WORDS * (M::ON as usize + C::ON as usize);
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        self.config().put(out)?;
        out.put(self.step_count())?;
        self.aux().put(out)?;
        put_all(self.square_avg(), out)?;
        if let Some(b) = self.momentum_buffer() {
            put_all(b, out)?;
        }
        match self.grad_avg() {
            Some(g) => put_all(g, out),
            None => Ok(()),
        }
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        check_config(src, Self::check_config)?;
        src.take()?;
        <S::Aux as Word>::take(src)?;
        check_squares::<S::SqAvg, R>(N, src)?;
        check_all::<S::Avg, R>(N * (M::ON as usize + C::ON as usize), src)
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        let (config, step, aux, sq, mb, ga) = self.state_mut();
        *config = ConfigCodec::take(src)?;
        *step = src.take()?;
        *aux = Word::take(src)?;
        take_all(sq, src)?;
        if let Some(b) = mb {
            take_all(b, src)?;
        }
        match ga {
            Some(g) => take_all(g, src),
            None => Ok(()),
        }
    }
}

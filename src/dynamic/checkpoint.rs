//! The run-time-sized optimizers as checkpoint parts ([`RuntimePart`]): the words, header tag
//! and checks of the static optimizer of the same length and variant, so a record saved from
//! one restores into the other (`tests/dynamic_checkpoint.rs`).

use super::{DynAdagrad, DynAdam, DynLion, DynMomentum, DynRmsProp, DynSgd};
use crate::checkpoint::codec::{check_all, put_all, take_all};
use crate::checkpoint::optim::{check_config, tag, ConfigCodec};
use crate::checkpoint::{CheckpointError, Kind, RuntimePart, Sink, Source, Tag, Word};
use crate::optim::{
    AdagradConfig, AdagradNum, AdamConfig, AdamNum, LionConfig, LionNum, MomentumConfig,
    MomentumNum, RmsPropConfig, RmsPropNum, SgdConfig, SgdNum,
};

impl<S> RuntimePart for DynSgd<S>
where
    S: SgdNum + Word,
    S::Aux: Word,
{
    fn tag(&self) -> Tag {
        tag(Kind::Sgd, 0, S::CODE, self.len)
    }
    fn words(&self) -> usize {
        SgdConfig::WORDS + 1 + <S::Aux as Word>::WORDS
    }
    fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError> {
        self.config.put(out)?;
        out.put(self.step)?;
        self.aux.put(out)
    }
    fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        check_config(src, SgdConfig::validate)?;
        src.take()?;
        <S::Aux as Word>::take(src).map(|_| ())
    }
    fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        self.config = ConfigCodec::take(src)?;
        self.step = src.take()?;
        self.aux = Word::take(src)?;
        Ok(())
    }
}

/// The optimizers with exactly one buffer.
macro_rules! one_buffer {
    ($ty:ident, $bound:ident, $config:ident, $kind:ident, $buf:ident, $field:ident) => {
        impl<S> RuntimePart for $ty<S>
        where
            S: $bound + Word,
            S::Aux: Word,
            S::$buf: Word,
        {
            fn tag(&self) -> Tag {
                tag(Kind::$kind, 0, S::CODE, self.$field.len())
            }
            fn words(&self) -> usize {
                $config::WORDS
                    + 1
                    + <S::Aux as Word>::WORDS
                    + self.$field.len() * <S::$buf as Word>::WORDS
            }
            fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError> {
                self.config.put(out)?;
                out.put(self.step)?;
                self.aux.put(out)?;
                put_all(&self.$field, out)
            }
            fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError> {
                check_config(src, $config::validate)?;
                src.take()?;
                <S::Aux as Word>::take(src)?;
                check_all::<S::$buf, _>(self.$field.len(), src)
            }
            fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError> {
                self.config = ConfigCodec::take(src)?;
                self.step = src.take()?;
                self.aux = Word::take(src)?;
                take_all(&mut self.$field, src)
            }
        }
    };
}

one_buffer!(
    DynMomentum,
    MomentumNum,
    MomentumConfig,
    Momentum,
    Buffer,
    momentum_buffer
);
one_buffer!(DynAdagrad, AdagradNum, AdagradConfig, Adagrad, Sum, sum);
one_buffer!(DynLion, LionNum, LionConfig, Lion, Moment, exp_avg);

impl<S> RuntimePart for DynAdam<S>
where
    S: AdamNum + Word,
    S::Aux: Word,
    S::Moment: Word,
    S::SqMoment: Word,
{
    fn tag(&self) -> Tag {
        tag(Kind::Adam, u8::from(self.amsgrad()), S::CODE, self.len())
    }
    fn words(&self) -> usize {
        AdamConfig::WORDS
            + 1
            + <S::Aux as Word>::WORDS
            + self.len() * <S::Moment as Word>::WORDS
            + self.len() * <S::SqMoment as Word>::WORDS * (1 + usize::from(self.amsgrad()))
    }
    fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError> {
        self.config.put(out)?;
        out.put(self.step)?;
        self.aux.put(out)?;
        put_all(&self.exp_avg, out)?;
        put_all(&self.exp_avg_sq, out)?;
        match &self.max_exp_avg_sq {
            Some(vmax) => put_all(vmax, out),
            None => Ok(()),
        }
    }
    fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        check_config(src, AdamConfig::validate)?;
        src.take()?;
        <S::Aux as Word>::take(src)?;
        check_all::<S::Moment, _>(self.len(), src)?;
        check_all::<S::SqMoment, _>(self.len() * (1 + usize::from(self.amsgrad())), src)
    }
    fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        self.config = ConfigCodec::take(src)?;
        self.step = src.take()?;
        self.aux = Word::take(src)?;
        take_all(&mut self.exp_avg, src)?;
        take_all(&mut self.exp_avg_sq, src)?;
        match &mut self.max_exp_avg_sq {
            Some(vmax) => take_all(vmax, src),
            None => Ok(()),
        }
    }
}

impl<S> RuntimePart for DynRmsProp<S>
where
    S: RmsPropNum + Word,
    S::Aux: Word,
    S::SqAvg: Word,
    S::Avg: Word,
{
    fn tag(&self) -> Tag {
        let flags = u8::from(self.momentum_buffer.is_some()) | u8::from(self.centered()) << 1;
        tag(Kind::RmsProp, flags, S::CODE, self.len())
    }
    fn words(&self) -> usize {
        let avgs = usize::from(self.momentum_buffer.is_some()) + usize::from(self.centered());
        RmsPropConfig::WORDS
            + 1
            + <S::Aux as Word>::WORDS
            + self.len() * <S::SqAvg as Word>::WORDS
            + self.len() * <S::Avg as Word>::WORDS * avgs
    }
    fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError> {
        self.config.put(out)?;
        out.put(self.step)?;
        self.aux.put(out)?;
        put_all(&self.square_avg, out)?;
        if let Some(b) = &self.momentum_buffer {
            put_all(b, out)?;
        }
        match &self.grad_avg {
            Some(g) => put_all(g, out),
            None => Ok(()),
        }
    }
    fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        check_config(src, |c| self.validate(c))?;
        src.take()?;
        <S::Aux as Word>::take(src)?;
        let avgs = usize::from(self.momentum_buffer.is_some()) + usize::from(self.centered());
        check_all::<S::SqAvg, _>(self.len(), src)?;
        check_all::<S::Avg, _>(self.len() * avgs, src)
    }
    fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        self.config = ConfigCodec::take(src)?;
        self.step = src.take()?;
        self.aux = Word::take(src)?;
        take_all(&mut self.square_avg, src)?;
        if let Some(b) = &mut self.momentum_buffer {
            take_all(b, src)?;
        }
        match &mut self.grad_avg {
            Some(g) => take_all(g, src),
            None => Ok(()),
        }
    }
}

//! [`MemoryPlan`]: the RAM of one training step of a declared network, by part, at compile
//! time, and the floor each part cannot go below in the same mode.

/// Bytes of RAM one training step uses, by part. Every generated network gives its plan
/// (`memory_plan`) and its floor (`memory_floor`) for a number type, an optimizer and where
/// the frozen parameters live.
///
/// The plan is exact for what the network and the optimizer hold: with the frozen parameters
/// in RAM, [`total`](Self::total) is `size_of` of the network plus `size_of` of the optimizer
/// (tested); the stack of a training step comes on top (3.7 to 4.2 KiB measured for DS-CNN Small
/// on a Cortex-M4F, `boards/README.md`).
///
/// The floor is what must exist at the peak of a step in the same mode, whatever the layout:
/// the same parameters, optimizer state, gradients and kept activations (the network keeps only
/// the values backward reads, so those parts are at their floor already), and for the scratch
/// only the buffers live at the same moment (the widest layer's input and output in forward,
/// its output gradient and input gradient in backward) plus the logits. The ratio
/// `total / floor.total` is what a better buffer layout could still save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Frozen parameters held in RAM (0 when they are referenced in flash).
    pub frozen: usize,
    /// Trainable parameters.
    pub trainable: usize,
    /// Optimizer state (moments, configuration, step counter).
    pub optimizer: usize,
    /// Gradient storage.
    pub gradients: usize,
    /// Activations kept from forward for backward (values, and 1-bit masks where a ReLU's
    /// derivative is all backward needs), and the loss gradient; with the padding the struct
    /// needs for its alignment.
    pub kept: usize,
    /// Forward and backward buffers, the logits included.
    pub scratch: usize,
    /// A frozen int8 backbone's share of RAM ([`Int8Network`](super::Int8Network)): its two
    /// activation buffers at one byte per value, the features dequantised for the head, and the
    /// backbone's descriptor; 0 for a network without one. Its constants are not counted: they
    /// stay in flash.
    pub int8: usize,
}

impl MemoryPlan {
    /// The whole step.
    pub const fn total(&self) -> usize {
        self.frozen
            .saturating_add(self.trainable)
            .saturating_add(self.optimizer)
            .saturating_add(self.gradients)
            .saturating_add(self.kept)
            .saturating_add(self.scratch)
            .saturating_add(self.int8)
    }

    /// Element counts times `size`, the bytes of one value of alignment `align` (`frozen_in_ram`
    /// false: 0 bytes of frozen parameters), `mask_words` 32-bit mask words, and `optimizer`
    /// bytes.
    #[allow(clippy::too_many_arguments)]
    pub const fn from_counts(
        (size, align): (usize, usize),
        frozen: usize,
        frozen_in_ram: bool,
        trainable: usize,
        optimizer: usize,
        gradients: usize,
        (kept, mask_words): (usize, usize),
        scratch: usize,
    ) -> MemoryPlan {
        let align = if align > 4 { align } else { 4 };
        let kept = kept
            .saturating_mul(size)
            .saturating_add(mask_words.saturating_mul(4))
            .next_multiple_of(align);
        MemoryPlan {
            frozen: if frozen_in_ram {
                frozen.saturating_mul(size)
            } else {
                0
            },
            trainable: trainable.saturating_mul(size),
            optimizer,
            gradients: gradients.saturating_mul(size),
            kept,
            scratch: scratch.saturating_mul(size),
            int8: 0,
        }
    }

    /// `total / floor.total` in thousandths (1000 = at the floor), for tables and tests.
    pub const fn per_mille_of(&self, floor: &MemoryPlan) -> usize {
        match self.total().saturating_mul(1000).checked_div(floor.total()) {
            Some(r) => r,
            None => 0,
        }
    }
}

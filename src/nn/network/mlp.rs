//! The [`mlp!`](crate::mlp) macro: parses the layer lines and writes the network struct, its
//! inherent methods and its [`Network`](super::Network) implementation.

/// Defines a multilayer perceptron whose every buffer is sized at compile time, with per-layer
/// fine-tuning modes. See [`nn::network`](crate::nn::network) for the syntax, the memory layout
/// and the generated API.
///
/// ```
/// edgetune::mlp! {
///     /// Two blobs, bias-only fine-tuning of a 3-layer net.
///     pub struct Blobs {
///         dense 2 -> 8, leaky_relu(0.1), bias;
///         dense 8 -> 8, sigmoid, bias;
///         dense 8 -> 2, bias;
///         loss softmax_cross_entropy;
///     }
/// }
/// assert_eq!(Blobs::<f32>::TRAINABLE, 8 + 8 + 2);
/// assert_eq!(Blobs::<f32>::TRAIN_BYTES, core::mem::size_of::<Blobs<f32>>());
/// ```
#[macro_export]
macro_rules! mlp {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $crate::__mlp_parse! { [$(#[$meta])* $vis $name] [] $($body)* }
    };
}

/// Parses the layer lines of [`mlp!`](crate::mlp) into `{ I O (activation) Mode }` entries.
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_parse {
    ([$($h:tt)*] [$($l:tt)*] dense $i:literal -> $o:literal $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts [$($h)*] [$($l)*] [$i $o] [] [] $($rest)* }
    };
    ([$($h:tt)*] [$($l:tt)*] loss softmax_cross_entropy ;) => {
        $crate::__mlp_index! {
            [$($h)*] softmax_cross_entropy [0] [even odd] [($crate::nn::network::Identity)] [] [] $($l)*
        }
    };
    ([$($h:tt)*] [$($l:tt)*] loss mse ;) => {
        $crate::__mlp_index! {
            [$($h)*] mse [0] [even odd] [($crate::nn::network::Identity)] [] [] $($l)*
        }
    };
    ([$($h:tt)*] [$($l:tt)*] loss $loss:ident ;) => {
        ::core::compile_error!(::core::concat!(
            "mlp!: unknown loss `", ::core::stringify!($loss),
            "`: use `softmax_cross_entropy` or `mse`"
        ));
    };
    (@opts $h:tt $l:tt $io:tt [] [] , relu $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [($crate::nn::Relu)] [] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [] [] , tanh $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [($crate::nn::Tanh)] [] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [] [] , sigmoid $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [($crate::nn::Sigmoid)] [] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [] [] , leaky_relu ($slope:literal) $($rest:tt)*) => {
        const _: () = ::core::assert!(
            ($slope as f64).is_finite() && $slope as f64 >= 0.0,
            "mlp!: the LeakyReLU slope must be finite and >= 0"
        );
        $crate::__mlp_parse! {
            @opts $h $l $io [($crate::nn::network::leaky_relu::<S>($slope as f64))] [] $($rest)*
        }
    };
    (@opts $h:tt $l:tt $io:tt [$($a:tt)*] [] , train $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [$($a)*] [Train] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [$($a:tt)*] [] , bias $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [$($a)*] [Bias] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [$($a:tt)*] [] , frozen $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [$($a)*] [Frozen] $($rest)* }
    };
    (@opts $h:tt [$($l:tt)*] [$i:literal $o:literal] [] [$($m:ident)?] ; $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h [$($l)*] [$i $o] [($crate::nn::network::Identity)] [$($m)?] ; $($rest)* }
    };
    (@opts $h:tt [$($l:tt)*] [$i:literal $o:literal] [$a:tt] [] ; $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h [$($l)*] [$i $o] [$a] [Train] ; $($rest)* }
    };
    (@opts $h:tt [$($l:tt)*] [$i:literal $o:literal] [$a:tt] [$m:ident] ; $($rest:tt)*) => {
        $crate::__mlp_parse! { $h [$($l)* { $i $o $a $m }] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt $a:tt $m:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "mlp!: expected `, relu`, `, leaky_relu(SLOPE)`, `, tanh`, `, sigmoid` (activation), then ",
            "`, train`, `, bias` or `, frozen` (mode), then `;`, near: ",
            ::core::stringify!($($rest)*)
        ));
    };
    ($h:tt $l:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "mlp!: expected `dense I -> O ...;` lines then `loss softmax_cross_entropy;` or ",
            "`loss mse;`, near: ",
            ::core::stringify!($($rest)*)
        ));
    };
}

/// Gives every layer its index, its ping-pong buffer and the activation of the layer below, in
/// forward and in reverse order.
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_index {
    // The last layer writes the scratch's `out`.
    (
        $h:tt $loss:ident [$($k:tt)*] [$cur:ident $other:ident] [$pact:tt] [$($fwd:tt)*] [$($rev:tt)*]
        { $i:literal $o:literal $act:tt $m:ident }
    ) => {
        $crate::__mlp_index! {
            $h $loss [$($k)* + 1] [$other $cur] [$act]
            [$($fwd)* { ($($k)*) $i $o $act $m out $other $pact }]
            [{ ($($k)*) $i $o $act $m out $other $pact } $($rev)*]
        }
    };
    (
        $h:tt $loss:ident [$($k:tt)*] [$cur:ident $other:ident] [$pact:tt] [$($fwd:tt)*] [$($rev:tt)*]
        { $i:literal $o:literal $act:tt $m:ident } $($rest:tt)*
    ) => {
        $crate::__mlp_index! {
            $h $loss [$($k)* + 1] [$other $cur] [$act]
            [$($fwd)* { ($($k)*) $i $o $act $m $cur $other $pact }]
            [{ ($($k)*) $i $o $act $m $cur $other $pact } $($rev)*]
            $($rest)*
        }
    };
    ($h:tt $loss:ident $k:tt $bufs:tt $pact:tt [$({ $kk:tt $i:literal $o:literal $act:tt $m:ident $cur:ident $other:ident $pa:tt })*] $rev:tt) => {
        $crate::__mlp_emit! {
            $h $loss
            (&[$($crate::nn::network::LayerSpec {
                inputs: $i,
                outputs: $o,
                mode: $crate::nn::network::Mode::$m,
            }),*])
            [$({ $kk $i $o $act $m $cur $other $pa })*] $rev
        }
    };
}

/// The target type, the target checks and the loss call of each loss of [`mlp!`](crate::mlp).
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_loss {
    (type softmax_cross_entropy, $s:ty, $n:expr) => {
        usize
    };
    (type mse, $s:ty, $n:expr) => {
        &[$s; $n]
    };
    (trait_type softmax_cross_entropy, $s:ty) => {
        usize
    };
    (trait_type mse, $s:ty) => {
        [$s]
    };
    // From the trait's `&Target` to the inherent target, checking the length.
    (from_trait softmax_cross_entropy, $s:ty, $n:expr, $t:expr) => {
        ::core::result::Result::<usize, $crate::Error>::Ok(*$t)
    };
    (from_trait mse, $s:ty, $n:expr, $t:expr) => {
        <&[$s; $n]>::try_from($t).map_err(|_| $crate::Error::LengthMismatch {
            expected: $n,
            found: $t.len(),
        })
    };
    // Checks a target before anything is computed: the label's range, or every value.
    (check softmax_cross_entropy, $n:expr, $t:expr) => {
        if $t < $n {
            ::core::result::Result::Ok(())
        } else {
            ::core::result::Result::Err($crate::Error::from($crate::nn::NnError::LabelOutOfRange {
                label: $t,
                classes: $n,
            }))
        }
    };
    (check mse, $n:expr, $t:expr) => {
        $crate::nn::network::check_target(&$t[..])
    };
    (hit softmax_cross_entropy, $z:expr, $t:expr) => {
        ::core::option::Option::Some($crate::nn::network::argmax($z) == $t)
    };
    (hit mse, $z:expr, $t:expr) => {
        ::core::option::Option::None
    };
    (run softmax_cross_entropy, $z:expr, $t:expr, $dz:expr) => {
        $crate::nn::softmax_cross_entropy($z, $t, $dz).map_err($crate::Error::from)
    };
    (run mse, $z:expr, $t:expr, $dz:expr) => {
        ::core::result::Result::<_, $crate::Error>::Ok($crate::nn::mse($z, $t, $dz))
    };
}

/// Writes the network struct and its methods.
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_emit {
    (
        [$(#[$meta:meta])* $vis:vis $name:ident] $loss:ident $spec:tt
        [$({ $k:tt $i:literal $o:literal ($($act:tt)*) $m:ident $cur:ident $other:ident $pact:tt })*]
        [$({ $rk:tt $ri:literal $ro:literal $ract:tt $rm:ident $rcur:ident $rother:ident ($($rpact:tt)*) })*]
    ) => {
        const _: () = ::core::assert!(
            $crate::nn::network::chain_ok($spec),
            ::core::concat!(
                "mlp! ", ::core::stringify!($name), ": every layer's input count must equal the output ",
                "count of the layer before, and no size may be 0"
            )
        );

        $(#[$meta])*
        ///
        /// Generated by [`edgetune::mlp!`]: see `edgetune::nn::network` for the layout, the RAM
        /// constants and the methods.
        #[derive(Clone, Debug)]
        $vis struct $name<S, F = [S; $crate::nn::network::frozen($spec)]> {
            frozen: F,
            trainable: [S; $crate::nn::network::trainable($spec)],
            grads: [S; $crate::nn::network::trainable($spec)],
            kept: [S; $crate::nn::network::kept_activations($spec)],
            dlogits: [S; $crate::nn::network::outputs($spec)],
            work: $crate::nn::network::Scratch<
                S,
                { $crate::nn::network::hidden_width($spec, false) },
                { $crate::nn::network::hidden_width($spec, true) },
                { $crate::nn::network::outputs($spec) },
            >,
        }

        #[allow(dead_code)]
        impl<S: $crate::nn::Scalar> $name<S> {
            /// The layer table every size is computed from.
            pub const LAYERS: &'static [$crate::nn::network::LayerSpec] = $spec;
            /// All parameters.
            pub const PARAMS: usize = $crate::nn::network::params($spec);
            /// Elements the optimizer steps (the trainable arena, and the gradient arena).
            pub const TRAINABLE: usize = $crate::nn::network::trainable($spec);
            /// Elements no optimizer touches (the frozen arena).
            pub const FROZEN: usize = $crate::nn::network::frozen($spec);
            /// Elements kept from forward for backward: activations and the loss gradient.
            pub const KEPT: usize = $crate::nn::network::kept_activations($spec)
                + $crate::nn::network::outputs($spec);
            /// Elements of the forward scratch (two ping-pong buffers and the outputs).
            pub const SCRATCH: usize = $crate::nn::network::hidden_width($spec, false)
                + $crate::nn::network::hidden_width($spec, true)
                + $crate::nn::network::outputs($spec);
            /// Inputs of the first layer.
            pub const INPUTS: usize = $crate::nn::network::inputs($spec);
            /// Outputs of the last layer.
            pub const OUTPUTS: usize = $crate::nn::network::outputs($spec);
            /// Bytes of the frozen parameters (RAM unless they are referenced in flash).
            pub const FROZEN_BYTES: usize = Self::FROZEN * ::core::mem::size_of::<S>();
            /// RAM for inference: every parameter plus the scratch, `(PARAMS + SCRATCH)·size_of::<S>()`.
            pub const INFER_BYTES: usize =
                (Self::PARAMS + Self::SCRATCH) * ::core::mem::size_of::<S>();
            /// RAM for training without the optimizer, `size_of::<Self>()`:
            /// `(PARAMS + TRAINABLE + KEPT + SCRATCH)·size_of::<S>()`.
            pub const TRAIN_BYTES: usize = (Self::PARAMS
                + Self::TRAINABLE
                + Self::KEPT
                + Self::SCRATCH)
                * ::core::mem::size_of::<S>();

            /// [`TRAIN_BYTES`](Self::TRAIN_BYTES) plus the optimizer `O` (its moments,
            /// configuration and step counter).
            pub const fn train_bytes_with<O>() -> usize {
                Self::TRAIN_BYTES + ::core::mem::size_of::<O>()
            }

            /// Everything zero, frozen parameters in RAM (`const`: a `static` in `.bss`); fill it
            /// with `import`.
            pub const fn zeroed() -> Self {
                Self::with_frozen([<S as $crate::num::StateValue>::ZERO; $crate::nn::network::frozen($spec)])
            }

            /// A zeroed scratch for [`forward`](Self::forward).
            pub const fn scratch() -> $crate::nn::network::Scratch<
                S,
                { $crate::nn::network::hidden_width($spec, false) },
                { $crate::nn::network::hidden_width($spec, true) },
                { $crate::nn::network::outputs($spec) },
            > {
                $crate::nn::network::Scratch::zeroed()
            }

            /// The frozen elements of all parameters in torch order (`const`: builds a flash
            /// `static` for `with_frozen(&FROZEN)` at compile time).
            pub const fn split_frozen(
                all: &[S; $crate::nn::network::params($spec)],
            ) -> [S; $crate::nn::network::frozen($spec)] {
                $crate::nn::network::gather($spec, all, false)
            }

            /// The trainable elements of all parameters in torch order (`const`).
            pub const fn split_trainable(
                all: &[S; $crate::nn::network::params($spec)],
            ) -> [S; $crate::nn::network::trainable($spec)] {
                $crate::nn::network::gather($spec, all, true)
            }

            /// Loads all parameters from one flat slice in torch order (`dense 0 W` row by row,
            /// `b`, `dense 1 W`, ...). [`LengthMismatch`]($crate::Error::LengthMismatch), with
            /// nothing written, unless it has exactly `PARAMS` elements.
            pub fn import(&mut self, src: &[S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::import($spec, Some(&mut self.frozen[..]), &mut self.trainable, src)
            }
        }

        #[allow(dead_code)]
        impl<S, F> $name<S, F>
        where
            S: $crate::nn::Scalar,
            F: $crate::nn::network::FrozenParams<S, { $crate::nn::network::frozen($spec) }>,
        {
            /// A network over the given frozen parameters and trainable arena.
            pub const fn from_parts(
                frozen: F,
                trainable: [S; $crate::nn::network::trainable($spec)],
            ) -> Self {
                $name {
                    frozen,
                    trainable,
                    grads: [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::trainable($spec)],
                    kept: [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::kept_activations($spec)],
                    dlogits: [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::outputs($spec)],
                    work: $crate::nn::network::Scratch::zeroed(),
                }
            }

            /// A network over the given frozen parameters (for example `&FLASH_STATIC`), with the
            /// trainable arena zeroed (fill it with `import_trainable`).
            pub const fn with_frozen(frozen: F) -> Self {
                Self::from_parts(
                    frozen,
                    [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::trainable($spec)],
                )
            }

            /// The outputs (logits) for input `x`, computed in `scratch`; `&self` only reads.
            /// [`InvalidInput`]($crate::Error::InvalidInput) if an element of `x` is NaN, ±∞
            /// or (fixed point) saturated; nothing is computed then.
            pub fn forward<'s>(
                &self,
                x: &[S; $crate::nn::network::inputs($spec)],
                scratch: &'s mut $crate::nn::network::Scratch<
                    S,
                    { $crate::nn::network::hidden_width($spec, false) },
                    { $crate::nn::network::hidden_width($spec, true) },
                    { $crate::nn::network::outputs($spec) },
                >,
            ) -> ::core::result::Result<&'s [S; $crate::nn::network::outputs($spec)], $crate::Error> {
                $crate::nn::network::check_input(x)?;
                Self::run_forward(self.frozen.params(), &self.trainable, x, scratch, None);
                Ok(&scratch.out)
            }

            /// [`forward`](Self::forward) in a scratch on the stack, returning the outputs.
            pub fn infer(
                &self,
                x: &[S; $crate::nn::network::inputs($spec)],
            ) -> ::core::result::Result<[S; $crate::nn::network::outputs($spec)], $crate::Error> {
                let mut scratch = $crate::nn::network::Scratch::zeroed();
                self.forward(x, &mut scratch).copied()
            }

            /// The index of the largest output (the predicted class; ties go to the lowest).
            pub fn predict(
                &self,
                x: &[S; $crate::nn::network::inputs($spec)],
            ) -> ::core::result::Result<usize, $crate::Error> {
                Ok($crate::nn::network::argmax(&self.infer(x)?))
            }

            /// Forward and loss only (evaluation); nothing is changed. A bad input or target is an
            /// error.
            pub fn loss(
                &self,
                x: &[S; $crate::nn::network::inputs($spec)],
                target: $crate::__mlp_loss!(type $loss, S, $crate::nn::network::outputs($spec)),
            ) -> ::core::result::Result<S, $crate::Error> {
                $crate::__mlp_loss!(check $loss, $crate::nn::network::outputs($spec), target)?;
                let mut scratch = $crate::nn::network::Scratch::zeroed();
                let out = self.forward(x, &mut scratch)?;
                let mut dz = [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::outputs($spec)];
                $crate::__mlp_loss!(run $loss, out, target, &mut dz)
            }

            /// Forward, loss and backward for one sample: **adds** the gradient of the loss into
            /// the gradient arena (call [`zero_grad`](Self::zero_grad) between batches) and
            /// returns the loss. A bad input ([`InvalidInput`]($crate::Error::InvalidInput)),
            /// target ([`InvalidTarget`]($crate::Error::InvalidTarget)) or label
            /// ([`LabelOutOfRange`]($crate::nn::NnError::LabelOutOfRange)) is an error and
            /// leaves the gradients as they were. Frozen layers get no gradient; backward stops
            /// at the first trainable layer.
            pub fn accumulate(
                &mut self,
                x: &[S; $crate::nn::network::inputs($spec)],
                target: $crate::__mlp_loss!(type $loss, S, $crate::nn::network::outputs($spec)),
            ) -> ::core::result::Result<S, $crate::Error> {
                $crate::nn::network::check_input(x)?;
                $crate::__mlp_loss!(check $loss, $crate::nn::network::outputs($spec), target)?;
                self.accumulate_checked_values(x, target)
            }

            /// [`accumulate`](Self::accumulate) without the pass over the input's and target's
            /// values, for a sample that `check_sample` has already passed (the trainer checks a
            /// whole batch before writing anything). A bad label is still refused.
            #[inline(always)]
            fn accumulate_checked_values(
                &mut self,
                x: &[S; $crate::nn::network::inputs($spec)],
                target: $crate::__mlp_loss!(type $loss, S, $crate::nn::network::outputs($spec)),
            ) -> ::core::result::Result<S, $crate::Error> {
                let frozen = self.frozen.params();
                Self::run_forward(frozen, &self.trainable, x, &mut self.work, Some(&mut self.kept));
                let loss = $crate::__mlp_loss!(run $loss, &self.work.out, target, &mut self.dlogits)?;
                Self::run_backward(
                    frozen,
                    &self.trainable,
                    &mut self.grads,
                    x,
                    &self.kept,
                    &mut self.work,
                    &mut self.dlogits,
                );
                Ok(loss)
            }

            /// Sets every gradient to zero.
            pub fn zero_grad(&mut self) {
                $crate::nn::network::zero(&mut self.grads);
            }

            /// The gradient arena (same layout as [`trainable`](Self::trainable)).
            pub fn grads(&self) -> &[S; $crate::nn::network::trainable($spec)] {
                &self.grads
            }

            /// The gradient arena, mutably (for example to scale a summed batch gradient).
            pub fn grads_mut(&mut self) -> &mut [S; $crate::nn::network::trainable($spec)] {
                &mut self.grads
            }

            /// The trainable arena: every trainable element in torch order.
            pub fn trainable(&self) -> &[S; $crate::nn::network::trainable($spec)] {
                &self.trainable
            }

            /// The trainable arena, mutably (what an optimizer steps).
            pub fn trainable_mut(&mut self) -> &mut [S; $crate::nn::network::trainable($spec)] {
                &mut self.trainable
            }

            /// The trainable arena and the gradient arena together, as
            /// `Optimizer::step(params, grads)` takes them.
            pub fn trainable_and_grads(
                &mut self,
            ) -> (
                &mut [S; $crate::nn::network::trainable($spec)],
                &[S; $crate::nn::network::trainable($spec)],
            ) {
                (&mut self.trainable, &self.grads)
            }

            /// The frozen parameters: every frozen element in torch order.
            pub fn frozen(&self) -> &[S; $crate::nn::network::frozen($spec)] {
                self.frozen.params()
            }

            /// Writes all parameters into `out` in torch order. [`LengthMismatch`]($crate::Error::LengthMismatch),
            /// with nothing written, unless it has exactly `PARAMS` elements.
            pub fn export(&self, out: &mut [S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::export($spec, self.frozen.params(), &self.trainable, out)
            }

            /// Loads the trainable elements from all parameters in torch order (`PARAMS`
            /// elements; the frozen ones are skipped, so this works with frozen parameters in
            /// flash). [`LengthMismatch`]($crate::Error::LengthMismatch), with nothing written,
            /// on any other length.
            pub fn import_trainable(&mut self, src: &[S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::import($spec, None, &mut self.trainable, src)
            }

            // Every view below is sized by the same `const fn`s as the arrays it is cut from, so
            // none of the `?` can fail; if one did, buffers would be left partly written (never a
            // panic). The tests run every mode through every path.
            fn run_forward(
                frozen: &[S],
                trainable: &[S],
                x: &[S],
                work: &mut $crate::nn::network::Scratch<
                    S,
                    { $crate::nn::network::hidden_width($spec, false) },
                    { $crate::nn::network::hidden_width($spec, true) },
                    { $crate::nn::network::outputs($spec) },
                >,
                kept: Option<&mut [S]>,
            ) -> Option<()> {
                const LAYERS: &[$crate::nn::network::LayerSpec] = $spec;
                let mut fz: &[S] = frozen;
                let mut tr: &[S] = trainable;
                let training = kept.is_some();
                let mut kept: &mut [S] = kept.unwrap_or_default();
                let prev: &[S] = x;
                $(
                    let w = if const { LAYERS[$k].trains_weights() } {
                        $crate::nn::network::take_w::<S, $i, $o>(&mut tr)
                    } else {
                        $crate::nn::network::take_w::<S, $i, $o>(&mut fz)
                    }?;
                    let b = if const { LAYERS[$k].trains_bias() } {
                        $crate::nn::network::take::<S, $o>(&mut tr)
                    } else {
                        $crate::nn::network::take::<S, $o>(&mut fz)
                    }?;
                    let input: &[S; $i] = prev.first_chunk::<$i>()?;
                    let out: &mut [S; $o] = if training && const { $crate::nn::network::keeps_input(LAYERS, $k + 1) } {
                        $crate::nn::network::take_mut::<S, $o>(&mut kept)?
                    } else {
                        work.$cur.first_chunk_mut::<$o>()?
                    };
                    $crate::nn::dense::forward(w, b, input, out);
                    $crate::nn::Activation::<S>::forward_in_place(&$($act)*, out);
                    let prev: &[S] = out;
                )*
                let _ = (prev, kept, fz, tr);
                Some(())
            }

            #[allow(clippy::too_many_arguments)]
            fn run_backward(
                frozen: &[S],
                trainable: &[S],
                grads: &mut [S],
                x: &[S],
                kept: &[S],
                work: &mut $crate::nn::network::Scratch<
                    S,
                    { $crate::nn::network::hidden_width($spec, false) },
                    { $crate::nn::network::hidden_width($spec, true) },
                    { $crate::nn::network::outputs($spec) },
                >,
                dlogits: &mut [S],
            ) -> Option<()> {
                const LAYERS: &[$crate::nn::network::LayerSpec] = $spec;
                let mut fz: &[S] = frozen;
                let mut tr: &[S] = trainable;
                let mut gr: &mut [S] = grads;
                let mut kept: &[S] = kept;
                let dy: &mut [S] = dlogits;
                $(
                    let dy: &mut [S] = if const { $crate::nn::network::in_backward(LAYERS, $rk) } {
                        let trains_w = const { LAYERS[$rk].trains_weights() };
                        let trains_b = const { LAYERS[$rk].trains_bias() };
                        // From the back of each arena: b, then W.
                        if trains_b {
                            $crate::nn::network::take_back::<S, $ro>(&mut tr)?;
                        } else {
                            $crate::nn::network::take_back::<S, $ro>(&mut fz)?;
                        }
                        let w = if trains_w {
                            $crate::nn::network::take_w_back::<S, $ri, $ro>(&mut tr)
                        } else {
                            $crate::nn::network::take_w_back::<S, $ri, $ro>(&mut fz)
                        }?;
                        let db = if trains_b {
                            Some($crate::nn::network::take_back_mut::<S, $ro>(&mut gr)?)
                        } else {
                            None
                        };
                        let dw = if trains_w {
                            Some($crate::nn::network::take_w_back_mut::<S, $ri, $ro>(&mut gr)?)
                        } else {
                            None
                        };
                        let input: Option<&[S; $ri]> =
                            if const { $crate::nn::network::keeps_input(LAYERS, $rk) } {
                                Some($crate::nn::network::take_back::<S, $ri>(&mut kept)?)
                            } else if const { $rk == 0 } {
                                Some(x.first_chunk::<$ri>()?)
                            } else {
                                None
                            };
                        let dyv: &mut [S; $ro] = dy.first_chunk_mut::<$ro>()?;
                        let mut dx: Option<&mut [S; $ri]> =
                            if const { $crate::nn::network::has_input_grad(LAYERS, $rk) } {
                                Some(work.$rother.first_chunk_mut::<$ri>()?)
                            } else {
                                None
                            };
                        match (dw, db) {
                            (Some(dw), Some(db)) => {
                                $crate::nn::dense::backward(w, input?, dyv, Some((dw, db)), dx.as_deref_mut());
                            }
                            (_, db) => {
                                if let Some(db) = db {
                                    $crate::nn::network::add_into(db, dyv);
                                }
                                if let Some(dx) = dx.as_deref_mut() {
                                    $crate::nn::dense::backward(w, input?, dyv, None, Some(dx));
                                }
                            }
                        }
                        match dx {
                            Some(dx) => {
                                $crate::nn::Activation::<S>::backward_in_place(&$($rpact)*, input?, dx);
                                dx
                            }
                            None => &mut [],
                        }
                    } else {
                        // Below the first trainable layer: nothing left to do.
                        let _ = dy;
                        &mut []
                    };
                )*
                let _ = (dy, kept, gr, fz, tr);
                Some(())
            }
        }

        $crate::__network_impl! {
            $name, $loss,
            frozen: ($crate::nn::network::frozen($spec)),
            inputs: ($crate::nn::network::inputs($spec)),
            outputs: ($crate::nn::network::outputs($spec)),
            params: ($crate::nn::network::params($spec)),
            trainable: ($crate::nn::network::trainable($spec)),
            layer_count: ($spec.len()),
            layer_shape: (|k: usize| $spec.get(k).map($crate::nn::network::LayerSpec::shape)),
            layer_ranges: (|k: usize| $crate::nn::network::layer_ranges($spec, k)),
            load: (|f: ::core::option::Option<&mut [S]>, t: &mut [S], src: &[S]| {
                $crate::nn::network::import($spec, f, t, src)
            }),
        }
    };
}

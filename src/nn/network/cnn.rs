//! The [`cnn!`](crate::cnn) macro: parses the input and layer lines into a [`Plan`](super::Plan)
//! and writes the network struct, its inherent methods and its
//! [`Network`](super::Network) implementation.

/// Defines a sequential convolutional network whose every buffer is sized at compile time,
/// with per-layer fine-tuning modes. See [`nn::network`](crate::nn::network) for the syntax,
/// the memory layout and the generated API.
///
/// ```
/// edgetune::cnn! {
///     /// Activity recognition on 6-axis IMU windows: the convolutions stay as trained on the
///     /// host, the batch norms and the head adapt.
///     pub struct Har {
///         input [32, 6];
///         conv1d(6, 8, 5, padding = same), frozen;
///         batch_norm(8), relu, train;
///         max_pool1d(2);
///         conv1d(8, 8, 3, padding = 1, groups = 8), relu6, frozen;
///         global_avg_pool;
///         dense(8, 4);
///         loss softmax_cross_entropy;
///     }
/// }
/// assert_eq!(Har::<f32>::PARAMS, (8 * 5 * 6 + 8) + 16 + (8 * 3 + 8) + (8 * 4 + 4));
/// assert_eq!(Har::<f32>::TRAINABLE, 16 + 8 * 4 + 4);
/// assert_eq!(Har::<f32>::TRAIN_BYTES, core::mem::size_of::<Har<f32>>());
/// ```
///
/// A layer that does not fit what it receives is a compile error naming it:
/// ```compile_fail
/// edgetune::cnn! {
///     struct Bad {
///         input [16, 3];
///         conv1d(3, 4, 3);
///         conv1d(5, 4, 3); // receives 4 channels
///         global_avg_pool;
///         dense(4, 2);
///         loss softmax_cross_entropy;
///     }
/// }
/// ```
///
/// A sparse mode names at most the layer's output channels:
/// ```compile_fail
/// edgetune::cnn! {
///     struct Bad {
///         input [16, 3];
///         conv1d(3, 4, 3), train(5); // 4 output channels
///         global_avg_pool;
///         dense(4, 2);
///         loss softmax_cross_entropy;
///     }
/// }
/// ```
#[macro_export]
macro_rules! cnn {
    (
        $(#[$meta:meta])* $vis:vis struct $name:ident {
            input [$($dim:literal),+ $(,)?];
            $($body:tt)*
        }
    ) => {
        $crate::__cnn_parse! {
            [$(#[$meta])* $vis $name] ($crate::__cnn_dims!($($dim),+)) [0] [] $($body)*
        }
    };
    ($($t:tt)*) => {
        ::core::compile_error!(
            "cnn!: expected `struct Name { input [LEN, CHANNELS]; (or [H, W, CHANNELS];) layer lines; loss ...; }`"
        );
    };
}

/// The declared input shape.
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_dims {
    ($len:literal, $c:literal) => {
        $crate::nn::network::Dims::seq($len, $c)
    };
    ($h:literal, $w:literal, $c:literal) => {
        $crate::nn::network::Dims::map($h, $w, $c)
    };
    ($($d:literal),*) => {
        ::core::compile_error!("cnn!: `input [LEN, CHANNELS]` or `input [H, W, CHANNELS]`")
    };
}

/// A kernel or window size: `K` or `(KH, KW)`, as a tuple.
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_pair {
    (($a:literal, $b:literal)) => {
        ($a, $b)
    };
    ($k:literal) => {
        ($k, $k)
    };
}

/// One `key = value` option of a convolution or pooling layer, as an [`Opt`](crate::nn::network::Opt).
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_key {
    (stride = $v:tt) => {
        $crate::nn::network::Opt::Stride($crate::__cnn_pair!($v))
    };
    (padding = same) => {
        $crate::nn::network::Opt::Pad(
            $crate::nn::network::Pad::Same,
            $crate::nn::network::Pad::Same,
        )
    };
    (padding = valid) => {
        $crate::nn::network::Opt::Pad(
            $crate::nn::network::Pad::Each(0),
            $crate::nn::network::Pad::Each(0),
        )
    };
    (padding = $v:tt) => {{
        let (h, w) = $crate::__cnn_pair!($v);
        $crate::nn::network::Opt::Pad(
            $crate::nn::network::Pad::Each(h),
            $crate::nn::network::Pad::Each(w),
        )
    }};
    (groups = $v:literal) => {
        $crate::nn::network::Opt::Groups($v)
    };
    ($k:ident = $v:tt) => {
        ::core::compile_error!(::core::concat!(
            "cnn!: unknown option `",
            ::core::stringify!($k),
            " = ",
            ::core::stringify!($v),
            "`: use `stride = S`, `padding = P | same | valid` or `groups = G`"
        ))
    };
}

/// An activation or a mode after a layer, as an [`Opt`](crate::nn::network::Opt).
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_tail {
    (relu) => { $crate::nn::network::Opt::Act($crate::nn::network::Act::Relu) };
    (relu6) => { $crate::nn::network::Opt::Act($crate::nn::network::Act::Relu6) };
    (tanh) => { $crate::nn::network::Opt::Act($crate::nn::network::Act::Tanh) };
    (sigmoid) => { $crate::nn::network::Opt::Act($crate::nn::network::Act::Sigmoid) };
    (leaky_relu($s:literal)) => {
        $crate::nn::network::Opt::Act($crate::nn::network::Act::LeakyRelu($s as f64))
    };
    (train) => { $crate::nn::network::Opt::Mode($crate::nn::network::Mode::Train) };
    (bias) => { $crate::nn::network::Opt::Mode($crate::nn::network::Mode::Bias) };
    (frozen) => { $crate::nn::network::Opt::Mode($crate::nn::network::Mode::Frozen) };
    (train($k:literal)) => {
        $crate::nn::network::Opt::Channels($crate::nn::network::Mode::Train, $k)
    };
    (bias($k:literal)) => {
        $crate::nn::network::Opt::Channels($crate::nn::network::Mode::Bias, $k)
    };
    ($($t:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "cnn!: unknown `", ::core::stringify!($($t)*), "` after a layer: use an activation (`relu`, ",
            "`relu6`, `leaky_relu(SLOPE)`, `tanh`, `sigmoid`) then a mode (`train`, `bias`, `frozen`, ",
            "or `train(K)`, `bias(K)` for the first K output channels)"
        ))
    };
}

/// The [`Layer`](crate::nn::network::Layer) of one line, before its tail options.
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_layer {
    (conv1d($i:literal, $o:literal, $k:literal $(, $key:ident = $v:tt)* $(,)?)) => {
        $crate::nn::network::Layer::conv1d($i, $o, $k).with(&[$($crate::__cnn_key!($key = $v)),*])
    };
    (conv2d($i:literal, $o:literal, $k:tt $(, $key:ident = $v:tt)* $(,)?)) => {
        $crate::nn::network::Layer::conv2d($i, $o, $crate::__cnn_pair!($k))
            .with(&[$($crate::__cnn_key!($key = $v)),*])
    };
    (batch_norm($c:literal)) => {
        $crate::nn::network::Layer::batch_norm($c)
    };
    (max_pool1d($k:literal $(, $key:ident = $v:tt)* $(,)?)) => {
        $crate::nn::network::Layer::pool1d(false, $k).with(&[$($crate::__cnn_key!($key = $v)),*])
    };
    (avg_pool1d($k:literal $(, $key:ident = $v:tt)* $(,)?)) => {
        $crate::nn::network::Layer::pool1d(true, $k).with(&[$($crate::__cnn_key!($key = $v)),*])
    };
    (max_pool2d($k:tt $(, $key:ident = $v:tt)* $(,)?)) => {
        $crate::nn::network::Layer::pool2d(false, $crate::__cnn_pair!($k))
            .with(&[$($crate::__cnn_key!($key = $v)),*])
    };
    (avg_pool2d($k:tt $(, $key:ident = $v:tt)* $(,)?)) => {
        $crate::nn::network::Layer::pool2d(true, $crate::__cnn_pair!($k))
            .with(&[$($crate::__cnn_key!($key = $v)),*])
    };
    (global_avg_pool) => {
        $crate::nn::network::Layer::global_avg_pool()
    };
    (flatten) => {
        $crate::nn::network::Layer::flatten()
    };
    (dense($i:literal, $o:literal)) => {
        $crate::nn::network::Layer::dense($i, $o)
    };
    ($($t:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "cnn!: unknown layer `", ::core::stringify!($($t)*), "`: use conv1d(..), conv2d(..), ",
            "batch_norm(C), max_pool1d(..), avg_pool1d(..), max_pool2d(..), avg_pool2d(..), ",
            "global_avg_pool, flatten or dense(I, O)"
        ))
    };
}

/// Parses the layer lines into `{ layer-expression (line text) }` entries.
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_parse {
    ($h:tt $input:tt $k:tt [$($l:tt)*] update fused ; loss softmax_cross_entropy ;) => {
        $crate::__cnn_emit! { $h softmax_cross_entropy fused $input [$($l)*] }
    };
    ($h:tt $input:tt $k:tt [$($l:tt)*] update fused ; loss mse ;) => {
        $crate::__cnn_emit! { $h mse fused $input [$($l)*] }
    };
    ($h:tt $input:tt $k:tt [$($l:tt)*] update $u:ident ; $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "cnn!: unknown `update ", ::core::stringify!($u),
            ";`: `update fused;` (just before the loss) steps each layer as soon as its gradient is complete"
        ));
    };
    ($h:tt $input:tt $k:tt [$($l:tt)*] loss softmax_cross_entropy ;) => {
        $crate::__cnn_emit! { $h softmax_cross_entropy accumulate $input [$($l)*] }
    };
    ($h:tt $input:tt $k:tt [$($l:tt)*] loss mse ;) => {
        $crate::__cnn_emit! { $h mse accumulate $input [$($l)*] }
    };
    ($h:tt $input:tt $k:tt [$($l:tt)*] loss $loss:ident ;) => {
        ::core::compile_error!(::core::concat!(
            "cnn!: unknown loss `", ::core::stringify!($loss),
            "`: use `softmax_cross_entropy` or `mse`"
        ));
    };
    (
        $h:tt $input:tt [$($k:tt)*] [$($l:tt)*]
        $kind:ident $(($($args:tt)*))? $(, $tail:ident $(($targ:literal))?)* ; $($rest:tt)*
    ) => {
        $crate::__cnn_parse! {
            $h $input [$($k)* + 1]
            [$($l)* {
                ($crate::__cnn_layer!($kind $(($($args)*))?)
                    .with(&[$($crate::__cnn_tail!($tail $(($targ))?)),*]))
                ($($k)*)
                ($kind $(($($args)*))? $(, $tail $(($targ))?)*)
            }]
            $($rest)*
        }
    };
    ($h:tt $input:tt $k:tt $l:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "cnn!: expected a layer line `KIND(ARGS), ACTIVATION, MODE;` or `loss ...;`, near: ",
            ::core::stringify!($($rest)*)
        ));
    };
}

/// Writes the network struct and its methods.
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_emit {
    (
        [$(#[$meta:meta])* $vis:vis $name:ident] $loss:ident $update:ident ($input:expr)
        [$({ ($layer:expr) ($($k:tt)*) ($($line:tt)*) })*]
    ) => {
        $crate::__cnn_emit! {
            @go [$(#[$meta])* $vis $name] $loss $update
            ($crate::nn::network::Plan { input: $input, layers: &[$($layer),*] })
            [$(($($k)*) ($($line)*))*]
        }
    };
    (
        @go [$(#[$meta:meta])* $vis:vis $name:ident] $loss:ident $update:ident $plan:tt
        [$(($k:expr) $line:tt)*]
    ) => {
        $(
            const _: () = ::core::assert!(
                $plan.layer_ok($k),
                ::core::concat!(
                    "cnn! ", ::core::stringify!($name), ": layer `", ::core::stringify!($line),
                    "` does not fit the shape it receives (channels must match, a 1-D layer needs ",
                    "height 1, the window must fit the padded input, groups must divide both ",
                    "channel counts, a dense layer's inputs must equal h·w·c of what it receives, ",
                    "an option must belong to the layer, an activation comes before the mode and ",
                    "each at most once, a leaky_relu slope is finite and >= 0, and no size may be 0)"
                )
            );
        )*
        const _: () = ::core::assert!(
            $plan.valid(),
            ::core::concat!(
                "cnn! ", ::core::stringify!($name), ": a network needs at least one layer, and every ",
                "size must fit in a usize"
            )
        );
        $(#[$meta])*
        ///
        /// Generated by [`edgetune::cnn!`]: see `edgetune::nn::network` for the layout, the RAM
        /// constants and the methods.
        $vis struct $name<S, F = [S; $plan.frozen()]> {
            frozen: F,
            trainable: [S; $plan.trainable()],
            grads: [S; $crate::__cnn_grads!($update, $plan)],
            kept: [S; $plan.kept()],
            masks: [u32; $plan.mask_words()],
            dlogits: [S; $plan.outputs()],
            work: $crate::nn::network::Scratch<
                S,
                { $plan.hidden_width(false) },
                { $plan.hidden_width(true) },
                { $plan.outputs() },
            >,
        }

        // Written out: `derive` cannot see through the macro calls in the array lengths.
        impl<S: ::core::clone::Clone, F: ::core::clone::Clone> ::core::clone::Clone for $name<S, F> {
            fn clone(&self) -> Self {
                $name {
                    frozen: self.frozen.clone(),
                    trainable: self.trainable.clone(),
                    grads: self.grads.clone(),
                    kept: self.kept.clone(),
                    masks: self.masks,
                    dlogits: self.dlogits.clone(),
                    work: self.work.clone(),
                }
            }
        }

        impl<S: ::core::fmt::Debug, F: ::core::fmt::Debug> ::core::fmt::Debug for $name<S, F> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!($name))
                    .field("frozen", &self.frozen)
                    .field("trainable", &self.trainable)
                    .field("grads", &self.grads)
                    .field("kept", &self.kept)
                    .field("masks", &self.masks)
                    .field("dlogits", &self.dlogits)
                    .field("work", &self.work)
                    .finish()
            }
        }

        #[allow(dead_code)]
        impl<S: $crate::nn::Scalar> $name<S> {
            /// The declared input and layers, from which every size is computed.
            pub const PLAN: $crate::nn::network::Plan<'static> = $plan;
            /// All parameters.
            pub const PARAMS: usize = $plan.params();
            /// Elements the optimizer steps (the trainable arena, and the gradient arena).
            pub const TRAINABLE: usize = $plan.trainable();
            /// Elements no optimizer touches (the frozen arena).
            pub const FROZEN: usize = $plan.frozen();
            /// Elements of gradient storage: `TRAINABLE`, or with `update fused;` the largest
            /// layer's trainable elements.
            pub const GRADS: usize = $crate::__cnn_grads!($update, $plan);
            /// Elements kept from forward for backward: layer inputs and the loss gradient.
            pub const KEPT: usize = $plan.kept() + $plan.outputs();
            /// 32-bit words of 1-bit activation masks kept for backward (ReLU, ReLU6 and leaky
            /// ReLU derivatives that nothing else needs the values for).
            pub const MASK_WORDS: usize = $plan.mask_words();
            /// Elements of the forward scratch (two ping-pong buffers and the outputs).
            pub const SCRATCH: usize =
                $plan.hidden_width(false) + $plan.hidden_width(true) + $plan.outputs();
            /// Input elements (`h·w·c`, channels-last).
            pub const INPUTS: usize = $plan.inputs();
            /// Outputs of the last layer.
            pub const OUTPUTS: usize = $plan.outputs();
            /// Multiply-accumulates of one forward pass.
            pub const MACS: usize = $plan.macs();
            /// The weight-file shape `(inputs, outputs)` of each layer with parameters (see
            /// `Plan::weight_shapes`), for `edgetune::io::weights::parse`.
            pub const WEIGHT_SHAPES: &'static [(usize, usize)] =
                &$plan.weight_shapes::<{ $plan.param_layers() }>();
            /// Bytes of the frozen parameters (RAM unless they are referenced in flash).
            pub const FROZEN_BYTES: usize = Self::FROZEN * ::core::mem::size_of::<S>();
            /// RAM for inference: every parameter plus the scratch, `(PARAMS + SCRATCH)·size_of::<S>()`.
            pub const INFER_BYTES: usize =
                (Self::PARAMS + Self::SCRATCH) * ::core::mem::size_of::<S>();
            /// RAM for training without the optimizer, `size_of::<Self>()`:
            /// `(PARAMS + GRADS + KEPT + SCRATCH)·size_of::<S>() + 4·MASK_WORDS`, rounded up to
            /// the alignment of `S` and `u32`.
            pub const TRAIN_BYTES: usize = ((Self::PARAMS + Self::GRADS + Self::KEPT + Self::SCRATCH)
                * ::core::mem::size_of::<S>()
                + 4 * Self::MASK_WORDS)
                .next_multiple_of(if ::core::mem::align_of::<S>() > 4 {
                    ::core::mem::align_of::<S>()
                } else {
                    4
                });
            const PLACES: &'static [$crate::nn::network::Place] =
                &$plan.places::<{ $plan.len() }>();

            /// [`TRAIN_BYTES`](Self::TRAIN_BYTES) plus the optimizer `O`.
            pub const fn train_bytes_with<O>() -> usize {
                Self::TRAIN_BYTES + ::core::mem::size_of::<O>()
            }

            /// The RAM of one training step with optimizer `O`, by part; with
            /// `frozen_in_ram = false` the frozen parameters are referenced (a pointer, not
            /// counted) where they are, typically flash.
            pub const fn memory_plan<O>(frozen_in_ram: bool) -> $crate::nn::network::MemoryPlan {
                $crate::nn::network::MemoryPlan::from_counts(
                    (::core::mem::size_of::<S>(), ::core::mem::align_of::<S>()),
                    Self::FROZEN,
                    frozen_in_ram,
                    Self::TRAINABLE,
                    ::core::mem::size_of::<O>(),
                    Self::GRADS,
                    (Self::KEPT, Self::MASK_WORDS),
                    Self::SCRATCH,
                )
            }

            /// The floor of [`memory_plan`](Self::memory_plan) in the same mode: only the
            /// scratch differs (the buffers live at the same moment, not one per parity).
            pub const fn memory_floor<O>(frozen_in_ram: bool) -> $crate::nn::network::MemoryPlan {
                $crate::nn::network::MemoryPlan::from_counts(
                    (::core::mem::size_of::<S>(), ::core::mem::align_of::<S>()),
                    Self::FROZEN,
                    frozen_in_ram,
                    Self::TRAINABLE,
                    ::core::mem::size_of::<O>(),
                    Self::GRADS,
                    (Self::KEPT, Self::MASK_WORDS),
                    $plan.scratch_floor(),
                )
            }

            /// Everything zero, frozen parameters in RAM (`const`: a `static` in `.bss`).
            pub const fn zeroed() -> Self {
                Self::with_frozen([<S as $crate::num::StateValue>::ZERO; $plan.frozen()])
            }

            /// A zeroed scratch for [`forward`](Self::forward).
            pub const fn scratch() -> $crate::nn::network::Scratch<
                S,
                { $plan.hidden_width(false) },
                { $plan.hidden_width(true) },
                { $plan.outputs() },
            > {
                $crate::nn::network::Scratch::zeroed()
            }

            /// The frozen elements of all parameters in torch order (`const`: builds a flash
            /// `static` for `with_frozen(&FROZEN)` at compile time).
            pub const fn split_frozen(all: &[S; $plan.params()]) -> [S; $plan.frozen()] {
                $plan.gather(all, false)
            }

            /// The trainable elements of all parameters in torch order (`const`).
            pub const fn split_trainable(all: &[S; $plan.params()]) -> [S; $plan.trainable()] {
                $plan.gather(all, true)
            }

            /// Loads all parameters from one flat slice in torch order.
            /// [`LengthMismatch`]($crate::Error::LengthMismatch), with nothing written, unless it
            /// has exactly `PARAMS` elements.
            pub fn import(&mut self, src: &[S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::import_plan(&$plan, Some(&mut self.frozen[..]), &mut self.trainable, src)
            }
        }

        #[allow(dead_code)]
        impl<S, F> $name<S, F>
        where
            S: $crate::nn::Scalar,
            F: $crate::nn::network::FrozenParams<S, { $plan.frozen() }>,
        {
            /// A network over the given frozen parameters and trainable arena.
            pub const fn from_parts(frozen: F, trainable: [S; $plan.trainable()]) -> Self {
                $name {
                    frozen,
                    trainable,
                    grads: [<S as $crate::num::StateValue>::ZERO; $crate::__cnn_grads!($update, $plan)],
                    kept: [<S as $crate::num::StateValue>::ZERO; $plan.kept()],
                    masks: [0; $plan.mask_words()],
                    dlogits: [<S as $crate::num::StateValue>::ZERO; $plan.outputs()],
                    work: $crate::nn::network::Scratch::zeroed(),
                }
            }

            /// A network over the given frozen parameters (for example `&FLASH_STATIC`), with
            /// the trainable arena zeroed.
            pub const fn with_frozen(frozen: F) -> Self {
                Self::from_parts(frozen, [<S as $crate::num::StateValue>::ZERO; $plan.trainable()])
            }

            /// The outputs (logits) for input `x` (channels-last), computed in `scratch`.
            /// [`InvalidInput`]($crate::Error::InvalidInput) if an element of `x` is NaN, ±∞ or
            /// (fixed point) saturated; nothing is computed then.
            pub fn forward<'s>(
                &self,
                x: &[S; $plan.inputs()],
                scratch: &'s mut $crate::nn::network::Scratch<
                    S,
                    { $plan.hidden_width(false) },
                    { $plan.hidden_width(true) },
                    { $plan.outputs() },
                >,
            ) -> ::core::result::Result<&'s [S; $plan.outputs()], $crate::Error> {
                $crate::nn::network::check_input(x)?;
                let bufs = $crate::nn::network::Buffers {
                    even: &mut scratch.even,
                    odd: &mut scratch.odd,
                    out: &mut scratch.out,
                };
                $crate::nn::network::run_forward(
                    $name::<S>::PLACES, self.frozen.params(), &self.trainable, x, bufs, None,
                )?;
                Ok(&scratch.out)
            }

            /// [`forward`](Self::forward) in a scratch on the stack, returning the outputs.
            pub fn infer(
                &self,
                x: &[S; $plan.inputs()],
            ) -> ::core::result::Result<[S; $plan.outputs()], $crate::Error> {
                let mut scratch = $crate::nn::network::Scratch::zeroed();
                self.forward(x, &mut scratch).copied()
            }

            /// The index of the largest output (ties go to the lowest).
            pub fn predict(&self, x: &[S; $plan.inputs()]) -> ::core::result::Result<usize, $crate::Error> {
                Ok($crate::nn::network::argmax(&self.infer(x)?))
            }

            /// Forward and loss only; nothing is changed.
            pub fn loss(
                &self,
                x: &[S; $plan.inputs()],
                target: $crate::__mlp_loss!(type $loss, S, $plan.outputs()),
            ) -> ::core::result::Result<S, $crate::Error> {
                $crate::__mlp_loss!(check $loss, $plan.outputs(), target)?;
                let mut scratch = $crate::nn::network::Scratch::zeroed();
                let out = self.forward(x, &mut scratch)?;
                let mut dz = [<S as $crate::num::StateValue>::ZERO; $plan.outputs()];
                $crate::__mlp_loss!(run $loss, out, target, &mut dz)
            }

            /// The trainable arena: every trainable element in torch order.
            pub fn trainable(&self) -> &[S; $plan.trainable()] {
                &self.trainable
            }

            /// The trainable arena, mutably.
            pub fn trainable_mut(&mut self) -> &mut [S; $plan.trainable()] {
                &mut self.trainable
            }

            /// The frozen parameters in torch order.
            pub fn frozen(&self) -> &[S; $plan.frozen()] {
                self.frozen.params()
            }

            /// Writes all parameters into `out` in torch order
            /// ([`LengthMismatch`]($crate::Error::LengthMismatch), nothing written, unless it has
            /// exactly `PARAMS` elements).
            pub fn export(&self, out: &mut [S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::export_plan(&$plan, self.frozen.params(), &self.trainable, out)
            }

            /// Loads the trainable elements from all parameters in torch order (`PARAMS`
            /// elements; the frozen ones are skipped).
            pub fn import_trainable(&mut self, src: &[S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::import_plan(&$plan, None, &mut self.trainable, src)
            }
        }

        $crate::__cnn_update! { $update $name $loss $plan }
    };
}

/// The gradient storage of a `cnn!` network: the whole trainable arena, or (fused) the
/// largest layer's part of it.
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_grads {
    (accumulate, $plan:tt) => {
        $plan.trainable()
    };
    (fused, $plan:tt) => {
        $plan.max_layer_trainable()
    };
}

/// The training methods of a `cnn!` network: `accumulate` and the [`Network`] implementation,
/// or (fused) `step`.
///
/// [`Network`]: crate::nn::network::Network
#[doc(hidden)]
#[macro_export]
macro_rules! __cnn_update {
    (accumulate $name:ident $loss:ident $plan:tt) => {
        #[allow(dead_code)]
        impl<S, F> $name<S, F>
        where
            S: $crate::nn::Scalar,
            F: $crate::nn::network::FrozenParams<S, { $plan.frozen() }>,
        {
            /// Forward, loss and backward for one sample: **adds** the loss gradient into the
            /// gradient arena and returns the loss. A bad input, target or label is an error and
            /// leaves the gradients as they were. Backward stops at the first trainable layer.
            pub fn accumulate(
                &mut self,
                x: &[S; $plan.inputs()],
                target: $crate::__mlp_loss!(type $loss, S, $plan.outputs()),
            ) -> ::core::result::Result<S, $crate::Error> {
                $crate::nn::network::check_input(x)?;
                $crate::__mlp_loss!(check $loss, $plan.outputs(), target)?;
                self.accumulate_checked_values(x, target)
            }

            /// [`accumulate`](Self::accumulate) for a sample whose values are already checked.
            fn accumulate_checked_values(
                &mut self,
                x: &[S; $plan.inputs()],
                target: $crate::__mlp_loss!(type $loss, S, $plan.outputs()),
            ) -> ::core::result::Result<S, $crate::Error> {
                let frozen = self.frozen.params();
                let bufs = $crate::nn::network::Buffers {
                    even: &mut self.work.even,
                    odd: &mut self.work.odd,
                    out: &mut self.work.out,
                };
                let kept = $crate::nn::network::Kept { values: &mut self.kept, masks: &mut self.masks };
                $crate::nn::network::run_forward(
                    $name::<S>::PLACES, frozen, &self.trainable, x, bufs, Some(kept),
                )?;
                let loss = $crate::__mlp_loss!(run $loss, &self.work.out, target, &mut self.dlogits)?;
                let bufs = $crate::nn::network::BackwardBuffers {
                    even: &mut self.work.even,
                    odd: &mut self.work.odd,
                    dlogits: &mut self.dlogits,
                };
                $crate::nn::network::run_backward(
                    $name::<S>::PLACES, frozen, &self.trainable, &mut self.grads,
                    $crate::nn::network::Saved { x, values: &self.kept, masks: &self.masks },
                    bufs,
                )?;
                Ok(loss)
            }

            /// Sets every gradient to zero.
            pub fn zero_grad(&mut self) {
                $crate::nn::network::zero(&mut self.grads);
            }

            /// The gradient arena (same layout as [`trainable`](Self::trainable)).
            pub fn grads(&self) -> &[S; $plan.trainable()] {
                &self.grads
            }

            /// The gradient arena, mutably.
            pub fn grads_mut(&mut self) -> &mut [S; $plan.trainable()] {
                &mut self.grads
            }

            /// The trainable and gradient arenas together, as `Optimizer::step` takes them.
            pub fn trainable_and_grads(
                &mut self,
            ) -> (&mut [S; $plan.trainable()], &[S; $plan.trainable()]) {
                (&mut self.trainable, &self.grads)
            }

        }

        $crate::__network_impl! {
            $name, $loss,
            frozen: ($plan.frozen()),
            inputs: ($plan.inputs()),
            outputs: ($plan.outputs()),
            params: ($plan.params()),
            trainable: ($plan.trainable()),
            layer_count: ($plan.param_layers()),
            layer_shape: (|k: usize| $plan.layer_shape(k)),
            layer_ranges: (|k: usize| $plan.layer_ranges(k)),
            load: (|f: ::core::option::Option<&mut [S]>, t: &mut [S], src: &[S]| {
                $crate::nn::network::import_plan(&$plan, f, t, src)
            }),
        }
    };
    (fused $name:ident $loss:ident $plan:tt) => {
        #[allow(dead_code)]
        impl<S, F> $name<S, F>
        where
            S: $crate::nn::Scalar,
            F: $crate::nn::network::FrozenParams<S, { $plan.frozen() }>,
        {
            /// One training step on one sample with the update fused into backward: forward,
            /// loss, then from the last layer down each layer's gradient is formed in a buffer
            /// the size of the largest layer's and `opt` steps that layer at once
            /// ([`Optimizer::step_part`]($crate::optim::Optimizer::step_part)). The parameters
            /// and optimizer state are bit for bit those of `accumulate` then `step` on the same
            /// sample (one step count, one set of bias corrections). Returns the loss.
            ///
            /// # Errors
            /// A bad input, target or label, or an optimizer that cannot begin a step: nothing
            /// is changed. A non-finite gradient: [`FusedStepStopped`]($crate::Error::FusedStepStopped)
            /// with the number of layers already stepped; that layer and those below it are
            /// unchanged, and the optimizer's step count has advanced.
            pub fn step<O: $crate::optim::Optimizer<S, { $plan.trainable() }>>(
                &mut self,
                opt: &mut O,
                x: &[S; $plan.inputs()],
                target: $crate::__mlp_loss!(type $loss, S, $plan.outputs()),
            ) -> ::core::result::Result<S, $crate::Error> {
                $crate::nn::network::check_input(x)?;
                $crate::__mlp_loss!(check $loss, $plan.outputs(), target)?;
                let frozen = self.frozen.params();
                let bufs = $crate::nn::network::Buffers {
                    even: &mut self.work.even,
                    odd: &mut self.work.odd,
                    out: &mut self.work.out,
                };
                let kept = $crate::nn::network::Kept { values: &mut self.kept, masks: &mut self.masks };
                $crate::nn::network::run_forward(
                    $name::<S>::PLACES, frozen, &self.trainable, x, bufs, Some(kept),
                )?;
                let loss = $crate::__mlp_loss!(run $loss, &self.work.out, target, &mut self.dlogits)?;
                let mut part = opt.begin_parts()?;
                let bufs = $crate::nn::network::BackwardBuffers {
                    even: &mut self.work.even,
                    odd: &mut self.work.odd,
                    dlogits: &mut self.dlogits,
                };
                let result = $crate::nn::network::run_backward_fused(
                    $name::<S>::PLACES, frozen, &mut self.trainable, &mut self.grads,
                    $crate::nn::network::Saved { x, values: &self.kept, masks: &self.masks },
                    bufs,
                    &mut |p: &$crate::nn::network::Place, params: &mut [S], grads: &[S]| {
                        let range = p.trainable_at..p.trainable_at + params.len();
                        opt.step_part(&mut part, range, params, grads)
                    },
                );
                opt.end_parts(part);
                result.map(|_| loss)
            }
        }
    };
}

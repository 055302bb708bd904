"""ResNet v1 (He et al., 2015) on NCHW images: ``ResNet18`` ... ``ResNet200``.

The block structure is haiku's ``hk.nets.ResNet`` v1 (a bottleneck block for 50
layers and more); the padding is torchvision's (explicit, symmetric), and the
constructors, attribute names and defaults are PAX 0.5's, so PAX 0.5 code and
state dicts keep working.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from ..core.module import Module
from ..core.rng import next_rng_key
from ..nn.conv import Conv2D
from ..nn.linear import Linear
from ..nn.norms import BatchNorm2D
from ..nn.pooling import max_pool
from ..nn.validation import positive_ints

# PAX 0.5's BatchNorm settings for every ResNet normalization layer.
_BN_DECAY_RATE = 0.9
_SAME_3X3 = [(1, 1), (1, 1)]
_NO_PADDING = [(0, 0), (0, 0)]


def _batch_norm(num_channels: int, name: str, param_dtype: DTypeLike) -> BatchNorm2D:
    return BatchNorm2D(
        num_channels,
        create_scale=True,
        create_offset=True,
        decay_rate=_BN_DECAY_RATE,
        data_format="NCHW",
        name=name,
        param_dtype=param_dtype,
    )


def _conv(
    in_features: int,
    out_features: int,
    kernel_shape: int,
    stride: int | Sequence[int],
    rng_key: jax.Array,
    name: str,
    param_dtype: DTypeLike,
) -> Conv2D:
    return Conv2D(
        in_features,
        out_features,
        kernel_shape=kernel_shape,
        stride=stride,
        with_bias=False,
        padding=_SAME_3X3 if kernel_shape == 3 else _NO_PADDING,
        data_format="NCHW",
        rng_key=rng_key,
        name=name,
        param_dtype=param_dtype,
    )


class ResnetBlock(Module):
    """A ResNet v1 block: two 3x3 convolutions, or a 1x1-3x3-1x1 bottleneck whose
    inner width is ``out_channels // 4``, plus an optional 1x1 projection shortcut.

    Each convolution is followed by batch normalization; ReLU follows each but the
    last, and the sum with the shortcut. As in haiku, the last batch norm of a
    bottleneck block starts with ``scale = 0`` (the block starts as the identity).

    >>> import jax, jax.numpy as jnp
    >>> block = jax.eval_shape(lambda: ResnetBlock(8, 16, 2, True, bottleneck=False))
    >>> [conv.weight.shape for conv, bn in block.layers], block.proj_conv.weight.shape
    ([(3, 3, 8, 16), (3, 3, 16, 16)], (1, 1, 8, 16))
    >>> x = jax.ShapeDtypeStruct((2, 8, 5, 5), jnp.float32)
    >>> jax.eval_shape(lambda b, x: b(x), block.eval(), x).shape
    (2, 16, 3, 3)
    """

    layers: tuple[tuple[Conv2D, BatchNorm2D], ...]
    proj_conv: Conv2D | None
    proj_batchnorm: BatchNorm2D | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int | Sequence[int],
        use_projection: bool,
        bottleneck: bool,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        in_channels, out_channels = positive_ints(
            "ResnetBlock", in_channels=in_channels, out_channels=out_channels
        )
        if bottleneck and out_channels % 4 != 0:
            raise ValueError(
                f"ResnetBlock: a bottleneck block needs `out_channels` divisible by 4 "
                f"(its inner width is out_channels // 4), got {out_channels}."
            )
        if not isinstance(stride, Sequence):
            (stride,) = positive_ints("ResnetBlock", stride=stride)
        strides = (stride,) * 2 if isinstance(stride, int) else tuple(stride)
        if not use_projection and (in_channels != out_channels or any(s != 1 for s in strides)):
            raise ValueError(
                f"ResnetBlock: a block without a projection shortcut must keep the shape "
                f"of its input (in_channels == out_channels, stride 1), got in_channels="
                f"{in_channels}, out_channels={out_channels}, stride={stride!r}. Set "
                f"use_projection=True."
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.use_projection = bool(use_projection)
        self.bottleneck = bool(bottleneck)
        keys = jax.random.split(next_rng_key() if rng_key is None else rng_key, 4)

        if self.use_projection:
            self.proj_conv = _conv(
                in_channels, out_channels, 1, stride, keys[3], "proj_conv", param_dtype
            )
            self.proj_batchnorm = _batch_norm(out_channels, "proj_bn", param_dtype)
        else:
            self.proj_conv = None
            self.proj_batchnorm = None

        if bottleneck:
            inner = out_channels // 4
            last_bn = _batch_norm(out_channels, "bn3", param_dtype)
            if last_bn.scale is not None:  # haiku's scale_init=zeros
                last_bn = last_bn.replace(scale=jnp.zeros_like(last_bn.scale))
            self.layers = (
                (
                    _conv(in_channels, inner, 1, 1, keys[0], "conv1", param_dtype),
                    _batch_norm(inner, "bn1", param_dtype),
                ),
                (
                    _conv(inner, inner, 3, stride, keys[1], "conv2", param_dtype),
                    _batch_norm(inner, "bn2", param_dtype),
                ),
                (
                    _conv(inner, out_channels, 1, 1, keys[2], "conv3", param_dtype),
                    last_bn,
                ),
            )
        else:
            self.layers = (
                (
                    _conv(in_channels, out_channels, 3, stride, keys[0], "conv1", param_dtype),
                    _batch_norm(out_channels, "bn1", param_dtype),
                ),
                (
                    _conv(out_channels, out_channels, 3, 1, keys[1], "conv2", param_dtype),
                    _batch_norm(out_channels, "bn2", param_dtype),
                ),
            )

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """``(N, in_channels, H, W) -> (N, out_channels, H', W')``."""
        shortcut = inputs
        if self.proj_conv is not None and self.proj_batchnorm is not None:
            shortcut = self.proj_batchnorm(self.proj_conv(inputs))
        out = inputs
        for i, (conv, bn) in enumerate(self.layers):
            out = bn(conv(out))
            if i + 1 < len(self.layers):
                out = jax.nn.relu(out)
        return jax.nn.relu(out + shortcut)

    def __repr__(self) -> str:
        return self._repr(
            {
                "in_channels": self.in_channels,
                "out_channels": self.out_channels,
                "stride": self.stride,
                "use_projection": self.use_projection,
                "bottleneck": self.bottleneck,
            }
        )


class BlockGroup(Module):
    """``num_blocks`` ResNet blocks; the first one strides (and projects, if asked).

    >>> import jax
    >>> group = jax.eval_shape(lambda: BlockGroup(8, 16, 2, 2, False, use_projection=True))
    >>> [block.use_projection for block in group.blocks]
    [True, False]
    """

    blocks: list[ResnetBlock]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_blocks: int,
        stride: int | Sequence[int],
        bottleneck: bool,
        use_projection: bool,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        (num_blocks,) = positive_ints("BlockGroup", num_blocks=num_blocks)
        keys = jax.random.split(next_rng_key() if rng_key is None else rng_key, num_blocks)
        self.blocks = [
            ResnetBlock(
                in_channels if i == 0 else out_channels,
                out_channels,
                stride=stride if i == 0 else 1,
                use_projection=use_projection and i == 0,
                bottleneck=bottleneck,
                rng_key=keys[i],
                param_dtype=param_dtype,
            )
            for i in range(num_blocks)
        ]

    def __call__(self, inputs: jax.Array) -> jax.Array:
        out = inputs
        for block in self.blocks:
            out = block(out)
        return out

    def __repr__(self) -> str:
        return self._repr({"num_blocks": len(self.blocks)})


def _check_length(value: Sequence[Any], arg: str) -> None:
    if len(value) != 4:
        raise ValueError(
            f"ResNet: `{arg}` must have one entry per block group (4), got {len(value)}: "
            f"{tuple(value)!r}."
        )


class ResNet(Module):
    """A ResNet v1 on NCHW images: a 7x7 stride-2 convolution, batch norm, ReLU and
    a 3x3 stride-2 max pool, four block groups (strides 1, 2, 2, 2), a spatial
    mean and a linear layer (``logits``, zero-initialized).

    Args:
        input_channels: channels ``C`` of the ``(N, C, H, W)`` input images.
        blocks_per_group: the number of blocks of each of the 4 groups.
        num_classes: the number of output logits.
        bottleneck: bottleneck blocks (ResNet50 and deeper) or basic blocks.
        channels_per_group: the output channels of each group.
        use_projection: whether the first block of each group has a projection
            shortcut (needed where the channels or the resolution change).
        logits_config: keyword arguments of the final ``Linear`` (default
            ``w_init=jax.nn.initializers.zeros``).
        initial_conv_config: keyword arguments of the first ``Conv2D`` (defaults:
            64 output channels, kernel 7, stride 2, padding 3, no bias, NCHW).
        rng_key: the key of the weight initialization (default ``pax.next_rng_key()``).
        name: the module name.
        param_dtype: the dtype of every layer's parameters (default float32).

    The call maps ``(N, input_channels, H, W)`` images to ``(N, num_classes)``
    logits. Train mode uses batch statistics and updates their moving averages
    (call it in ``pax.pure``); eval mode (``net.eval()``) uses the averages.

    Training and evaluation::

        net, logits = pax.purecall(net, images)  # train mode: updates the statistics
        logits = net.eval()(images)

    Shapes only (``jax.eval_shape``: no memory, nothing computed):

    >>> import jax, jax.numpy as jnp
    >>> net = jax.eval_shape(lambda: ResNet(
    ...     3, (1, 1, 1, 1), 10, bottleneck=False, channels_per_group=(8, 16, 16, 32),
    ...     use_projection=(False, True, True, True), initial_conv_config={"out_features": 8}))
    >>> x = jax.ShapeDtypeStruct((2, 3, 16, 16), jnp.float32)
    >>> jax.eval_shape(lambda net, x: net(x), net.eval(), x).shape
    (2, 10)
    """

    CONFIGS: dict[int, dict[str, Any]] = {
        18: {
            "blocks_per_group": (2, 2, 2, 2),
            "bottleneck": False,
            "channels_per_group": (64, 128, 256, 512),
            "use_projection": (False, True, True, True),
        },
        34: {
            "blocks_per_group": (3, 4, 6, 3),
            "bottleneck": False,
            "channels_per_group": (64, 128, 256, 512),
            "use_projection": (False, True, True, True),
        },
        50: {
            "blocks_per_group": (3, 4, 6, 3),
            "bottleneck": True,
            "channels_per_group": (256, 512, 1024, 2048),
            "use_projection": (True, True, True, True),
        },
        101: {
            "blocks_per_group": (3, 4, 23, 3),
            "bottleneck": True,
            "channels_per_group": (256, 512, 1024, 2048),
            "use_projection": (True, True, True, True),
        },
        152: {
            "blocks_per_group": (3, 8, 36, 3),
            "bottleneck": True,
            "channels_per_group": (256, 512, 1024, 2048),
            "use_projection": (True, True, True, True),
        },
        200: {
            "blocks_per_group": (3, 24, 36, 3),
            "bottleneck": True,
            "channels_per_group": (256, 512, 1024, 2048),
            "use_projection": (True, True, True, True),
        },
    }

    initial_conv: Conv2D
    initial_batchnorm: BatchNorm2D
    block_groups: list[BlockGroup]
    logits: Linear

    def __init__(
        self,
        input_channels: int,
        blocks_per_group: Sequence[int],
        num_classes: int,
        bottleneck: bool = True,
        channels_per_group: Sequence[int] = (256, 512, 1024, 2048),
        use_projection: Sequence[bool] = (True, True, True, True),
        logits_config: Mapping[str, Any] | None = None,
        initial_conv_config: Mapping[str, Any] | None = None,
        name: str | None = None,
        *,
        rng_key: jax.Array | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        input_channels, num_classes = positive_ints(
            "ResNet", input_channels=input_channels, num_classes=num_classes
        )
        _check_length(blocks_per_group, "blocks_per_group")
        _check_length(channels_per_group, "channels_per_group")
        _check_length(use_projection, "use_projection")
        self.input_channels = input_channels
        self.num_classes = num_classes

        conv_config = dict(initial_conv_config or {})
        conv_config.setdefault("in_features", input_channels)
        conv_config.setdefault("out_features", 64)
        conv_config.setdefault("kernel_shape", 7)
        conv_config.setdefault("stride", 2)
        conv_config.setdefault("with_bias", False)
        conv_config.setdefault("padding", [(3, 3), (3, 3)])
        conv_config.setdefault("data_format", "NCHW")
        conv_config.setdefault("param_dtype", param_dtype)
        if conv_config["in_features"] != input_channels:
            raise ValueError(
                f"ResNet: initial_conv_config['in_features'] ({conv_config['in_features']}) "
                f"differs from input_channels ({input_channels}); set only input_channels."
            )
        if conv_config["data_format"] != "NCHW":
            raise ValueError(
                f"ResNet works on NCHW images, got initial_conv_config['data_format'] = "
                f"{conv_config['data_format']!r}. Transpose NHWC images with "
                f"`x.transpose(0, 3, 1, 2)` instead."
            )
        fc_config = dict(logits_config or {})
        fc_config.setdefault("w_init", jax.nn.initializers.zeros)
        fc_config.setdefault("param_dtype", param_dtype)

        keys = jax.random.split(next_rng_key() if rng_key is None else rng_key, 6)
        conv_config.setdefault("rng_key", keys[0])
        fc_config.setdefault("rng_key", keys[1])
        self.initial_conv = Conv2D(**conv_config, name="conv1")
        stem_channels = conv_config["out_features"]
        self.initial_batchnorm = _batch_norm(stem_channels, "bn1", param_dtype)

        self.block_groups = [
            BlockGroup(
                stem_channels if i == 0 else channels_per_group[i - 1],
                channels_per_group[i],
                blocks_per_group[i],
                stride=1 if i == 0 else 2,
                bottleneck=bottleneck,
                use_projection=bool(use_projection[i]),
                rng_key=keys[2 + i],
                param_dtype=param_dtype,
            )
            for i in range(4)
        ]
        self.logits = Linear(channels_per_group[-1], num_classes, **fc_config, name="fc")

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """``(N, input_channels, H, W)`` images to ``(N, num_classes)`` logits."""
        shape = jnp.shape(inputs)
        if len(shape) != 4 or shape[1] != self.input_channels:
            raise ValueError(
                f"{type(self).__name__} expects NCHW inputs of rank 4 (N, C, H, W) with "
                f"C = {self.input_channels} channels, got shape {shape}. (NHWC images: "
                f"`x.transpose(0, 3, 1, 2)`.)"
            )
        out = jax.nn.relu(self.initial_batchnorm(self.initial_conv(inputs)))
        # torchvision's max pool: padding 1, window 3, stride 2. After the ReLU the
        # values are >= 0, so zero padding acts as -inf padding.
        out = jnp.pad(out, [(0, 0), (0, 0), (1, 1), (1, 1)])
        out = max_pool(
            out, window_shape=(1, 1, 3, 3), strides=(1, 1, 2, 2), padding="VALID", channel_axis=1
        )
        for group in self.block_groups:
            out = group(out)
        return self.logits(jnp.mean(out, axis=(2, 3)))

    def __repr__(self) -> str:
        return self._repr({"input_channels": self.input_channels, "num_classes": self.num_classes})


class _ResNetN(ResNet):
    """A ResNet of one of the standard depths (the class attribute ``depth``)."""

    depth = 0

    def __init__(
        self,
        input_channels: int,
        num_classes: int,
        logits_config: Mapping[str, Any] | None = None,
        initial_conv_config: Mapping[str, Any] | None = None,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(
            input_channels,
            num_classes=num_classes,
            logits_config=logits_config,
            initial_conv_config=initial_conv_config,
            name=name,
            rng_key=rng_key,
            param_dtype=param_dtype,
            **ResNet.CONFIGS[self.depth],
        )


class ResNet18(_ResNetN):
    """ResNet18: basic blocks, ``(2, 2, 2, 2)`` per group, 64 to 512 channels.

    Args:
        input_channels: channels ``C`` of the ``(N, C, H, W)`` input images.
        num_classes: the number of output logits.
        logits_config: keyword arguments of the final ``Linear``.
        initial_conv_config: keyword arguments of the first ``Conv2D``.
        rng_key: the key of the weight initialization.
        name: the module name.
        param_dtype: the dtype of every layer's parameters (default float32).

    See :class:`ResNet`. With 3 input channels and 1000 classes it has 11,689,512
    trainable parameters, as torchvision's and haiku's ResNet18.

    Training and evaluation::

        net = ResNet18(3, 10, rng_key=jax.random.PRNGKey(0))
        net, logits = pax.purecall(net, images)  # (N, 3, H, W) -> (N, 10), train mode
        logits = net.eval()(images)

    Shapes only (``jax.eval_shape``: no memory, nothing computed):

    >>> import jax, jax.numpy as jnp
    >>> net = jax.eval_shape(lambda: ResNet18(3, 1000))
    >>> sum(w.size for w in jax.tree_util.tree_leaves(net.parameters()))
    11689512
    >>> x = jax.ShapeDtypeStruct((2, 3, 64, 64), jnp.float32)
    >>> jax.eval_shape(lambda net, x: net(x), net.eval(), x).shape
    (2, 1000)
    """

    depth = 18


class ResNet34(_ResNetN):
    """ResNet34: basic blocks, ``(3, 4, 6, 3)`` per group, 64 to 512 channels.

    Arguments as :class:`ResNet18`. 21,797,672 trainable parameters for
    ``ResNet34(3, 1000)``.

    >>> import jax
    >>> net = jax.eval_shape(lambda: ResNet34(3, 1000))  # shapes only, no memory
    >>> net.block_groups[2].blocks[5].layers[1][0].weight.shape
    (3, 3, 256, 256)
    """

    depth = 34


class ResNet50(_ResNetN):
    """ResNet50: bottleneck blocks, ``(3, 4, 6, 3)`` per group, 256 to 2048 channels.

    Arguments as :class:`ResNet18`. 25,557,032 trainable parameters for
    ``ResNet50(3, 1000)``, as torchvision's and haiku's ResNet50.

    >>> import jax
    >>> net = jax.eval_shape(lambda: ResNet50(3, 1000))  # shapes only, no memory
    >>> [conv.weight.shape for conv, bn in net.block_groups[0].blocks[0].layers]
    [(1, 1, 64, 64), (3, 3, 64, 64), (1, 1, 64, 256)]
    """

    depth = 50


class ResNet101(_ResNetN):
    """ResNet101: bottleneck blocks, ``(3, 4, 23, 3)`` per group.

    Arguments as :class:`ResNet18`; 44,549,160 trainable parameters for
    ``ResNet101(3, 1000)``.

    >>> import jax, pax
    >>> net = jax.eval_shape(lambda: pax.nets.ResNet101(3, 1000))  # shapes only
    >>> sum(w.size for w in jax.tree_util.tree_leaves(net.parameters()))
    44549160
    """

    depth = 101


class ResNet152(_ResNetN):
    """ResNet152: bottleneck blocks, ``(3, 8, 36, 3)`` per group.

    Arguments as :class:`ResNet18`; 60,192,808 trainable parameters for
    ``ResNet152(3, 1000)``.

    >>> import jax, pax
    >>> net = jax.eval_shape(lambda: pax.nets.ResNet152(3, 1000))  # shapes only
    >>> sum(w.size for w in jax.tree_util.tree_leaves(net.parameters()))
    60192808
    """

    depth = 152


class ResNet200(_ResNetN):
    """ResNet200: bottleneck blocks, ``(3, 24, 36, 3)`` per group.

    Arguments as :class:`ResNet18`; 64,673,832 trainable parameters for
    ``ResNet200(3, 1000)``.

    >>> import jax, pax
    >>> net = jax.eval_shape(lambda: pax.nets.ResNet200(3, 1000))  # shapes only
    >>> sum(w.size for w in jax.tree_util.tree_leaves(net.parameters()))
    64673832
    """

    depth = 200

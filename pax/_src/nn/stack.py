"""``Stack``: ``n`` copies of a block with stacked leaves, applied with ``jax.lax.scan``.

A model of ``n`` identical blocks written as a ``pax.Sequential`` is traced and
compiled ``n`` times over; a ``Stack`` holds every leaf of its blocks in one array
with the blocks on the leading axis and runs them as one ``jax.lax.scan``, so the
program holds the block once and compiles in a time that does not grow with ``n``.
The parts: ``stack_build.py`` (construction), ``stack_scan.py`` (the call),
``pax/_src/objax/stack_vars.py`` (the Objax-style variables, per block: the Objax
layer registers ``Stack.vars()``).
"""

import operator
from collections.abc import Callable, Iterator
from typing import Any

import jax

from ..core.mixed_precision import mixed_precision_method
from ..core.module import Module, construct, with_statics
from ..core.mutation import is_open
from ..core.rng import next_rng_key
from .decoding import update_site_of_stacked_blocks
from .sequential import Sequential
from .stack_build import build_blocks, check_no_variables, stack_blocks
from .stack_scan import plan_in_place, run_blocks, updated_blocks
from .validation import positive_ints


class Stack(Module):
    """``n`` blocks of one structure, stacked leaf by leaf, applied one after the other
    with ``jax.lax.scan``: the same function as ``pax.Sequential`` of the blocks, but
    traced and compiled once whatever ``n``.

    >>> import jax, jax.numpy as jnp, pax
    >>> def block(key):
    ...     return pax.Sequential(pax.Linear(8, 8, rng_key=key), jax.nn.relu)
    >>> stack = pax.Stack(block, 4, rng_key=jax.random.PRNGKey(0))
    >>> stack.blocks[0].weight.shape  # every leaf has the blocks on its leading axis
    (4, 8, 8)
    >>> x = jnp.ones((2, 8))
    >>> seq = stack.to_sequential()  # the same blocks, unrolled
    >>> bool(jnp.allclose(stack(x), seq(x), atol=1e-6))
    True
    >>> print(stack.summary())
    Stack(n=4, block=Sequential)
    └── 4 × Sequential
        ├── Linear(in_dim=8, out_dim=8, with_bias=True)
        └── x => relu(x)

    Block ``i`` is ``make_block(jax.random.split(rng_key, n)[i])``, built for all ``i``
    at once by ``jax.vmap(make_block)``: ``make_block`` runs once, on a traced key, so
    every block has the same static fields, and every random choice must come from the
    key it receives (a layer built without ``rng_key=`` would draw the same key from
    ``pax.next_rng_key()`` for every block: that raises ``ValueError``).

    * Each block maps its input to an output of the same shape and dtype (it is the
      scan carry); other arguments of the call are passed unchanged to every block.
      Called eagerly (on arrays, outside JAX transforms), the Stack runs as one
      compiled program, cached per shape, like a ``jax.jit`` function.
    * Stateful blocks work as in a ``Sequential``: in ``pax.pure`` (``pax.purecall``)
      each block updates its own state (batch-norm statistics, the key of a
      ``pax.Dropout``), and the call returns the Stack with the new stacked state. A
      ``Dropout`` in block ``i`` draws from block ``i``'s own key, so its mask differs
      from the other blocks' and equals that of block ``i`` of ``to_sequential()``.
    * ``parameters()``, ``pax.grad``, optimizers, ``state_dict()``, freezing and
      mixed precision see the stacked leaves (shape ``(n, *block_shape)``).
    * ``vars()`` names the variables per block, as the Sequential does:
      ``(Stack)[2](Linear).weight`` is block 2's slice of the stacked weight, and
      assigning it writes that slice.
    * ``stack[i]`` is block ``i``, ``stack[a:b]`` a Stack of those blocks, and
      ``to_sequential()`` / ``Stack.from_sequential(seq)`` convert both ways.

    Args:
      make_block: ``make_block(rng_key) -> pax.Module``, one block.
      n: the number of blocks (a positive int).
      rng_key: the key split into the blocks' keys (default ``pax.next_rng_key()``).
      name: the module name.
    """

    n: int
    blocks: Module

    def __init__(
        self,
        make_block: Callable[[jax.Array], Module],
        n: int,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if not callable(make_block) or isinstance(make_block, Module):
            raise TypeError(
                f"pax.Stack: `make_block` must be a function `rng_key -> block`, got "
                f"{type(make_block).__name__}. (To stack existing blocks, use "
                f"`Stack.from_sequential`.)"
            )
        (n,) = positive_ints("Stack", n=n)
        rng_key = next_rng_key() if rng_key is None else rng_key
        self.n = n
        self.blocks = build_blocks(make_block, jax.random.split(rng_key, n))

    # -- calling -----------------------------------------------------------------
    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """Apply the blocks in order: ``block_{n-1}(... block_0(x, *args, **kwargs) ...)``.

        Args:
          x: the input of the first block; every block returns the same shape and dtype.
          *args: further arguments, given unchanged to every block (e.g. a mask).
          **kwargs: likewise.

        Returns:
          The output of the last block.
        """
        y, update = run_blocks(self.blocks, self.n, x, args, kwargs)
        new_blocks = updated_blocks(self.blocks, update)
        if new_blocks is not None:
            self._store_blocks(new_blocks)
        return y

    @mixed_precision_method
    def update_site(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """One decoding step through the blocks, each by its ``update_site`` (after
        :func:`pax.nn.init_cache`): the output of the last block at this position."""
        new_blocks, y = update_site_of_stacked_blocks(self.blocks, x, *args, **kwargs)
        self._store_blocks(new_blocks)
        return y

    def _store_blocks(self, new_blocks: Module) -> None:
        """Keep the blocks' new state. Inside ``pax.pure`` the Stack is mutable and
        takes the new blocks. Inside an Objax transform (``pax.Jit(stack)``) only the
        modules owning the stacked arrays are, and they are updated in place."""
        if not is_open(self):
            plan: list[tuple[Module, str, Any]] = []
            if plan_in_place(self.blocks, new_blocks, plan) and all(is_open(m) for m, _, _ in plan):
                for module, attr, value in plan:
                    setattr(module, attr, value)
                return
        self.blocks = new_blocks  # outside pax.pure: the usual immutability error

    # -- blocks --------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Module]:
        return iter(self._unstacked())

    def __getitem__(self, index: int | slice) -> Any:
        """Block ``index`` (a module whose leaves are that block's slices), or for a
        slice a Stack of those blocks.

        >>> import jax, pax
        >>> stack = pax.Stack(lambda k: pax.Linear(3, 3, rng_key=k), 5)
        >>> stack[-1].weight.shape, len(stack[1:3])
        ((3, 3), 2)
        """
        if isinstance(index, slice):
            picked = range(self.n)[index]
            if len(picked) == 0:
                raise IndexError(
                    f"Stack[{index.start}:{index.stop}:{index.step}] selects no block of "
                    f"{self.n}; a Stack holds at least one."
                )
            blocks = jax.tree_util.tree_map(lambda leaf: leaf[index], self.blocks)
            return self.replace(n=len(picked), blocks=blocks)
        if not isinstance(index, jax.core.Tracer):
            index = operator.index(index)
            if not -self.n <= index < self.n:
                raise IndexError(f"Stack index {index} out of range for {self.n} blocks.")
        return jax.tree_util.tree_map(lambda leaf: leaf[index], self.blocks)

    def _unstacked(self) -> list[Module]:
        leaves, treedef = jax.tree_util.tree_flatten(self.blocks)
        parts = [list(leaf) for leaf in leaves]
        return [jax.tree_util.tree_unflatten(treedef, [p[i] for p in parts]) for i in range(self.n)]

    def to_sequential(self) -> Sequential:
        """The equivalent ``pax.Sequential``: block ``i`` holds slice ``i`` of every leaf.

        >>> import jax, pax
        >>> seq = pax.Stack(lambda k: pax.Linear(2, 2, rng_key=k), 3).to_sequential()
        >>> len(seq), seq[0].weight.shape
        (3, (2, 2))
        """
        seq = Sequential(*self._unstacked(), name=self.name)
        if seq.training != self.training:
            seq = with_statics(seq, {"_training": self.training})
        return seq

    @classmethod
    def from_sequential(
        cls, seq: Sequential | list[Module] | tuple[Module, ...], *, name: str | None = None
    ) -> "Stack":
        """A Stack of the layers of ``seq`` (a ``pax.Sequential`` or a list of modules),
        which must all have one structure.

        >>> import jax, pax
        >>> keys = jax.random.split(jax.random.PRNGKey(0), 3)
        >>> seq = pax.Sequential(*[pax.Linear(2, 2, rng_key=k) for k in keys])
        >>> stack = pax.Stack.from_sequential(seq)
        >>> stack.n, bool((stack[1].weight == seq[1].weight).all())
        (3, True)

        Raises:
          ValueError: naming the first block (and field) that differs from block 0.
        """
        if isinstance(seq, Sequential):
            blocks, training = list(seq.modules), seq.training
            name = seq.name if name is None else name
        elif isinstance(seq, (list, tuple)):
            blocks, training = list(seq), True
        else:
            raise TypeError(
                f"Stack.from_sequential expects a pax.Sequential or a list of modules, got "
                f"{type(seq).__name__}."
            )
        if not blocks:
            raise ValueError(
                "Stack.from_sequential: the Sequential is empty; a Stack needs n >= 1."
            )
        for i, block in enumerate(blocks):
            if not isinstance(block, Module):
                raise TypeError(
                    f"Stack.from_sequential: layer {i} is a {type(block).__name__}, not a "
                    f"pax.Module."
                )
            check_no_variables(block)
        stacked = stack_blocks(blocks)
        return cls.from_stacked_blocks(stacked, len(blocks), name=name, training=training)

    @classmethod
    def from_stacked_blocks(
        cls, blocks: Module, n: int, *, name: str | None = None, training: bool = True
    ) -> "Stack":
        """A Stack of ``n`` blocks given as one module whose leaves have the blocks on
        their leading axis (as ``stack.blocks``), without building anything.

        >>> import pax
        >>> stack = pax.Stack(lambda k: pax.Linear(2, 2, rng_key=k), 3)
        >>> again = pax.Stack.from_stacked_blocks(stack.blocks, 3)
        >>> again.blocks is stack.blocks, len(again)
        (True, 3)
        """
        if not isinstance(blocks, Module):
            raise TypeError(
                f"Stack.from_stacked_blocks: `blocks` must be a pax.Module, got "
                f"{type(blocks).__name__}."
            )
        (n,) = positive_ints("Stack", n=n)
        for path, leaf in jax.tree_util.tree_flatten_with_path(blocks)[0]:
            if jax.numpy.ndim(leaf) == 0 or jax.numpy.shape(leaf)[0] != n:
                raise ValueError(
                    f"Stack.from_stacked_blocks: every leaf needs the {n} blocks on its "
                    f"leading axis; `blocks{jax.tree_util.keystr(path)}` has shape "
                    f"{jax.numpy.shape(leaf)}."
                )

        def fill(stack: Stack) -> None:
            Module.__init__(stack, name=name, training=training)
            stack.n = n
            stack.blocks = blocks

        return construct(cls, fill)

    # -- printing --------------------------------------------------------------------
    def __repr__(self) -> str:
        return self._repr({"n": self.n, "block": type(self.blocks).__qualname__})

    def summary(self, return_list: bool = False) -> str | list[str]:
        """The Stack, then the summary of one block (shapes only: nothing is computed)."""
        block = jax.eval_shape(
            lambda blocks: jax.tree_util.tree_map(lambda leaf: leaf[0], blocks), self.blocks
        )
        block_lines = block.summary(return_list=True)
        lines = [repr(self), f"└── {self.n} × {block_lines[0]}"]
        lines.extend("    " + line for line in block_lines[1:])
        return lines if return_list else "\n".join(lines)

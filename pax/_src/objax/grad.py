"""``pax.Grad`` and ``pax.GradValues``: Objax-style gradients w.r.t. variables."""

from collections.abc import Callable, Sequence
from typing import Any

import jax

from .function import VarsWrapper, check_callable
from .swapping import changes_of, swapped, unique_storages, write_back
from .var_collection import VarCollection
from .variables import TrainVar


def _argnums(transform: str, input_argnums: int | Sequence[int] | None) -> tuple[int, ...]:
    if input_argnums is None:
        return ()
    if isinstance(input_argnums, int):
        input_argnums = (input_argnums,)
    out = tuple(input_argnums)
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in out):
        raise TypeError(
            f"{transform}: input_argnums must be non-negative ints, got {input_argnums!r}."
        )
    return out


class GradValues(VarsWrapper):
    """Gradients of ``f`` (its first output) w.r.t. the ``TrainVar`` variables of
    ``variables`` and the inputs ``input_argnums``, together with ``f``'s outputs.

    Calling it returns ``(gradients, values)``: ``gradients`` is a list with the
    gradients of the inputs (in ``input_argnums`` order) followed by those of the
    trainable variables (in ``variables`` iteration order); ``values`` is the list
    of ``f``'s outputs (``[output]`` if ``f`` returns a single value).

    >>> import jax, jax.numpy as jnp, pax
    >>> m = pax.Sequential(pax.Linear(2, 3), jax.nn.relu, pax.Linear(3, 2))
    >>> @pax.Function.with_vars(m.vars())
    ... def f(x, y):
    ...     return ((m(x) - y) ** 2).mean()
    >>> grad_val_f = pax.GradValues(f, m.vars())
    >>> g, (loss,) = grad_val_f(jnp.ones((4, 2)), jnp.zeros((4, 2)))
    >>> [x.shape for x in g]
    [(2, 3), (3,), (3, 2), (2,)]
    >>> g_head, _ = pax.GradValues(f, m[:1].vars())(jnp.ones((4, 2)), jnp.zeros((4, 2)))
    >>> len(g_head)
    2

    Inside the call, ``f`` sees the variables of ``variables`` as traced values, so it
    may read them through any path (``m.weight``, ``v.value``, a ``TrainRef``). The
    other variables of ``variables`` (``StateVar``, ``RandomState``, non-trainable
    raw arrays such as batch-norm statistics) are not differentiated; the values ``f``
    leaves in them are kept after the call. A variable ``f`` reads that is not in
    ``variables`` is a constant: it gets no gradient (it was not asked for); writing a
    traced value into it raises ``ValueError`` naming it (add it to ``variables``).
    Every variable asked for gets its gradient through whatever path ``f`` reads it,
    also when ``f`` is a ``pax.Function`` declaring fewer variables. The one way to
    get zeros is to ask for variables ``f`` never reads, e.g. the variables of a
    module object ``f`` no longer uses: after ``model = pax.pure(...)(model)`` call
    ``model.vars()`` again.

    Args:
      f: the function (or module) to differentiate; its first output must be a scalar.
      variables: the variables to differentiate (their ``TrainVar`` variables) and to
        update (the others).
      input_argnums: indices of positional inputs to differentiate too.
    """

    _transform = "pax.GradValues"

    def __init__(
        self,
        f: Callable[..., Any],
        variables: VarCollection | None,
        input_argnums: int | Sequence[int] | None = None,
    ):
        check_callable(self._transform, f)
        self.__wrapped__ = f
        self.vc = VarCollection(variables) if variables is not None else VarCollection()
        self.input_argnums = _argnums(self._transform, input_argnums)

    def _gradients_and_values(self, args: tuple[Any, ...], kwargs: Any) -> tuple[list[Any], Any]:
        for i in self.input_argnums:
            if i >= len(args):
                raise ValueError(
                    f"{self._transform}: input_argnums={self.input_argnums} asks for the "
                    f"gradient of argument {i}, but the call has {len(args)} positional "
                    f"arguments."
                )
        train_storages = unique_storages([v for v in self.vc if isinstance(v, TrainVar)])
        train_ids = {id(s) for s in train_storages}
        state_storages = [
            s
            for s in unique_storages([v for v in self.vc if not isinstance(v, TrainVar)])
            if id(s) not in train_ids
        ]
        storages = train_storages + state_storages
        f = self.__wrapped__
        argnums = self.input_argnums

        def f_func(inputs, train_tensors, state_tensors):
            call_args = list(args)
            for i, x in zip(argnums, inputs):
                call_args[i] = x
            tensors = list(train_tensors) + list(state_tensors)
            with swapped(self._transform, storages, tensors):
                outputs = f(*call_args, **kwargs)
                changes = changes_of(storages, tensors)
            value = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
            return value, (outputs, changes)

        grad_fn = jax.grad(f_func, argnums=(0, 1), has_aux=True)
        (g_inputs, g_vars), (outputs, changes) = grad_fn(
            [args[i] for i in argnums],
            [s._get() for s in train_storages],
            [s._get() for s in state_storages],
        )
        write_back(storages, changes)
        values = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return list(g_inputs) + list(g_vars), values

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[list[jax.Array], list[Any]]:
        """Return ``(gradients, values)``."""
        return self._gradients_and_values(args, kwargs)

    def __repr__(self) -> str:
        return f"{self._transform[4:]}({self.__wrapped__!r}, {len(self.vc)} variables)"


class Grad(GradValues):
    """Like :class:`pax.GradValues`, but calling it returns only the gradients.

    >>> import jax, jax.numpy as jnp, pax
    >>> m = pax.Sequential(pax.Linear(2, 3), jax.nn.relu)
    >>> def f(x, y):
    ...     return ((m(x) - y) ** 2).mean()
    >>> grad_f = pax.Grad(f, m.vars())
    >>> grad_fx = pax.Grad(f, m.vars(), input_argnums=(0,))
    >>> x, y = jnp.ones((4, 2)), jnp.zeros((4, 3))
    >>> [g.shape for g in grad_fx(x, y)]
    [(4, 2), (2, 3), (3,)]
    """

    _transform = "pax.Grad"

    def __call__(self, *args: Any, **kwargs: Any) -> list[jax.Array]:  # type: ignore[override]
        """Return the list of gradients (inputs first, then variables)."""
        return self._gradients_and_values(args, kwargs)[0]

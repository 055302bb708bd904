"""``pax.util.Renamer``: rename the entries of a ``VarCollection``."""

import re
from collections.abc import Callable, Sequence
from re import Pattern

Rules = dict[str, str] | Sequence[tuple[str | Pattern[str], str]] | Callable[[str], str]
# ``Rules`` as stored: patterns compiled, sequences as a list
_CompiledRules = dict[str, str] | list[tuple[Pattern[str], str]] | Callable[[str], str]


class Renamer:
    """Rename strings with a dict of substring replacements, a list of
    ``(regex, replacement)`` pairs, or a function; optionally followed by another
    renamer (``chain``).

    >>> import re, jax, pax
    >>> net = pax.Sequential(pax.Linear(2, 3), jax.nn.relu)
    >>> no_modules = pax.util.Renamer([(re.compile(r"\\([^)]+\\)"), "")])
    >>> print(net.vars().rename(no_modules))
    [0].weight                  6 (2, 3)
    [0].bias                    3 (3,)
    +Total(2)                   9
    >>> dotted = pax.util.Renamer({"[": ".", "]": ""}, no_modules)
    >>> list(net.vars().rename(dotted).keys())
    ['.0.weight', '.0.bias']

    Args:
      rules: a dict ``{old_substring: new_substring}`` (applied in order with
        ``str.replace``), a sequence of ``(pattern, replacement)`` pairs (applied in
        order with ``re.sub``; a pattern may be a string or a compiled regex), or a
        callable ``str -> str``.
      chain: another renamer applied to the result.
    """

    def __init__(self, rules: Rules, chain: "Renamer | None" = None):
        if isinstance(rules, dict):
            for k, v in rules.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"Renamer dict rules map str to str, got {k!r}: {v!r}.")
            self.rules: _CompiledRules = dict(rules)
        elif isinstance(rules, (list, tuple)):
            pairs: list[tuple[Pattern[str], str]] = []
            for pair in rules:
                if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                    raise TypeError(
                        f"Renamer list rules are (regex, replacement) pairs, got {pair!r}."
                    )
                pattern, replacement = pair
                pairs.append(
                    (re.compile(pattern) if isinstance(pattern, str) else pattern, replacement)
                )
            self.rules = pairs
        elif callable(rules):
            self.rules = rules
        else:
            raise TypeError(
                "Renamer rules must be a dict, a sequence of (regex, replacement) pairs "
                f"or a callable; got {type(rules).__name__}."
            )
        if chain is not None and not callable(chain):
            raise TypeError(f"Renamer chain must be a Renamer or a callable, got {chain!r}.")
        self.next = chain

    def __call__(self, s: str) -> str:
        """Rename ``s``."""
        rules = self.rules
        if isinstance(rules, dict):
            for old, new in rules.items():
                s = s.replace(old, new)
        elif isinstance(rules, list):
            for pattern, replacement in rules:
                s = pattern.sub(replacement, s)
        else:
            s = rules(s)
        return self.next(s) if self.next is not None else s

    def __repr__(self) -> str:
        chain = f", chain={self.next!r}" if self.next is not None else ""
        return f"Renamer({self.rules!r}{chain})"

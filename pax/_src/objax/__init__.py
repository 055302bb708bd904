"""Objax's variables, ``vars()`` and stateful transforms on pax modules."""

"""Private implementation of ``pax.functional`` (the port of ``objax.functional``)."""

"""Debugging aids: why a jitted step traces again, which arrays it compiles in."""

"""pax in NetKet: the framework adapter and autoregressive networks (needs netket)."""

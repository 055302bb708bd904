"""The pax core: modules as pytrees, purity, parameters."""

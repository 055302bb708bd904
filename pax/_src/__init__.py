"""Private implementation of pax. Import from ``pax`` instead."""

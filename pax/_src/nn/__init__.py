"""pax layers."""

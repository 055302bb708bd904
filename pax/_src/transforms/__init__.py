"""Transforms that work directly on pax models."""

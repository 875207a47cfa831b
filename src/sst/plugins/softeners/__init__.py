"""Mask softeners."""

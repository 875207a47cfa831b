"""Skin detectors."""

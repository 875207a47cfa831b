"""Facial-part detectors."""

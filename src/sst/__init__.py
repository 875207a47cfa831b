"""sst: automatic semantic style transfer."""

__version__ = "0.1.0"

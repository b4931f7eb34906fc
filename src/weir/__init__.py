"""Weir: declare features once; compute them in batch and streaming, validate, serve online, train offline."""

__version__ = "0.1.0"

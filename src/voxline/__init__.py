"""Voxline: outbound AI voice calls behind a Vocobase-compatible v2 API."""

__version__ = "0.1.0"

"""Carriers: one module per carrier behind one protocol; nothing outside this package names a carrier."""

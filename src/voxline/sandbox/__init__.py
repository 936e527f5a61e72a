"""Carrier emulators and a simulated callee: what sandbox calls (made with an rg_test_ key) dial.

Each emulator speaks its carrier's real REST API, callbacks (signed as the carrier signs them) and
media protocol, so the whole path of a call runs on one machine, in tests, benchmarks and demos.
"""

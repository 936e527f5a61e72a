"""Calls: start one, read them, and finish a session (which emits session.completed)."""

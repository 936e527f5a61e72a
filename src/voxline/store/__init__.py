"""Persistence: the only package that speaks SQL (SQLAlchemy 2 async; SQLite default, PostgreSQL at scale)."""

"""Persistence: the declarative base, the engine and session factory, and migrations."""

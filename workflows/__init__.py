"""Workflows: orchestration only. They import dataclasses and names, never I/O libraries."""

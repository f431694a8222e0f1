"""Fixtures of the browser suite (defined in browser_world, which the tests also import)."""

from browser_world import chromium, node_modules, pytest_terminal_summary, site

__all__ = ["chromium", "node_modules", "pytest_terminal_summary", "site"]

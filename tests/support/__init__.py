"""Helpers shared by test modules, imported as ``support`` (pytest puts tests/ on the path)."""

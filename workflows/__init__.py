"""Deterministic workflow code only: no I/O, no clock but workflow.now(), no config reads."""

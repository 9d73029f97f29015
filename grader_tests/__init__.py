"""Checks called by the notebooks' autograded cells (one module per notebook)."""

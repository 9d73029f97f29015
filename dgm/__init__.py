"""Helpers shared by the course notebooks: data, device and seed, training loops, figures."""

__version__ = "0.1.0"

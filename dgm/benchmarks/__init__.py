"""The phases of `python -m dgm.bench` that are more than running notebooks, and its report."""

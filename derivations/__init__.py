"""The course's written derivations as sympy computations; the Markdown beside them has the prose."""

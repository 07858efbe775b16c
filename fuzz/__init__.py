"""Fuzz harnesses: ``python -m fuzz.<name> --count N --seed S`` (see each module)."""

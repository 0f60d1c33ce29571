"""Reproducible measurements; each figure is a ratio against a raw baseline run in the same job."""

"""What each `run.py` command does, as functions tests, benchmarks and notebooks can call:
run a pipeline with a run config, then read its outputs by artifact name."""

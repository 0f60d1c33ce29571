"""`python -m benchmarks`: every benchmark of the project, one after another."""

from benchmarks import training

training.main()

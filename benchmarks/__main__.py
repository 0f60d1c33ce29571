"""`python -m benchmarks`: every benchmark of the project, one after another, in one store."""

from benchmarks import promotion, serving, training

training.main()
promotion.main()
serving.main()

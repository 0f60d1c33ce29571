"""`python -m benchmarks`: every benchmark of the project, one after another, in one store."""

from benchmarks import promotion, ray_cluster, rollout, serving, training

training.main()
promotion.main()
serving.main()
ray_cluster.main()
rollout.main()

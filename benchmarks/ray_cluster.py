"""Ray benchmarks (issue: Ray), on a Ray head of their own on this machine.

- orchestration overhead: the same no-op pipeline (a chain of steps) on the local orchestrator
  and on the project's Ray orchestrator; wall time per run and per step, and their ratio;
- training throughput on ../shared's dataset (MiniLM, the default recipe, two epochs):
  in-process vs Ray Train with 1 and with 2 workers (samples/s ratios; wall times include
  Ray Train's start-up).

    python -m benchmarks.ray_cluster
"""

from __future__ import annotations

import os
import time

from benchmarks.env import SHARED_DATASET, WORK_DIR, activate_local_stack, save_results

TRAIN_EPOCHS = 2


def orchestration(ray_address: str) -> dict:
    from zenml.client import Client

    from benchmarks.noop_pipeline import CHAIN, noop_chain
    from stacks.register import STACKS_DIR, load_stack_file, register, register_flavors

    activate_local_stack()
    register_flavors()
    os.environ["RAY_ADDRESS"] = ray_address
    ray_stack = register(load_stack_file(STACKS_DIR / "ray-local.yaml"))
    pipeline = noop_chain
    results = {}
    for stack in ("local", ray_stack):
        Client().activate_stack(stack)
        pipeline()  # warm: imports, pipeline registration
        walls = []
        for _ in range(2):
            started = time.perf_counter()
            pipeline()
            walls.append(time.perf_counter() - started)
        results[stack] = min(walls)
    Client().activate_stack("local")
    return {
        "steps": CHAIN,
        "local_run_s": round(results["local"], 2),
        "ray_run_s": round(results[ray_stack], 2),
        "per_step_overhead_s": round((results[ray_stack] - results["local"]) / CHAIN, 2),
        "ray_vs_local_wall_ratio": round(results[ray_stack] / results["local"], 2),
    }


def training(ray_address: str) -> dict:
    from tagger.config import Scaling, TrainConfig
    from tagger.data import read_csv, split
    from tagger.distributed import train_on_frames

    train_df, val_df, _ = split(read_csv(SHARED_DATASET), val_size=0.1, test_size=0.2, seed=1234)
    config = TrainConfig(epochs=TRAIN_EPOCHS, patience=TRAIN_EPOCHS)
    os.environ["RAY_ADDRESS"] = ray_address
    runs = {
        "in_process": None,
        "ray_train_1_worker": Scaling(num_workers=1, use_ray=True),
        "ray_train_2_workers": Scaling(num_workers=2),
    }
    results = {}
    for name, scaling in runs.items():
        started = time.perf_counter()
        result = train_on_frames(config, train_df, val_df, scaling=scaling)
        results[name] = {
            "samples_per_s": round(result.samples_per_second, 1),
            "wall_s": round(time.perf_counter() - started, 1),
            "best_val_f1": round(result.history[result.best_epoch - 1]["val_f1"], 4),
        }
    base = results["in_process"]["samples_per_s"]
    for name in ("ray_train_1_worker", "ray_train_2_workers"):
        results[name]["samples_per_s_ratio_vs_in_process"] = round(
            results[name]["samples_per_s"] / base, 2
        )
    return {"rows": len(train_df), "epochs": TRAIN_EPOCHS, **results}


def main() -> None:
    import ray

    from stacks.sandbox import start_ray_head

    cpus = (os.cpu_count() or 2) + 1
    with start_ray_head(WORK_DIR / "ray", num_cpus=cpus) as head:
        try:
            results = {"cpus": os.cpu_count(), "orchestration": orchestration(head.address)}
            if SHARED_DATASET.exists():
                results["training"] = training(head.address)
            else:
                results["training"] = f"skipped: {SHARED_DATASET} is not here"
        finally:
            ray.shutdown()
    save_results("ray", results)


if __name__ == "__main__":
    main()

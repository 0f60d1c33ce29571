"""Ray benchmarks (issue: Ray), on a Ray head of their own on this machine.

- orchestration overhead: the same no-op pipeline (a chain of steps) on the local orchestrator
  and on the project's Ray orchestrator; wall time per run and per step, and their ratio;
- training throughput on ../shared's dataset (MiniLM, the default recipe, two epochs):
  in-process vs Ray Train with 1 and with 2 workers (samples/s ratios; wall times include
  Ray Train's start-up);
- the training pipeline (`python run.py train`, embedded data, MiniLM, one epoch, no cache) on the
  local stack, on ray-local and on ray-cloud against a cloud-shaped localhost
  (`stacks.localcloud`: S3, ZenML and MLflow servers, an isolated Ray head): wall time of each
  and the bytes the ray-cloud run wrote to S3.

    python -m benchmarks.ray_cluster [orchestration] [training] [stacks]   # default: all
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks.env import SHARED_DATASET, WORK_DIR, activate_local_stack, save_results
from benchmarks.table import Row, compare, conditions, print_table
from project.paths import PROJECT_ROOT, TRAIN_CONFIG

TRAIN_EPOCHS = 2
PIPELINE_EPOCHS = 1
PARTS = ("orchestration", "training", "stacks")


def orchestration(ray_address: str) -> dict:
    from zenml.client import Client

    from benchmarks.noop_pipeline import CHAIN, noop_chain
    from stacks.register import STACKS_DIR, load_stack_file, register, register_flavors

    activate_local_stack()
    register_flavors()
    os.environ["RAY_ADDRESS"] = ray_address
    ray_stack = register(load_stack_file(STACKS_DIR / "ray-local.yaml"))
    short, longer = CHAIN, 2 * CHAIN
    results: dict[str, dict[int, float]] = {}
    first: dict[str, float] = {}
    for stack in ("local", ray_stack):
        Client().activate_stack(stack)
        # warm: imports, pipeline registration, and on Ray the node's step host (driver.StepHost)
        started = time.perf_counter()
        noop_chain()
        first[stack] = time.perf_counter() - started
        for steps in (short, longer):
            walls = []
            for _ in range(2):
                started = time.perf_counter()
                noop_chain(steps=steps)
                walls.append(time.perf_counter() - started)
            results.setdefault(stack, {})[steps] = min(walls)
    Client().activate_stack("local")
    local, ray_run = results["local"], results[ray_stack]
    overhead = {steps: ray_run[steps] - local[steps] for steps in (short, longer)}
    # what each step adds, from the longer chain's extra steps: what a run pays once (its job's
    # fresh workers importing ZenML for the first step, README) cancels out
    marginal = (overhead[longer] - overhead[short]) / (longer - short)
    return {
        "steps": short,
        "local_run_s": round(local[short], 2),
        "ray_run_s": round(ray_run[short], 2),
        "per_step_overhead_s": round(overhead[short] / short, 2),
        "ray_vs_local_wall_ratio": round(ray_run[short] / local[short], 2),
        "longer_chain": {
            "steps": longer,
            "local_run_s": round(local[longer], 2),
            "ray_run_s": round(ray_run[longer], 2),
        },
        "marginal_step_overhead_s": round(marginal, 2),
        "run_fixed_overhead_s": round(overhead[short] - short * marginal, 2),
        # the cluster's first run: it starts the step host, which imports ZenML (README)
        "first_run": {
            "local_run_s": round(first["local"], 2),
            "ray_run_s": round(first[ray_stack], 2),
        },
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


def _pipeline_config(stack: str) -> Path:
    """configs/train.yaml, one epoch, a model of the stack's own (the same promotion work)."""
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["model"]["name"] = f"bench-{stack}"
    config["parameters"]["train_params"].update(epochs=PIPELINE_EPOCHS, patience=PIPELINE_EPOCHS)
    path = WORK_DIR / f"train-{stack}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _timed_train(stack: str, env: dict[str, str]) -> float:
    command = [sys.executable, "run.py", "train", "--no-cache", "--config"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, str(_pipeline_config(stack))],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"run.py train on {stack} failed:\n{done.stderr[-3000:]}")
    return round(time.perf_counter() - started, 1)


def pipeline_on_each_stack(ray_address: str) -> dict:
    from zenml.client import Client

    from stacks.localcloud import local_cloud
    from stacks.register import STACKS_DIR, load_stack_file, register, register_flavors

    walls = {}
    activate_local_stack()
    walls["local"] = _timed_train("local", os.environ.copy())
    register_flavors()
    os.environ["RAY_ADDRESS"] = ray_address
    Client().activate_stack(register(load_stack_file(STACKS_DIR / "ray-local.yaml")))
    walls["ray-local"] = _timed_train("ray-local", os.environ.copy())
    activate_local_stack()
    with local_cloud(WORK_DIR / "cloud", num_cpus=(os.cpu_count() or 2) + 1) as cloud:
        before = cloud.objects()
        walls["ray-cloud"] = _timed_train("ray-cloud", cloud.env)
        written = {k: v for k, v in cloud.objects().items() if k not in before}
    return {
        "epochs": PIPELINE_EPOCHS,
        "wall_s": walls,
        "ray_local_vs_local_wall_ratio": round(walls["ray-local"] / walls["local"], 2),
        "ray_cloud_vs_local_wall_ratio": round(walls["ray-cloud"] / walls["local"], 2),
        "ray_cloud_s3_objects_written": len(written),
        "ray_cloud_s3_bytes_written": sum(written.values()),
    }


def main(parts: tuple[str, ...] = PARTS) -> None:
    import ray

    from stacks.sandbox import start_ray_head

    cpus = (os.cpu_count() or 2) + 1
    results: dict = {"cpus": os.cpu_count()}
    with start_ray_head(WORK_DIR / "ray", num_cpus=cpus) as head:
        try:
            if "orchestration" in parts:
                results["orchestration"] = orchestration(head.address)
            if "training" in parts and SHARED_DATASET.exists():
                results["training"] = training(head.address)
            elif "training" in parts:
                results["training"] = f"skipped: {SHARED_DATASET} is not here"
            if "stacks" in parts:
                results["pipeline_on_each_stack"] = pipeline_on_each_stack(head.address)
        finally:
            ray.shutdown()
    save_results("ray" if parts == PARTS else f"ray-{'-'.join(parts)}", results)
    print_table(rows(results))


def rows(results: dict) -> list[Row]:
    """The README's rows of `results/ray*.json`: whichever parts the run measured."""
    return orchestration_rows(results) + training_rows(results) + stacks_rows(results)


def _command(results: dict, part: str) -> str:
    return f"`python -m benchmarks.ray_cluster {part}`{conditions(results)}"


def _split(o: dict) -> str:
    if "marginal_step_overhead_s" not in o:  # runs before the longer chain was measured
        return ""
    first = o.get("first_run")
    return (
        f": each step adds {o['marginal_step_overhead_s']:.2f} s (the"
        f" {o['longer_chain']['steps']}-step run against this one) and the run"
        f" {o['run_fixed_overhead_s']:.2f} s once"
        + (
            f"; the cluster's first run, which starts the step host, {first['ray_run_s']:.1f} s"
            if first
            else ""
        )
    )


def orchestration_rows(results: dict) -> list[Row]:
    o = results.get("orchestration")
    if not o:
        return []
    return [
        compare(
            f"Ray orchestrator: wall s of a {o['steps']}-step no-op pipeline on `ray-local` vs the "
            f"local orchestrator ({o['per_step_overhead_s']:.2f} s per step{_split(o)}; "
            f"{_command(results, 'orchestration')})",
            o["ray_run_s"],
            o["local_run_s"],
            digits=2,
            ratio_digits=1,
        )
    ]


def training_rows(results: dict) -> list[Row]:
    t = results.get("training")
    if not isinstance(t, dict):  # absent, or skipped without ../shared's dataset
        return []
    base = t["in_process"]["samples_per_s"]
    return [
        compare(
            f"training samples/s, Ray Train 1 worker vs in-process (Made-With-ML, MiniLM, "
            f"{t['epochs']} epochs; {_command(results, 'training')})",
            t["ray_train_1_worker"]["samples_per_s"],
            base,
        ),
        compare(
            "training samples/s, Ray Train 2 workers (DDP, gloo) vs in-process, same run",
            t["ray_train_2_workers"]["samples_per_s"],
            base,
        ),
    ]


def stacks_rows(results: dict) -> list[Row]:
    p = results.get("pipeline_on_each_stack")
    if not p:
        return []
    wall = p["wall_s"]
    return [
        compare(
            f"`python run.py train` wall s (embedded data, MiniLM, {p['epochs']} epoch, no cache): "
            "`ray-cloud` on the cloud-shaped localhost vs the local stack "
            f"(`ray-local` {wall['ray-local']:.1f} s; the ray-cloud run wrote "
            f"{p['ray_cloud_s3_objects_written']} objects, "
            f"{p['ray_cloud_s3_bytes_written'] / 1e6:.1f} MB, to S3; {_command(results, 'stacks')})",
            wall["ray-cloud"],
            wall["local"],
        )
    ]


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or PARTS)

"""Batch inference on Ray Data against the in-process path (issue 19), on a Ray head of its own.

- scaling: rows/s of `predict_frame` in this process (the local stack's path: the whole input in
  one frame) and of the Ray Data path with 1 and 2 classifier actors, on the same generated rows,
  MiniLM-L6 (a fresh head: the speed is the trained model's); the Ray runs also give the time to
  the first predicted row (actor start and model load included);
- memory bound: an input several times larger than the memory each Ray worker may use, predicted
  into parquet by `tagger.batch.predict_on_ray` while the kernel holds every worker to the limit
  (a cgroup per worker, see benchmarks/cgroup_limit.py; needs root and cgroup v1, as here; a
  worker over it is killed and Ray retries its work, so the kills are counted) and the object
  store is capped. To fit in minutes on 2 cores the classifier there is a tiny random
  BERT and most of each row's bytes are a `notes` column it does not read (tokenizing is what
  costs per byte); every stage still reads, checks and carries whole rows. What a worker needs
  depends on block and batch sizes, not on the number of rows.

    python -m benchmarks.batch [--rows 600] [--large-rows 40000] [--notes-chars 48000] [--limit-mb 600]
"""

from __future__ import annotations

import argparse
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import cgroup_limit
from benchmarks.env import PROJECT_ROOT, WORK_DIR, save_results
from benchmarks.table import Row, compare, conditions, print_table

SCALING_FILES = 8  # blocks enough for two actors to share
LARGE_FILE_BYTES = 64 * 2**20  # per generated file, in memory: a read task holds one


def generate(
    folder: Path,
    rows: int,
    description_chars: int,
    rows_per_file: int,
    notes_chars: int = 0,
    seed: int = 0,
) -> dict:
    """`rows` new projects as parquet files, made from the project's own data: each title
    numbered (so rows are distinct), descriptions joined to about `description_chars`, and with
    `notes_chars` a `notes` column the classifier does not read (rows as wide as real exports,
    which every stage still carries, for a fraction of the tokenizing)."""
    from project.paths import DEFAULT_DATASET
    from tagger.data import read_csv

    base = read_csv(DEFAULT_DATASET).fillna({"description": ""})
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    in_memory = 0
    for start in range(0, rows, rows_per_file):
        ids = np.arange(start, min(start + rows_per_file, rows))
        picks = base.iloc[rng.integers(0, len(base), len(ids))]
        extra = base["description"].iloc[rng.integers(0, len(base), len(ids))].to_numpy()
        joined = [
            (d + " " + e + " ") * (description_chars // max(len(d) + len(e) + 2, 1) + 1)
            for d, e in zip(picks["description"], extra, strict=True)
        ]
        frame = pd.DataFrame(
            {
                "id": ids.astype(str),
                "created_on": picks["created_on"].to_numpy(),
                "title": [f"{t} #{i}" for t, i in zip(picks["title"], ids, strict=True)],
                "description": [j[:description_chars] for j in joined],
            }
        )
        if notes_chars:
            frame["notes"] = [(j * (notes_chars // len(j) + 1))[:notes_chars] for j in joined]
        in_memory += int(frame.memory_usage(deep=True).sum())
        frame.to_parquet(folder / f"part-{start // rows_per_file:04d}.parquet", index=False)
    on_disk = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    return {"rows": rows, "files": len(list(folder.glob("*.parquet"))),
            "bytes_on_disk": on_disk, "bytes_in_memory_as_pandas": in_memory}  # fmt: skip


def _bundle(base_model: str, directory: Path) -> Path:
    import torch

    from tagger.data import LABELS
    from tagger.model import TextClassifier

    torch.manual_seed(0)
    TextClassifier.from_base(base_model, LABELS, 128).save(directory)
    return directory


def tiny_base_model(directory: Path) -> str:
    """A 2-layer, 32-wide random BERT with a word vocabulary from the project's data (as the
    tests build it): no download, and fast enough to push hundreds of thousands of rows."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from project.paths import DEFAULT_DATASET
    from tagger.data import read_csv, texts_of

    words = {w for t in texts_of(read_csv(DEFAULT_DATASET)) for w in re.findall(r"\w+|[^\w\s]", t.lower())}  # fmt: skip
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def in_process(folder: Path, bundle: Path) -> dict:
    """The local stack's path: read every file into one frame, predict in this process."""
    from tagger.inference import predict_frame
    from tagger.model import TextClassifier

    started = time.perf_counter()
    classifier = TextClassifier.load(bundle)
    frame = pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))])
    loaded = time.perf_counter()
    predictions = predict_frame(classifier, frame)
    done = time.perf_counter()
    return {"rows": len(predictions), "wall_s": round(done - started, 2),
            "rows_per_s": round(len(predictions) / (done - started), 1),
            "rows_per_s_predicting": round(len(predictions) / (done - loaded), 1)}  # fmt: skip


def on_ray(folder: Path, bundle: Path, actors: int) -> dict:
    """The Ray Data path, consumed as it streams: rows/s end to end and the first row's time."""
    from tagger.batch import predictions_dataset
    from tagger.config import BatchConfig

    config = BatchConfig(engine="ray", actors=actors)
    started = time.perf_counter()
    first = None
    rows = 0
    for batch in predictions_dataset(str(folder), bundle, config).iter_batches(batch_size=None):
        first = first or time.perf_counter()
        rows += len(batch["id"])
    done = time.perf_counter()
    return {"actors": actors, "rows": rows, "wall_s": round(done - started, 2),
            "rows_per_s": round(rows / (done - started), 1),
            "first_row_s": round(first - started, 2)}  # fmt: skip


class RssSampler:
    """The largest resident set of any process under the Ray head, sampled every 0.2 s."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.peak_worker = 0
        self.peak_total = 0
        self.peak_driver = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        driver = psutil.Process()
        while not self._stop.wait(0.2):
            self.peak_driver = max(self.peak_driver, driver.memory_info().rss)
            try:
                processes = psutil.Process(self.root_pid).children(recursive=True)
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    name = " ".join(process.cmdline()[:1])
                except psutil.Error:
                    continue
                total += rss
                if name.startswith("ray::"):
                    self.peak_worker = max(self.peak_worker, rss)
            self.peak_total = max(self.peak_total, total)


def memory_bound(
    folder: Path, bundle: Path, head_pid: int, limit_mb: int, input_info: dict
) -> dict:
    from tagger.batch import predict_on_ray
    from tagger.config import BatchConfig

    out = WORK_DIR / "large-out"
    started = time.perf_counter()
    with RssSampler(head_pid) as sampler:
        predictions = predict_on_ray(str(folder), bundle, str(out), BatchConfig(actors=2))
    wall = time.perf_counter() - started
    rows = predictions.num_rows()
    workers = cgroup_limit.peaks()
    peak_charged = max((w["max_usage_bytes"] for w in workers.values()), default=0)
    return {
        **input_info,
        "worker_limit_mb": limit_mb,
        "enforced_by": "kernel memory cgroup per Ray worker",
        "workers_limited": len(workers),
        "limit_hits": sum(w["limit_hits"] for w in workers.values()),
        "workers_killed_by_the_kernel": sum(w["oom_kills"] for w in workers.values()),
        "rows_out": rows,
        "wall_s": round(wall, 1),
        "rows_per_s": round(rows / wall, 1),
        "peak_worker_charged_mb": round(peak_charged / 2**20),
        "peak_worker_rss_mb": round(sampler.peak_worker / 2**20),
        "peak_ray_processes_total_rss_mb": round(sampler.peak_total / 2**20),
        "driver_peak_rss_mb": round(sampler.peak_driver / 2**20),
        "input_in_memory_vs_worker_limit": round(
            input_info["bytes_in_memory_as_pandas"] / (limit_mb * 2**20), 1
        ),
    }


def _connect(address: str, limit_mb: int | None) -> None:
    import ray

    modules = [str(PROJECT_ROOT / "tagger"), str(PROJECT_ROOT / "benchmarks")]
    runtime_env: dict = {"py_modules": modules}
    if limit_mb is not None:
        runtime_env |= {
            "worker_process_setup_hook": cgroup_limit.HOOK,
            "env_vars": {cgroup_limit.LIMIT_ENV: str(limit_mb * 2**20)},
        }
    ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)


def scaling(address: str, rows: int) -> dict:
    """The same rows in process, then on Ray Data with 1 and 2 actors (MiniLM-L6)."""
    import ray

    from tagger.model import resolve_base_model

    small = WORK_DIR / "small"
    results: dict = {"scaling_input": generate(small, rows, 200, -(-rows // SCALING_FILES))}
    minilm = _bundle(resolve_base_model("all-minilm-l6-v2"), WORK_DIR / "minilm")
    results["in_process"] = in_process(small, minilm)
    _connect(address, None)
    runs = [on_ray(small, minilm, actors) for actors in (1, 2)]
    ray.shutdown()
    for run in runs:
        run["rows_per_s_ratio_vs_in_process"] = round(
            run["rows_per_s"] / results["in_process"]["rows_per_s"], 2
        )
    return results | {"ray": runs}


def main(argv: list[str] | None = None) -> None:
    import ray

    from stacks.sandbox import start_ray_head

    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch")
    parser.add_argument("--rows", type=int, default=600, help="rows of the scaling runs")
    parser.add_argument("--large-rows", type=int, default=40_000)
    parser.add_argument(
        "--notes-chars", type=int, default=48_000, help="large input: unread column"
    )
    parser.add_argument("--limit-mb", type=int, default=600, help="memory per Ray worker")
    parser.add_argument("--object-store-mb", type=int, default=256)
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)

    results: dict = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]}
    # one CPU beyond two actors for the read, check and write tasks (as a cluster should leave)
    cpus = (os.cpu_count() or 2) + 1
    with start_ray_head(WORK_DIR / "ray", cpus, args.object_store_mb) as head:
        try:
            if not args.skip_scaling:
                results |= scaling(head.address, args.rows)
            if not args.skip_memory and cgroup_limit.available():
                tiny = _bundle(tiny_base_model(WORK_DIR / "tiny-base"), WORK_DIR / "tiny")
                large = WORK_DIR / "large"
                per_file = max(100, LARGE_FILE_BYTES // (args.notes_chars + 500))
                info = generate(large, args.large_rows, 200, per_file, args.notes_chars)
                info["object_store_mb"] = args.object_store_mb
                _connect(head.address, args.limit_mb)
                results["memory_bound"] = memory_bound(
                    large, tiny, _head_pid(head), args.limit_mb, info
                )
            elif not args.skip_memory:
                results["memory_bound"] = "skipped: no writable memory cgroup here"
        finally:
            ray.shutdown()
    cgroup_limit.remove_empty_groups()
    results["load_average_at_end"] = round(os.getloadavg()[0], 1)
    save_results("batch", results)
    print_table(rows(results))


def rows(results: dict) -> list[Row]:
    """The README's rows of `results/batch.json`: scaling and the memory bound, as measured."""
    found = []
    if "in_process" in results:
        base = results["in_process"]["rows_per_s"]
        rows_in = results["scaling_input"]["rows"]
        for index, run in enumerate(results["ray"]):
            actors = run["actors"]
            how = (
                f"same {rows_in:,} rows, MiniLM-L6, first row after {run['first_row_s']:.0f} s "
                f"(`python -m benchmarks.batch`{conditions(results)})"
                if index == 0
                else f"same run, first row after {run['first_row_s']:.0f} s"
            )
            found.append(
                compare(
                    f"batch inference rows/s, Ray Data {actors} actor{'s' if actors > 1 else ''} "
                    f"vs in-process `predict_frame`, {how}",
                    run["rows_per_s"],
                    base,
                )
            )
    m = results.get("memory_bound")
    if isinstance(m, dict):  # a string says why it was skipped
        found.append(
            compare(
                f"batch inference on Ray Data: {m['bytes_in_memory_as_pandas'] / 1e9:.2f} GB input "
                f"({m['rows']:,} rows, as pandas) with every Ray worker held to "
                f"{m['worker_limit_mb']} MB by the kernel, rows out / rows in ({m['wall_s']:.0f} s, "
                f"{m['rows_per_s']:.0f} rows/s; {m['workers_killed_by_the_kernel']} workers killed "
                "at the limit and their work redone by Ray)",
                m["rows_out"],
                m["rows"],
                digits=0,
            )
        )
    return found


def _head_pid(head) -> int:
    """The `ray start` process of this head: the one whose command line names its port."""
    import psutil

    port = head.address.rsplit(":", 1)[1]
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "start" in cmdline and f"--port={port}" in cmdline:
            return process.info["pid"]
    raise RuntimeError(f"no `ray start` process for {head.address}")


if __name__ == "__main__":
    main()

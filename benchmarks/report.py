"""`python -m benchmarks.report [--check]`: the README's benchmark tables, rebuilt from
`benchmarks/results/*.json` by the benchmarks' own `rows` functions.

Each table sits in README.md between `<!-- <name>: python -m benchmarks.report -->` and
`<!-- end of <name> -->`. A source is one benchmark's rows and the results files that may hold
them (a glob: `ray*.json` covers `python -m benchmarks.ray_cluster`'s part runs); the newest file
by its recorded `run.measured_at` wins (files from before that record count as oldest, and
between two of those the later name). A source
with no file is listed under its table, never filled in by hand. `--check`
writes nothing and exits 1 when the README differs from what the files give.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import (
    batch,
    bentoml_versions,
    cli,
    monitoring,
    onnx,
    promotion,
    quality,
    ray_cluster,
    rollout,
    serving,
    training,
)
from benchmarks.env import WORK_DIR
from benchmarks.table import HEADER, Row, markdown
from project.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
RESULTS = PROJECT_ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Source:
    rows: Callable[[dict], list[Row]]
    files: str  # glob under the results folder
    what: str  # what is missing, in the README's words, when no file is here
    command: str


@dataclass(frozen=True)
class Table:
    name: str
    header: str
    sources: tuple[Source, ...]


TABLES = (
    Table(
        "benchmark table",
        HEADER,
        (
            Source(
                training.rows,
                "training.json",
                "training throughput (project loop vs raw loop, `train_model` step vs loop) and "
                "test F1 against TF-IDF",
                "python -m benchmarks.training",
            ),
            Source(
                training.rows,
                "training-cached.json",
                "cached rerun of `run.py train`",
                "python -m benchmarks.training --cached-only",
            ),
            Source(
                training.rows,
                "embedded_data.json",
                "`run.py train` on the embedded data and its model on Made-With-ML",
                "python -m benchmarks.training --embedded-only",
            ),
            Source(
                promotion.rows,
                "promotion.json",
                "promotion wall time",
                "python -m benchmarks.promotion",
            ),
            Source(
                serving.rows,
                "serving.json",
                "served requests/s at concurrency 1, 8, 32 and batch inference",
                "python -m benchmarks.serving",
            ),
            Source(
                rollout.rows,
                "rollout.json",
                "failed requests during a redeploy, and the front's cost",
                "python -m benchmarks.rollout",
            ),
            Source(
                onnx.speed_rows,
                "onnx*.json",
                "ONNX Runtime vs eager PyTorch, in process and served",
                "python -m benchmarks.onnx",
            ),
            Source(
                onnx.int8_rows,
                "onnx-int8.json",
                "dynamic int8 ONNX: F1 and speed",
                "python -m benchmarks.onnx --int8",
            ),
            Source(
                ray_cluster.orchestration_rows,
                "ray*.json",
                "Ray orchestrator overhead",
                "python -m benchmarks.ray_cluster orchestration",
            ),
            Source(
                ray_cluster.training_rows,
                "ray*.json",
                "Ray Train with 1 and 2 workers vs in-process training",
                "python -m benchmarks.ray_cluster training",
            ),
            Source(
                ray_cluster.stacks_rows,
                "ray*.json",
                "`run.py train` on ray-cloud vs the local stack",
                "python -m benchmarks.ray_cluster stacks",
            ),
            Source(
                batch.rows,
                "batch.json",
                "batch inference on Ray Data (scaling with actors, the memory bound)",
                "python -m benchmarks.batch",
            ),
            Source(
                serving.memory_rows,
                "serving-memory-onnx.json",
                "serving RSS before and after 10,000 requests, onnx backend",
                "python -m benchmarks.serving --memory --backend onnx",
            ),
            Source(
                serving.memory_rows,
                "serving-memory-torch.json",
                "serving RSS before and after 10,000 requests, torch backend",
                "python -m benchmarks.serving --memory --backend torch",
            ),
            Source(cli.rows, "cli.json", "CLI wall times", "python -m benchmarks.cli"),
            Source(
                bentoml_versions.rows,
                "bentoml-versions.json",
                "serving on BentoML 1.4 vs the pinned 1.3, same Bento",
                "python -m benchmarks.bentoml_versions --other-python VENV/bin/python",
            ),
            Source(
                bentoml_versions.rows,
                "bentoml-versions-one-service-first.json",
                "the first run of the same comparison (2 rounds per version)",
                "python -m benchmarks.bentoml_versions --other-python VENV/bin/python --rounds 2",
            ),
            Source(
                bentoml_versions.rows,
                "bentoml-versions-two-services.json",
                "serving on BentoML 1.4 vs 1.3 with the earlier two-service Bento",
                "python -m benchmarks.bentoml_versions --other-python VENV/bin/python"
                " (at commit 3f9e614)",
            ),
        ),
    ),
    Table(
        "monitoring table",
        monitoring.HEADER,
        (
            Source(
                monitoring.rows,
                "monitoring.json",
                "drift alarm rates, the monitoring pipeline's cost, recording's cost",
                "python -m benchmarks.monitoring",
            ),
        ),
    ),
    Table(
        "quality table",
        quality.HEADER,
        (
            Source(
                quality.rows,
                "quality.json",
                "recipes cross-validated over seeds, on the GPU",
                "python -m benchmarks.quality",
            ),
        ),
    ),
    Table(
        "quality table on this CPU",
        quality.HEADER,
        (
            Source(
                quality.rows,
                "quality-cpu.json",
                "recipes cross-validated over seeds, on the 2-core CPU",
                "python -m benchmarks.quality --cache-dir benchmarks/results/quality-cpu"
                " --results benchmarks/results/quality-cpu.json",
            ),
        ),
    ),
    Table(
        "quality spread table on this CPU",
        quality.SPREAD_HEADER,
        (
            Source(
                quality.spread_rows,
                "quality-cpu.json",
                "the training seed's spread on fixed folds, on the 2-core CPU",
                "python -m benchmarks.quality --cache-dir benchmarks/results/quality-cpu"
                " --results benchmarks/results/quality-cpu.json --training-seeds 3",
            ),
        ),
    ),
)


def _newest_rows(source: Source, results_dir: Path) -> list[Row]:
    """The rows of the newest file that holds this source's figures ([] when none does)."""
    found = []
    for path in sorted(results_dir.glob(source.files)):
        results = json.loads(path.read_text())
        rows = source.rows(results)
        if rows:
            found.append((results.get("run", {}).get("measured_at", ""), path.name, rows))
    return max(found, key=lambda f: f[:2])[2] if found else []


def build(table: Table, results_dir: Path) -> str:
    """The table's markdown, and a list of what no results file here holds."""
    rows, missing = [], []
    for source in table.sources:
        found = _newest_rows(source, results_dir)
        rows += found
        if not found:
            missing.append(f"- {source.what}: `{source.command}` (`results/{source.files}`)")
    text = markdown(rows, table.header)
    if missing:
        text += (
            "\n\nNot in the table: no results file holds them (run the command, commit its file "
            "with `git add -f`, then `python -m benchmarks.report`):\n" + "\n".join(missing)
        )
    return text


def markers(table: Table) -> tuple[str, str]:
    return f"<!-- {table.name}: python -m benchmarks.report -->", f"<!-- end of {table.name} -->"


def rebuild(readme: str, results_dir: Path) -> str:
    """README text with every table replaced by what the results files give."""
    for table in TABLES:
        start, end = markers(table)
        if readme.count(start) != 1 or readme.count(end) != 1:
            raise SystemExit(f"README: expected one `{start}` and one `{end}`")
        head, rest = readme.split(start)
        _, tail = rest.split(end)
        readme = f"{head}{start}\n{build(table, results_dir)}\n{end}{tail}"
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    shutil.rmtree(WORK_DIR)  # the benchmarks' throw-away store, made on import: no run here
    current = args.readme.read_text()
    fresh = rebuild(current, args.results)
    if args.check:
        if fresh == current:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(), fresh.splitlines(), "README.md", "from results", lineterm=""
        )
        print("\n".join(diff))
        print(f"{args.readme} is stale: run `python -m benchmarks.report`", file=sys.stderr)
        return 1
    args.readme.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())

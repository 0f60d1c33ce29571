"""BentoML 1.3 against 1.4 serving the same Bento (issue 14, "BentoML version").

One Bento (MiniLM-L6, the deploy default backend, built once by this environment's BentoML) is
served by `bentoml serve` from this environment and from another one that differs only in its
BentoML (`--other-python`: that environment's interpreter), in alternating rounds (this, other,
this, other, ...), each a fresh server on the same store. A round: time until `/readyz` answers,
a warm-up, then the project's load generator (`benchmarks.serving._load`, one project per
request) at concurrency 1 (p50), at concurrency 32 (req/s, p50, p99, failures), and at
concurrency 1 again right after the burst, in quarters, to show whether lone requests stay slow
after it (BentoML 1.3's adaptive batcher holds them; see README, "Serving memory and hops");
then the RSS of the server's processes. The load average is sampled through each round.

    python -m benchmarks.bentoml_versions --other-python /path/to/venv-bento14/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.env import PROJECT_ROOT, WORK_DIR, save_results
from benchmarks.serving import _load, _projects, _rss_mb
from benchmarks.table import Row, compare, print_table
from stacks.sandbox import serve_bento

REQUESTS = 1000
BURST_CONCURRENCY = 32
AFTER_BURST_QUARTERS = 4
WARMUP = (8, 200)  # concurrency, requests


def _structure() -> str:
    """How the served Bento is put together, in words (the figures depend on it)."""
    source = (PROJECT_ROOT / "serving" / "service.py").read_text()
    if "bentoml.depends(" in source:
        return "two services: API -> model service (bentoml.depends), BentoML's adaptive batcher"
    return "one service: the classifier in the API's workers, the project's in-process batcher"


def _bentoml_version(python: Path) -> str:
    command = [str(python), "-c", "import bentoml; print(bentoml.__version__)"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


class LoadAverage:
    """The 1-minute load average every `interval_s`, while the block runs."""

    def __init__(self, interval_s: float = 5) -> None:
        self.interval_s, self.samples = interval_s, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.interval_s)

    def __enter__(self) -> LoadAverage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        return {
            "min": min(self.samples),
            "mean": float(np.mean(self.samples)),
            "max": max(self.samples),
        }


def _round(tag: str, python: Path, projects: list[dict], requests: int, log: Path) -> dict:
    """One fresh `bentoml serve` of `tag` by `python`'s BentoML, under the load sequence."""
    started = time.perf_counter()
    with (
        LoadAverage() as load_average,
        serve_bento(tag, log, env=os.environ.copy(), cwd=PROJECT_ROOT, python=python) as server,
    ):
        ready_s = time.perf_counter() - started
        url = f"{server.url}/predict"
        asyncio.run(_load(url, projects, *WARMUP))
        c1 = asyncio.run(_load(url, projects, 1, requests))
        burst = asyncio.run(_load(url, projects, BURST_CONCURRENCY, requests))
        quarter = requests // AFTER_BURST_QUARTERS
        after = [asyncio.run(_load(url, projects, 1, quarter)) for _ in range(AFTER_BURST_QUARTERS)]
        rss = _rss_mb(server.pid)
    return {
        "ready_s": ready_s,
        "c1": c1,
        f"c{BURST_CONCURRENCY}": burst,
        "c1_after_burst_quarters": after,
        "c1_after_burst_p50_ms": float(np.median([q["p50_ms"] for q in after])),
        "failures": c1["failures"] + burst["failures"] + sum(q["failures"] for q in after),
        "rss_total_mb": sum(rss.values()),
        "load_average": load_average.summary(),
    }


FIGURES = {
    "ready_s": lambda r: r["ready_s"],
    "c1_p50_ms": lambda r: r["c1"]["p50_ms"],
    "c32_rps": lambda r: r[f"c{BURST_CONCURRENCY}"]["rps"],
    "c32_p50_ms": lambda r: r[f"c{BURST_CONCURRENCY}"]["p50_ms"],
    "c32_p99_ms": lambda r: r[f"c{BURST_CONCURRENCY}"]["p99_ms"],
    "c1_after_burst_p50_ms": lambda r: r["c1_after_burst_p50_ms"],
    "failures": lambda r: r["failures"],
    "rss_total_mb": lambda r: r["rss_total_mb"],
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bentoml_versions")
    parser.add_argument("--other-python", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per version")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="per load level")
    parser.add_argument("--backend", default="onnx", choices=("onnx", "torch"))
    args = parser.parse_args()

    from serving.package import build_bento, runtime_requirements, save_model
    from tagger.config import DEFAULT_BASE_MODEL
    from tagger.model import TextClassifier

    pythons = {"this": Path(sys.executable), "other": args.other_python}
    versions = {name: _bentoml_version(python) for name, python in pythons.items()}
    if versions["this"] == versions["other"]:
        raise SystemExit(f"both environments have BentoML {versions['this']}: nothing to compare")
    classifier = TextClassifier.from_base(
        DEFAULT_BASE_MODEL,
        ("computer-vision", "mlops", "natural-language-processing", "other"),
        128,
    )
    model = save_model(classifier, zenml_version=None, backend=args.backend)
    bento = build_bento(model, runtime_requirements(args.backend))
    projects = _projects()
    results: dict = {
        "bento": str(bento.tag),
        "built_by_bentoml": versions["this"],
        "backend": args.backend,
        "requests_per_level": args.requests,
        "service_structure": _structure(),
        "rounds": [],
    }
    for index in range(args.rounds * 2):
        name = ("this", "other")[index % 2]
        version = versions[name]
        print(f"round {index + 1}: bentoml {version} serving {bento.tag}", flush=True)
        log = WORK_DIR / f"serve-{index + 1}-{version}.log"
        figures = _round(str(bento.tag), pythons[name], projects, args.requests, log)
        results["rounds"].append({"bentoml": version, **figures})
    summary = {}
    for version in versions.values():
        rounds = [r for r in results["rounds"] if r["bentoml"] == version]
        summary[version] = {k: float(np.mean([f(r) for r in rounds])) for k, f in FIGURES.items()}
    results["mean_per_version"] = summary
    results["versions"] = {"pinned": versions["this"], "other": versions["other"]}
    save_results("bentoml-versions", results)
    print_table(rows(results))


def rows(results: dict) -> list[Row]:
    """The README's rows: the other BentoML (ours) against the pinned one (baseline)."""
    if "mean_per_version" not in results:
        return []
    pinned, other = results["versions"]["pinned"], results["versions"]["other"]
    new, old = results["mean_per_version"][other], results["mean_per_version"][pinned]
    rounds = len(results["rounds"]) // 2
    load = [r["load_average"] for r in results["rounds"]]
    how = (
        f"`python -m benchmarks.bentoml_versions`, one Bento ({results['backend']} backend;"
        f" {results['service_structure']}), {rounds} alternated rounds per version,"
        f" {results['requests_per_level']:,} requests a level; load average"
        f" {min(a['min'] for a in load):.1f}-{max(a['max'] for a in load):.1f}"
    )
    return [
        compare(
            f"served p50 ms at concurrency 1, BentoML {other} vs {pinned} ({how})",
            new["c1_p50_ms"],
            old["c1_p50_ms"],
        ),
        compare(
            f"served requests/s at concurrency 32 (p50 {new['c32_p50_ms']:.0f} vs"
            f" {old['c32_p50_ms']:.0f} ms, p99 {new['c32_p99_ms']:.0f} vs"
            f" {old['c32_p99_ms']:.0f} ms; failed {new['failures']:.0f} vs {old['failures']:.0f}),"
            f" BentoML {other} vs {pinned}",
            new["c32_rps"],
            old["c32_rps"],
        ),
        compare(
            f"served p50 ms at concurrency 1 right after the concurrency-32 burst (median of the"
            f" four quarters' p50), BentoML {other} vs {pinned}",
            new["c1_after_burst_p50_ms"],
            old["c1_after_burst_p50_ms"],
        ),
    ]


if __name__ == "__main__":
    main()

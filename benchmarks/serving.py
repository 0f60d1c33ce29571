"""Serving and batch inference benchmarks (issue: package and serve).

- a Bento of the default MiniLM-L6 classifier, served by `bentoml serve`, under 2,000+ requests at
  concurrency 1, 8 and 32 (one project per request): throughput, p50/p99 latency, failures; against
  the raw model forward in this process on the same inputs (batch 1 for concurrency 1, batches of
  the concurrency otherwise, which is the best a server could batch them);
- batch inference (`predict_frame`, what the pipeline step runs) against a raw forward in input
  order, batch 64.

- `--memory`: the RSS of every serving process before and after 10,000 requests at concurrency 32
  (0 failed expected), and where a request's time goes at concurrency 1: the HTTP round trip alone
  (`/livez`), the API process answering without the model (`/metadata`: body parsing, the request
  contract, JSON), the whole `/predict`, and, in this process, the request's validation, the
  tokenisation, the forward and the answer's JSON; the rest of `/predict` is the hand-off to the
  batcher's forward thread and what BentoML does per API call beyond `/metadata`.

    python -m benchmarks.serving
    python -m benchmarks.serving --memory [--backend onnx]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import numpy as np

from benchmarks.env import PROJECT_ROOT, SHARED_DATASET, WORK_DIR, save_results
from benchmarks.table import Row, compare, conditions, print_table
from stacks.sandbox import serve_bento

REQUESTS = 2000
LEVELS = (1, 8, 32)


def _projects() -> list[dict[str, str]]:
    from project.paths import DEFAULT_DATASET
    from tagger.data import read_csv

    df = read_csv(SHARED_DATASET if SHARED_DATASET.exists() else DEFAULT_DATASET)
    return [
        {"title": str(t), "description": "" if d != d else str(d)[:2000]}
        for t, d in zip(df["title"], df["description"], strict=True)
    ]


async def _load(url: str, projects: list[dict], concurrency: int, total: int) -> dict:
    """`total` requests, one project each, from `concurrency` connections kept alive.

    The client shares the machine's cores with the server, so it has to be cheap: httpx's async
    client took 2.0-2.3 ms of CPU a request (27-30% of a core at concurrency 32 on 2 cores) and
    the server answered 133-137 requests/s under it; aiohttp's takes 0.4-0.6 ms, and the same
    server answered 177-180 (alternated rounds, same Bento). `client_cpu_ms` keeps the figure.
    """
    import aiohttp

    latencies: list[float] = []
    failures = 0
    next_index = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index, failures
        while next_index < total:
            project = projects[next_index % len(projects)]
            next_index += 1
            started = time.perf_counter()
            try:
                async with session.post(url, json=project) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):  # the server went away: a failed request
                failures += 1
                continue
            if not ok:
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        cpu_started, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_started
    ms = np.array(latencies or [float("nan")]) * 1000
    return {
        "requests": next_index,
        "failures": failures,
        "rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "client_cpu_ms": client_cpu * 1000 / max(next_index, 1),
    }


def _raw(classifier, texts: list[str], batch: int) -> dict:
    """Plain forward in input order: tokenize a batch, run the model (each of a seed ensemble's),
    softmax."""
    import torch

    latencies = []
    started = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            t = time.perf_counter()
            chunk = texts[i : i + batch]
            enc = classifier.tokenizer(
                chunk, padding=True, truncation=True, max_length=128, return_tensors="pt"
            )
            for model in classifier.models:
                torch.softmax(model(**enc).logits, dim=-1)
            latencies.append((time.perf_counter() - t) * 1000 / len(chunk) * batch)
    wall = time.perf_counter() - started
    return {
        "rps": len(texts) / wall,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
    }


MEMORY_REQUESTS = 10_000
MEMORY_CHUNKS = 4  # RSS after each quarter: a plateau or a climb
MEMORY_WARMUP = 1_000
MEMORY_CONCURRENCY = 32
MEMORY_SETTLE_S = 3.0  # the batcher trims the heap after 1 s without requests
HOP_REQUESTS = 300


def _rss_at_rest_mb(pid: int) -> dict[str, float]:
    """RSS once the load has stopped for `MEMORY_SETTLE_S`: what the server keeps. Read while
    requests run, it also holds the batch in flight (tens of MB a worker on torch, coming and
    going), which hides growth or fakes it."""
    time.sleep(MEMORY_SETTLE_S)
    return _rss_mb(pid)


def _rss_mb(pid: int) -> dict[str, float]:
    """RSS (MB) of `bentoml serve` and each of its workers, by a short name of their command."""
    import psutil

    parent = psutil.Process(pid)
    found = {}
    for process in [parent, *parent.children(recursive=True)]:
        command = process.cmdline()
        name = "serve" if process.pid == pid else "worker"
        if "--service-name" in command:  # a BentoML worker of the service
            name = command[command.index("--service-name") + 1]
        found[f"{name}-{process.pid}"] = process.memory_info().rss / 2**20
    return found


def _sequential_ms(call, n: int) -> dict:
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(latencies, 50)), "mean_ms": float(np.mean(latencies))}


def _hops(url: str, runner, project: dict) -> dict:
    """Where one request's time goes at concurrency 1 (medians of sequential calls); `runner` is
    the classifier on the served backend, loaded from the served model's files."""
    import httpx

    from serving.service import PredictRequest, to_prediction
    from tagger.data import join_text

    with httpx.Client(timeout=60) as client:
        http = _sequential_ms(lambda: client.get(f"{url}/livez"), HOP_REQUESTS)
        api = _sequential_ms(lambda: client.post(f"{url}/metadata", json={}), HOP_REQUESTS)
        full = _sequential_ms(lambda: client.post(f"{url}/predict", json=project), HOP_REQUESTS)
    text = join_text(project["title"], project["description"])
    body = json.dumps(project)
    labels = list(runner.labels)
    in_process = {
        "validate_request": _sequential_ms(
            lambda: PredictRequest.model_validate_json(body), HOP_REQUESTS
        ),
        "tokenise": _sequential_ms(lambda: runner.encode([text]), HOP_REQUESTS),
        "tokenise_forward_softmax": _sequential_ms(
            lambda: runner.predict_proba([text]), HOP_REQUESTS
        ),
        "answer_json": _sequential_ms(
            lambda: to_prediction(labels, [0.25] * 4, 0.0).model_dump_json(), HOP_REQUESTS
        ),
    }
    accounted = api["p50_ms"] + sum(
        in_process[k]["p50_ms"] for k in ("tokenise_forward_softmax", "answer_json")
    )
    return {
        "http_round_trip_livez": http,
        "api_without_model_metadata": api,
        "predict": full,
        "in_process": in_process,
        "batcher_and_rest_p50_ms": full["p50_ms"] - accounted,
    }


def memory(backend: str) -> None:
    """RSS before and after MEMORY_REQUESTS requests at MEMORY_CONCURRENCY; the hop breakdown."""
    from serving.package import build_bento, runtime_requirements, save_model
    from tagger.config import DEFAULT_BASE_MODEL
    from tagger.model import TextClassifier
    from tagger.onnx_backend import load_classifier

    classifier = TextClassifier.from_base(
        DEFAULT_BASE_MODEL,
        ("computer-vision", "mlops", "natural-language-processing", "other"),
        128,
    )
    projects = _projects()
    model = save_model(classifier, zenml_version=None, backend=backend)
    bento = build_bento(model, runtime_requirements(backend))
    results: dict = {"backend": backend, "load_average_at_start": os.getloadavg()[0]}
    with serve_bento(str(bento.tag), WORK_DIR / "serving-memory.log", cwd=PROJECT_ROOT) as server:
        url = f"{server.url}/predict"
        # warm-up at full concurrency: the batcher's largest batches size the runtimes' buffers
        asyncio.run(_load(url, projects, MEMORY_CONCURRENCY, MEMORY_WARMUP))
        before = _rss_at_rest_mb(server.pid)
        chunks, curve, in_flight = [], [], []
        for _ in range(MEMORY_CHUNKS):
            chunk = asyncio.run(
                _load(url, projects, MEMORY_CONCURRENCY, MEMORY_REQUESTS // MEMORY_CHUNKS)
            )
            chunks.append(chunk)
            in_flight.append(sum(_rss_mb(server.pid).values()))
            after = _rss_at_rest_mb(server.pid)
            curve.append(sum(after.values()))
        load = {
            "requests": sum(c["requests"] for c in chunks),
            "failures": sum(c["failures"] for c in chunks),
            "rps": float(np.mean([c["rps"] for c in chunks])),
            "p50_ms": float(np.median([c["p50_ms"] for c in chunks])),
            "rss_total_mb_per_chunk": curve,
            "rss_total_mb_per_chunk_in_flight": in_flight,
        }
        runner = load_classifier(model.path, backend)
        results["hops"] = _hops(server.url, runner, projects[0])
        hops_after = _rss_mb(server.pid)
    growth = {
        name: after[name] / before[name] - 1 for name in before if name in after and before[name]
    }
    results |= {
        "load": load,
        "rss_mb_before": before,
        "rss_mb_after": after,
        "rss_mb_after_hops": hops_after,
        "rss_growth": growth,
        "rss_total_mb": {"before": sum(before.values()), "after": sum(after.values())},
    }
    save_results(f"serving-memory-{backend}", results)
    print_table(memory_rows(results))
    hops = results["hops"]
    print(
        "hop breakdown at concurrency 1, p50 ms: "
        f"/livez {hops['http_round_trip_livez']['p50_ms']:.1f}, "
        f"/metadata {hops['api_without_model_metadata']['p50_ms']:.1f}, "
        f"/predict {hops['predict']['p50_ms']:.1f}; in process: "
        + ", ".join(f"{k} {v['p50_ms']:.2f}" for k, v in hops["in_process"].items())
        + f"; batcher hand-off and the rest {hops['batcher_and_rest_p50_ms']:.1f}"
    )


def main() -> None:
    if "--memory" in sys.argv[1:]:
        args = sys.argv[1:]
        memory(args[args.index("--backend") + 1] if "--backend" in args else "torch")
        return
    from serving.package import build_bento, runtime_requirements, save_model
    from tagger.config import DEFAULT_BASE_MODEL
    from tagger.data import join_text
    from tagger.inference import predict_frame
    from tagger.model import TextClassifier

    classifier = TextClassifier.from_base(
        DEFAULT_BASE_MODEL,
        ("computer-vision", "mlops", "natural-language-processing", "other"),
        128,
    )
    projects = _projects()
    texts = [join_text(p["title"], p["description"]) for p in projects]
    results: dict = {"rows": len(projects)}

    import pandas as pd

    frame = pd.DataFrame(
        {
            "id": range(len(projects)),
            **{k: [p[k] for p in projects] for k in ("title", "description")},
        }
    )
    started = time.perf_counter()
    predict_frame(classifier, frame)
    results["batch_predict_frame_sps"] = len(frame) / (time.perf_counter() - started)
    results["batch_raw_forward_sps"] = _raw(classifier, texts, 64)["rps"]

    bento = build_bento(save_model(classifier, zenml_version=None), runtime_requirements())
    with serve_bento(str(bento.tag), WORK_DIR / "serving.log", cwd=PROJECT_ROOT) as server:
        url = f"{server.url}/predict"
        asyncio.run(_load(url, projects, 8, 200))  # warm-up
        for level in LEVELS:
            served = asyncio.run(_load(url, projects, level, REQUESTS))
            raw = _raw(classifier, texts, level)
            results[f"c{level}"] = {
                "served": served,
                "raw": raw,
                "rps_ratio": served["rps"] / raw["rps"],
            }

    save_results("serving", results)
    print_table(rows(results))


def _served(level: int, served: dict) -> str:
    client = ""
    if "client_cpu_ms" in served:  # runs before the aiohttp client did not record it
        client = f"; the client's CPU {served['client_cpu_ms']:.2f} ms a request"
    return (
        f"concurrency {level} (p50 {served['p50_ms']:.1f} ms, p99 {served['p99_ms']:.1f} ms; "
        f"{served['failures']:,} failed of {served['requests']:,}{client})"
    )


def rows(results: dict) -> list[Row]:
    """The README's rows of `results/serving.json` (served and batch inference speed) or of a
    `results/serving-memory-<backend>.json`."""
    if "rss_total_mb" in results:
        return memory_rows(results)
    found = []
    for index, level in enumerate(LEVELS):
        if f"c{level}" not in results:
            continue
        served, raw = results[f"c{level}"]["served"], results[f"c{level}"]["raw"]
        how = f" (`python -m benchmarks.serving`{conditions(results)})" if index == 0 else ""
        found.append(
            compare(
                f"served requests/s, {_served(level, served)} vs raw forward, batch {level}{how}",
                served["rps"],
                raw["rps"],
            )
        )
    low, high = results.get(f"c{LEVELS[0]}"), results.get(f"c{LEVELS[-1]}")
    if low and high:
        found.append(
            compare(
                f"served requests/s, concurrency {LEVELS[-1]} vs concurrency {LEVELS[0]} (what "
                "batching buys)",
                high["served"]["rps"],
                low["served"]["rps"],
            )
        )
    if "batch_predict_frame_sps" in results:
        found.append(
            compare(
                "batch inference samples/s (`predict_frame`, the step's code) vs raw forward in "
                "input order, batch 64",
                results["batch_predict_frame_sps"],
                results["batch_raw_forward_sps"],
            )
        )
    return found


def memory_rows(results: dict) -> list[Row]:
    """The README's row of a `results/serving-memory-<backend>.json`."""
    load, total = results["load"], results["rss_total_mb"]
    curve = load.get("rss_total_mb_per_chunk")
    in_flight = load.get("rss_total_mb_per_chunk_in_flight")
    steps = (
        f"; total after each {load['requests'] // len(curve):,}: "
        + ", ".join(f"{mb:.0f}" for mb in curve)
        + " MB"
        + (
            f" at rest, {', '.join(f'{mb:.0f}' for mb in in_flight)} MB just before it"
            if in_flight
            else ""
        )
        if curve
        else ""
    )
    per_process = ", ".join(
        f"{name.rsplit('-', 1)[0]} {growth:+.1%}" for name, growth in results["rss_growth"].items()
    )
    backend = results["backend"]
    return [
        compare(
            f"serving RSS MB, all processes, after {load['requests']:,} requests at concurrency "
            f"{MEMORY_CONCURRENCY} vs after a warm-up at the same concurrency"
            f"{f', both {MEMORY_SETTLE_S:.0f} s after the load stops' if in_flight else ''} "
            f"(`python -m benchmarks.serving --memory --backend {backend}`; {load['failures']:,} "
            f"failed, {load['rps']:.0f} req/s{steps}; per process: {per_process}"
            f"{conditions(results)})",
            total["after"],
            total["before"],
            digits=0,
        )
    ]


if __name__ == "__main__":
    main()

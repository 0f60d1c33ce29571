"""Serving and batch inference benchmarks (issue: package and serve).

- a Bento of the default MiniLM-L6 classifier, served by `bentoml serve`, under 2,000+ requests at
  concurrency 1, 8 and 32 (one project per request): throughput, p50/p99 latency, failures; against
  the raw model forward in this process on the same inputs (batch 1 for concurrency 1, batches of
  the concurrency otherwise, which is the best a server could batch them);
- batch inference (`predict_frame`, what the pipeline step runs) against a raw forward in input
  order, batch 64.

    python -m benchmarks.serving
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from benchmarks.env import PROJECT_ROOT, SHARED_DATASET, WORK_DIR, save_results
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
    import httpx

    latencies: list[float] = []
    failures = 0
    next_index = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, failures
        while next_index < total:
            project = projects[next_index % len(projects)]
            next_index += 1
            started = time.perf_counter()
            response = await client.post(url, json=project)
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "failures": failures,
        "rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def _raw(classifier, texts: list[str], batch: int) -> dict:
    """Plain forward in input order: tokenize a batch, run the model, softmax."""
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
            torch.softmax(classifier.model(**enc).logits, dim=-1)
            latencies.append((time.perf_counter() - t) * 1000 / len(chunk) * batch)
    wall = time.perf_counter() - started
    return {
        "rps": len(texts) / wall,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
    }


def main() -> None:
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

    print("| measurement | ours | raw baseline | ratio |\n|---|---|---|---|")
    for level in LEVELS:
        r = results[f"c{level}"]
        s, b = r["served"], r["raw"]
        print(
            f"| served req/s at concurrency {level} (p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
            f"{s['failures']} failed of {s['requests']}) vs raw forward batch {level} | {s['rps']:.1f} | {b['rps']:.1f} | {r['rps_ratio']:.2f} |"
        )
    print(
        f"| batch inference samples/s (predict_frame) vs raw forward batch 64 | {results['batch_predict_frame_sps']:.1f} "
        f"| {results['batch_raw_forward_sps']:.1f} | {results['batch_predict_frame_sps'] / results['batch_raw_forward_sps']:.2f} |"
    )
    save_results("serving", results)


if __name__ == "__main__":
    main()

"""ONNX Runtime against eager PyTorch for the MiniLM-L6 classifier (issue: speed where users wait).

- in process: `OnnxClassifier` vs `TextClassifier` (same tokenizer, same length-sorted batching)
  at batch 1 (p50 latency, samples/s) and batch 32 (samples/s);
- served: a Bento of each backend under `bentoml serve` at concurrency 1 and 32 (one project per
  request), against the raw eager forward of the same run (batch 1 and 32);
- with `--int8`: the export quantized to int8 (`tagger.onnx_backend.quantize_int8`), its speed
  and its test weighted F1 against the float export on Made-With-ML, and a Bento of the
  onnx-int8 backend served beside the others. That needs a classifier fine-tuned on ../shared's
  dataset (configs/train.yaml's recipe, minutes on 2 cores), so it is opt-in; without `--int8`
  (or without the dataset) a fresh head on MiniLM-L6 is timed, which runs at the same speed.
  The recipe's bundle is a seed ensemble of two: every figure, the raw baseline's too, runs both.

    python -m benchmarks.onnx [--int8]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.env import PROJECT_ROOT, SHARED_DATASET, WORK_DIR, save_results
from benchmarks.serving import _load, _projects, _raw
from benchmarks.table import Row, compare, conditions, print_table
from stacks.sandbox import serve_bento

REQUESTS = 1000
LEVELS = (1, 32)
BS1_TEXTS = 300
SERVED_ORDER = ("onnx-int8", "onnx", "torch")


def _classifier(fine_tune: bool):
    """A classifier of configs/train.yaml's recipe fine-tuned on Made-With-ML and its test frame,
    or a fresh head and None."""
    import yaml

    from project.paths import TRAIN_CONFIG
    from tagger.config import DEFAULT_BASE_MODEL, Split, TrainConfig
    from tagger.data import LABELS, read_csv, split
    from tagger.distributed import train_on_frames
    from tagger.model import TextClassifier

    if not (fine_tune and SHARED_DATASET.exists()):
        return TextClassifier.from_base(DEFAULT_BASE_MODEL, LABELS, 128), None
    recipe = yaml.safe_load(TRAIN_CONFIG.read_text())["parameters"]["train_params"]
    cut = Split()
    train_df, val_df, test_df = split(
        read_csv(SHARED_DATASET), val_size=cut.val_size, test_size=cut.test_size, seed=cut.seed
    )
    return train_on_frames(TrainConfig.model_validate(recipe), train_df, val_df).classifier, test_df


def _in_process(classifier, texts: list[str], batch: int) -> dict:
    """samples/s over `texts`; at batch 1 also the p50 and p99 of single-text calls."""
    classifier.predict_proba(texts[:64], batch_size=batch)  # warm-up
    if batch == 1:
        latencies = []
        for text in texts[:BS1_TEXTS]:
            started = time.perf_counter()
            classifier.predict_proba([text], batch_size=1)
            latencies.append((time.perf_counter() - started) * 1000)
        return {
            "sps": len(latencies) / (sum(latencies) / 1000),
            "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)),
        }
    started = time.perf_counter()
    classifier.predict_proba(texts, batch_size=batch)
    return {"sps": len(texts) / (time.perf_counter() - started)}


def _served(classifier, backend: str, projects: list[dict], test_df) -> dict:
    from serving.package import build_bento, runtime_requirements, save_model

    model = save_model(classifier, zenml_version=None, backend=backend, labelled=test_df)
    bento = build_bento(model, runtime_requirements(backend))
    log = WORK_DIR / f"serving-{backend}.log"
    with serve_bento(str(bento.tag), log, cwd=PROJECT_ROOT) as server:
        url = f"{server.url}/predict"
        asyncio.run(_load(url, projects, 8, 200))  # warm-up
        return {f"c{c}": asyncio.run(_load(url, projects, c, REQUESTS)) for c in LEVELS}


def _weighted_f1(classifier, test_df) -> float:
    from tagger.data import texts_of
    from tagger.evaluation import score_predictions

    predictions = classifier.predict(texts_of(test_df))
    return score_predictions(test_df, predictions, classifier.labels, resamples=0).overall.f1


def _int8(bundle: Path, torch_classifier, test_df, texts: list[str]) -> dict:
    from tagger.onnx_backend import INT8_FILE, ONNX_FILE, OnnxClassifier, compare, measure_int8

    measured = measure_int8(bundle, test_df)
    int8 = OnnxClassifier.load(bundle, model_file=INT8_FILE)
    return {
        "test_rows": measured.rows,
        "f1_torch": _weighted_f1(torch_classifier, test_df),
        "f1_onnx": measured.f1_float,
        "f1_int8": measured.f1_int8,
        "f1_drop": measured.f1_drop,
        "selectable": measured.holds,
        "parity_vs_torch": asdict(compare(torch_classifier, int8, texts)),
        "bs1": _in_process(int8, texts, 1),
        "bs32": _in_process(int8, texts, 32),
        "file_mb": {
            name: (bundle / name).stat().st_size / 2**20 for name in (ONNX_FILE, INT8_FILE)
        },
    }


def main(argv: list[str] | None = None) -> None:
    from tagger.data import join_text
    from tagger.onnx_backend import OnnxClassifier, export_checked

    with_int8 = "--int8" in (sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    classifier, test_df = _classifier(fine_tune=with_int8)
    projects = _projects()
    texts = [join_text(p["title"], p["description"]) for p in projects]
    results: dict = {
        "rows": len(texts),
        "setup_s": time.perf_counter() - started,
        "members": classifier.info.members,  # a seed ensemble's forward passes per answer
    }

    with tempfile.TemporaryDirectory(prefix="tagger-onnx-bench-") as tmp:
        bundle = Path(tmp) / "bundle"
        started = time.perf_counter()
        parity = export_checked(classifier, bundle, texts)
        results["export_and_check_s"] = time.perf_counter() - started
        results["parity"] = asdict(parity)
        onnx = OnnxClassifier.load(bundle)
        results["in_process"] = {
            f"bs{b}": {
                "torch": _in_process(classifier, texts, b),
                "onnx": _in_process(onnx, texts, b),
            }
            for b in (1, 32)
        }
        if test_df is not None:
            results["int8"] = _int8(bundle, classifier, test_df, texts)

    # int8 is served only from a fine-tuned classifier: its build checks the test split's F1
    backends = ("torch", "onnx") if test_df is None else ("torch", "onnx", "onnx-int8")
    results["served"] = {b: _served(classifier, b, projects, test_df) for b in backends}
    results["raw_eager"] = {f"c{c}": _raw(classifier, texts, c) for c in LEVELS}
    save_results("onnx-int8" if with_int8 else "onnx", results)
    print_table(rows(results))


def rows(results: dict) -> list[Row]:
    """The README's rows of `results/onnx.json` or `results/onnx-int8.json`."""
    return speed_rows(results) + int8_rows(results)


def speed_rows(results: dict) -> list[Row]:
    """In process and served, ONNX Runtime against eager PyTorch."""
    found = []
    members = results.get("members", 1)
    model = f"; a seed ensemble of {members}, every row" if members > 1 else ""
    for b in ("bs1", "bs32"):
        o, t = results["in_process"][b]["onnx"], results["in_process"][b]["torch"]
        how = (
            f" (p50 {o['p50_ms']:.1f} ms vs {t['p50_ms']:.1f} ms; `python -m benchmarks.onnx"
            f"{' --int8' if 'int8' in results else ''}`{model}{conditions(results)})"
            if b == "bs1"
            else ", length-sorted"
        )
        found.append(
            compare(
                f"in-process samples/s, batch {b[2:]}{how}: ONNX Runtime vs eager PyTorch",
                o["sps"],
                t["sps"],
            )
        )
    for c in LEVELS:
        raw = results["raw_eager"][f"c{c}"]
        for backend in sorted(results["served"], key=SERVED_ORDER.index):
            s = results["served"][backend][f"c{c}"]
            found.append(
                compare(
                    f"served requests/s, {backend} backend, concurrency {c} (p50 "
                    f"{s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms; {s['failures']:,} failed of "
                    f"{s['requests']:,}) vs raw eager forward, batch {c} (p50 "
                    f"{raw['p50_ms']:.1f} ms), same run",
                    s["rps"],
                    raw["rps"],
                )
            )
    return found


def int8_rows(results: dict) -> list[Row]:
    """Dynamic int8 quantisation against the float export, when the run measured it."""
    if "int8" not in results:
        return []
    q, o = results["int8"], results["in_process"]["bs1"]["onnx"]
    return [
        compare(
            f"test weighted F1, Made-With-ML test split ({q['test_rows']} rows): dynamic int8 ONNX "
            f"vs float ONNX (torch {q['f1_torch']:.3f}; drop {q['f1_drop']:.3f}; "
            "`python -m benchmarks.onnx --int8`)",
            q["f1_int8"],
            q["f1_onnx"],
            digits=3,
        ),
        compare(
            "in-process samples/s, batch 1: dynamic int8 ONNX vs float ONNX, same run",
            q["bs1"]["sps"],
            o["sps"],
        ),
        compare(
            "in-process samples/s, batch 32, length-sorted: dynamic int8 ONNX vs eager PyTorch"
            f" (int8 and torch tags differ on {q['parity_vs_torch']['argmax_mismatches']} of"
            f" {q['parity_vs_torch']['rows']} texts, probabilities by up to"
            f" {q['parity_vs_torch']['max_abs_diff']:.2f})",
            q["bs32"]["sps"],
            results["in_process"]["bs32"]["torch"]["sps"],
        ),
    ]


if __name__ == "__main__":
    main()

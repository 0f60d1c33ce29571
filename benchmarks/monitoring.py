"""Monitoring benchmarks (issue 13): how often drift alarms are right, what monitoring costs.

One version is trained by the training pipeline on ../shared's Made-With-ML dataset (the split is
the pipeline's own, seed 1234) and becomes production; the reference is its training split, found
by lineage as `run.py monitor` finds it. `--model minilm` (default) fine-tunes MiniLM-L6 for 3
epochs; `--model tiny` trains a 2-layer BERT (hidden 64, word-level vocabulary of the dataset)
from scratch in a minute, for machines where MiniLM's training does not fit. Then:

- false alarm rate: >= 20 windows of 100 projects drawn (without replacement, each window its
  own seed) from the version's test split (never trained on; the validation split is the
  reference of the model's confidence, as in `run.py monitor`): the share of windows with any
  drift alarm (target <= 5%);
- detection rate per shift kind over >= 20 windows each (target >= 95%): a different tag mix
  (80% of the window from the minority tags mlops and other), much longer texts (each
  description repeated 4 times), out-of-domain text (cooking, travel and sports projects
  written from templates here: no such corpus exists offline);
- wall time of `workflows.monitoring.monitor` (the pipeline, as `run.py monitor` runs it) on
  10,000 recorded answers, against `tagger.monitoring.measure` on the same window in process;
- the serving cost of recording: a Bento of that version under concurrency 32, recording off
  and on, alternated twice in the same run (requests/s, on / off; target >= 0.95).

Windows only select rows: each pool (held-out, longer, out-of-domain) goes through the model
once, and a window is measured exactly as a recorded window is (`measure_sides`).

    python -m benchmarks.monitoring [--model minilm | tiny]

Skipped, saying so, when ../shared's dataset is absent.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.env import SHARED_DATASET, WORK_DIR, activate_local_stack, save_results
from benchmarks.table import Row, compare, conditions, print_table

WINDOWS = 25
WINDOW_ROWS = 100
RECORDS = 10_000
LOAD_REQUESTS = 1000
DISHES = ["apple pie", "lentil soup", "ramen", "paella", "banana bread", "goulash", "risotto"]
PLACES = ["Lisbon", "Kyoto", "the Alps", "Patagonia", "Marrakesh", "Iceland"]
SPORTS = ["marathon", "bouldering", "sailing", "tennis", "cycling", "kayaking"]


def out_of_domain(n: int, seed: int) -> pd.DataFrame:
    """Projects of another world: recipes, trips and training plans."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        kind = i % 3
        dish, place, sport = rng.choice(DISHES), rng.choice(PLACES), rng.choice(SPORTS)
        minutes = int(rng.integers(10, 90))
        if kind == 0:
            rows.append(
                (
                    f"Grandma's {dish}",
                    f"Simmer the {dish} with garlic, butter and thyme for {minutes} minutes.",
                )
            )
        elif kind == 1:
            rows.append(
                (
                    f"Ten days in {place}",
                    f"Our itinerary for {place}: hostels, ferries and a {sport} day trip.",
                )
            )
        else:
            rows.append(
                (
                    f"{sport.capitalize()} plan for beginners",
                    f"A {minutes}-minute {sport} session three times a week, then stretch.",
                )
            )
    return pd.DataFrame(rows, columns=["title", "description"])


def _tiny_base(directory: Path) -> dict:
    """A small BERT with a word-level vocabulary of the dataset, and a recipe that trains it."""
    from stacks.sandbox import write_tiny_bert
    from tagger.data import read_csv, texts_of

    write_tiny_bert(directory, texts_of(read_csv(SHARED_DATASET)), max_positions=256)
    return {
        "base_model": str(directory),
        "max_length": 128,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "head_learning_rate": 3e-3,
        "epochs": 12,
        "patience": 4,
        "warmup_ratio": 0.0,
    }


def _train_production(model: str) -> int:
    import yaml

    from project.paths import TRAIN_CONFIG
    from workflows.training import train

    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    if model == "tiny":
        config["parameters"]["train_params"].update(_tiny_base(WORK_DIR / "tiny-bert"))
    else:
        config["parameters"]["train_params"]["epochs"] = 3
    config["parameters"]["behavior_suite"] = {}
    path = WORK_DIR / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    summary = train(path, str(SHARED_DATASET))
    if summary["stage"] != "production":
        raise SystemExit(f"the benchmark's version did not become production: {summary}")
    return summary["model_version"]


def _rates(
    classifier, reference: pd.DataFrame, val_set: pd.DataFrame, held_out: pd.DataFrame, policy
) -> dict:
    from tagger.monitoring import input_frame, measure_sides, side_of

    labels = tuple(classifier.labels)
    full = policy.model_copy(update={"max_embedded": 10**6})
    ref_side = side_of(input_frame(reference), classifier, policy)
    val_side = side_of(input_frame(val_set), classifier, full)
    held = held_out.reset_index(drop=True)
    pools = {
        "unshifted": side_of(input_frame(held), classifier, full),
        "longer_texts": side_of(
            input_frame(held.assign(description=(held["description"].fillna("") + " ") * 4)),
            classifier,
            full,
        ),
        "out_of_domain": side_of(input_frame(out_of_domain(300, 0)), classifier, full),
    }
    minority = np.flatnonzero(held["tag"].isin(["mlops", "other"]).to_numpy())
    majority = np.flatnonzero(~held["tag"].isin(["mlops", "other"]).to_numpy())

    def draw(kind: str, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        if kind == "tag_mix":
            few = int(WINDOW_ROWS * 0.8)
            return np.concatenate(
                [
                    rng.choice(minority, few, replace=len(minority) < few),
                    rng.choice(majority, WINDOW_ROWS - few, replace=False),
                ]
            )
        pool = pools[kind].frame
        return rng.choice(len(pool), WINDOW_ROWS, replace=len(pool) < WINDOW_ROWS)

    results: dict = {}
    for kind in ("unshifted", "tag_mix", "longer_texts", "out_of_domain"):
        pool = pools["unshifted" if kind == "tag_mix" else kind]
        fired, names, seconds = 0, {}, []
        for seed in range(WINDOWS):
            started = time.perf_counter()
            window = pool.subset(draw(kind, seed))
            report = measure_sides(
                window, ref_side, labels, policy, {"rows": WINDOW_ROWS}, "", 0, None, val_side
            )
            seconds.append(time.perf_counter() - started)
            drift = [c.name for c in report.alarms if c.test != "threshold"]
            fired += bool(drift)
            for name in drift:
                names[name] = names.get(name, 0) + 1
        results[kind] = {
            "windows": WINDOWS,
            "rows_per_window": WINDOW_ROWS,
            "windows_with_drift_alarm": fired,
            "rate": fired / WINDOWS,
            "alarms_by_check": names,
            "s_per_window": float(np.mean(seconds)),
        }
    return results


def _record_window(classifier, held_out: pd.DataFrame, directory: Path) -> None:
    """10,000 answers as the Bento records them (held-out projects, cycled)."""
    from serving.records import PREDICTIONS, PredictionRecord, Recorder, Recording, now
    from tagger.monitoring import texts

    rows = held_out.reset_index(drop=True)
    proba = classifier.predict_proba(texts(rows.fillna("")))
    labels = list(classifier.labels)
    recorder = Recorder(Recording(directory=directory), "bench")
    batch = []
    for i in range(RECORDS):
        j = i % len(rows)
        title, description = str(rows["title"][j]), str(rows["description"][j] or "")
        p = proba[j]
        batch.append(
            PredictionRecord(
                request_id=f"bench-{i}",
                time=now(),
                title_length=len(title),
                description_length=len(description),
                title=title,
                description=description,
                tag=labels[int(p.argmax())],
                confidence=float(p.max()),
                probabilities=dict(zip(labels, map(float, p), strict=True)),
            )
        )
        if len(batch) == 500:
            recorder.write(PREDICTIONS, batch)
            batch = []
    recorder.flush()


async def _load(url: str, projects: list[dict], total: int) -> dict:
    from benchmarks.serving import _load as load

    return await load(url, projects, 32, total)


def _recording_cost(version: int, classifier, held_out: pd.DataFrame) -> dict:
    from serving.package import build_bento, runtime_requirements, save_model
    from stacks.sandbox import serve_bento

    projects = [
        {"title": str(t), "description": str(d or "")}
        for t, d in zip(held_out["title"], held_out["description"], strict=True)
    ]
    bento = build_bento(save_model(classifier, zenml_version=version), runtime_requirements())
    rounds: dict[str, list[dict]] = {"off": [], "on": []}
    for state in ("off", "on", "off", "on"):
        env = {
            **os.environ,
            "TAGGER_RECORD_ENABLED": "true" if state == "on" else "false",
            "TAGGER_RECORD_DIRECTORY": str(WORK_DIR / "served-records"),
        }
        log = WORK_DIR / f"serve-{state}-{len(rounds[state])}.log"
        with serve_bento(str(bento.tag), log, env) as server:
            url = f"{server.url}/predict"
            asyncio.run(_load(url, projects, 100))  # warm-up
            rounds[state].append(asyncio.run(_load(url, projects, LOAD_REQUESTS)))
    rps = {state: float(np.mean([r["rps"] for r in runs])) for state, runs in rounds.items()}
    return {
        "rounds": rounds,
        "rps_off": rps["off"],
        "rps_on": rps["on"],
        "ratio": rps["on"] / rps["off"],
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("minilm", "tiny"), default="minilm")
    args = parser.parse_args()
    if not SHARED_DATASET.exists():
        print(f"skipped: ../shared's dataset is not here ({SHARED_DATASET})")
        return
    activate_local_stack()
    from zenml.client import Client

    from project import names
    from tagger.config import MonitorPolicy
    from tagger.monitoring import measure, window_frame
    from workflows.monitoring import monitor

    version_number = _train_production(args.model)
    version = Client().get_model_version("project-tagger", version_number)
    classifier = version.get_model_artifact(names.CLASSIFIER).load()
    reference = version.get_artifact(names.TRAIN_SET).load()
    val_set = version.get_artifact(names.VAL_SET).load()
    held_out = version.get_artifact(names.TEST_SET).load()
    policy = MonitorPolicy()
    results: dict = {
        "model": args.model,
        "model_version": version_number,
        "test_f1": version.run_metadata.get("metrics", {}).get("f1"),
        "reference_rows": len(reference),
    }
    results["held_out_rows"] = len(held_out)
    results["windows"] = _rates(classifier, reference, val_set, held_out, policy)

    directory = WORK_DIR / "records"
    _record_window(classifier, held_out, directory)
    started = time.perf_counter()
    outcome = monitor(records_dir=str(directory), since="24h")
    pipeline_s = time.perf_counter() - started
    assert outcome.report.rows == RECORDS, outcome.lines()
    from serving.records import FEEDBACK, PREDICTIONS, read_records

    started = time.perf_counter()
    frame = window_frame(
        [r.model_dump() for r in read_records(directory, PREDICTIONS)],
        [r.model_dump() for r in read_records(directory, FEEDBACK)],
    )
    measure(
        frame,
        reference,
        classifier,
        policy,
        {"rows": len(frame)},
        "",
        version_number,
        None,
        val_set,
    )
    in_process_s = time.perf_counter() - started
    results["records_10000"] = {
        "pipeline_s": pipeline_s,
        "in_process_s": in_process_s,
        "ratio": pipeline_s / in_process_s,
        "alarms": outcome.report.alarm_lines(),
    }
    results["recording_cost_c32"] = _recording_cost(version_number, classifier, held_out)

    save_results("monitoring", results)
    print_table(rows(results), HEADER)


HEADER = "| measurement | ours | target / baseline | ratio |\n|---|---|---|---|"
SHIFTS = {
    "tag_mix": "tag mix (80% of the window mlops and other)",
    "longer_texts": "much longer texts (each description 4 times)",
    "out_of_domain": "out-of-domain text (recipes, trips, sports plans)",
}


def rows(results: dict) -> list[Row]:
    """The README's monitoring rows of `results/monitoring.json` (its own table: targets, not
    baselines, for the alarm rates)."""
    w = results["windows"]
    unshifted = w["unshifted"]
    found = [
        Row(
            f"false drift alarm rate, {unshifted['windows']} unshifted windows of "
            f"{unshifted['rows_per_window']} held-out projects",
            f"{unshifted['rate']:.2f} ({unshifted['windows_with_drift_alarm']} of "
            f"{unshifted['windows']})",
            "<= 0.05",
        )
    ]
    for kind, text in SHIFTS.items():
        found.append(
            Row(
                f"detection rate, {text}, {w[kind]['windows']} windows of "
                f"{w[kind]['rows_per_window']}",
                f"{w[kind]['rate']:.2f}",
                ">= 0.95",
            )
        )
    r = results["records_10000"]
    found.append(
        compare(
            f"monitoring pipeline wall s on {RECORDS:,} recorded answers (`run.py monitor`'s "
            "`workflows.monitoring.monitor`) vs `tagger.monitoring.measure` on the same window "
            "in process",
            r["pipeline_s"],
            r["in_process_s"],
        )
    )
    c = results["recording_cost_c32"]
    rounds = [run for runs in c["rounds"].values() for run in runs]
    found.append(
        compare(
            "served requests/s at concurrency 32, recording on vs off (torch backend, "
            f"{rounds[0]['requests']:,} requests a round, rounds alternated off/on/off/on, "
            f"{sum(run['failures'] for run in rounds):,} failed{conditions(results)})",
            c["rps_on"],
            c["rps_off"],
        )
    )
    return found


if __name__ == "__main__":
    main()

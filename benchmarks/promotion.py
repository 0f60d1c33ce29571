"""Promotion benchmark.

1. The scenario promotion must not fall for: version 1 trained on the real Made-With-ML data
   (`run.py train --dataset-loc ../shared/...`), then version 2 on the embedded, easier data
   (`run.py train`). Prints both models' scores on every evaluation set and the decision.
2. Wall time of one promotion (load production's classifier and test split, score both models on
   every set, decide, move the stage in ZenML and MLflow), against scoring the candidate, already
   in memory, on its own test set (the raw forward).

    python -m benchmarks.promotion
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.env import PROJECT_ROOT, SHARED_DATASET, activate_local_stack, save_results
from benchmarks.table import Row, compare, conditions, print_table

MODEL = "project-tagger"


def _train(*args: str) -> None:
    subprocess.run(
        [sys.executable, "run.py", "train", *args],
        cwd=PROJECT_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def scenario() -> dict:
    """Real data first, then the embedded data: what did promotion decide for version 2?"""
    from zenml.client import Client

    _train("--dataset-loc", str(SHARED_DATASET))
    _train()
    latest = Client().list_model_versions(MODEL, sort_by="desc:number", size=1).items[0]
    decision = latest.run_metadata["promotion"]["decision"]
    print(f"version {latest.number}: {decision['stage']}: {decision['reason']}")
    print("| evaluation set | rows | candidate (embedded data) | production (real data) |")
    print("|---|---|---|---|")
    for row in decision["sets"]:
        primary = " (primary)" if row["name"] == decision["primary"] else ""
        print(
            f"| {row['name']}{primary} | {row['rows']} | {row['candidate']:.4f} | {row['production']:.4f} |"
        )
    return {"version": latest.number, "decision": decision}


def timing() -> dict:
    from zenml.client import Client

    from project import names
    from registry.evaluation_sets import training_fingerprint
    from registry.promotion import apply, judge
    from tagger.config import PromotionPolicy
    from tagger.evaluation import evaluate

    candidate = Client().list_model_versions(MODEL, sort_by="desc:number", size=1).items[0]
    test_set = candidate.get_data_artifact(names.TEST_SET).load()
    classifier = candidate.get_model_artifact(names.CLASSIFIER).load()

    started = time.perf_counter()
    report = evaluate(classifier, test_set)
    raw_s = time.perf_counter() - started

    started = time.perf_counter()
    decision, production = judge(
        MODEL,
        lambda: classifier,
        report,
        test_set,
        training_fingerprint(candidate),
        PromotionPolicy(),
    )
    apply(candidate, decision.stage, decision, production, "benchmark")
    promotion_s = time.perf_counter() - started
    return {
        "test_rows": len(test_set),
        "evaluation_sets": len(decision.sets),
        "raw_score_candidate_s": raw_s,
        "promotion_s": promotion_s,
        "promotion_vs_raw": promotion_s / raw_s,
    }


def main() -> None:
    activate_local_stack()
    results = {}
    if SHARED_DATASET.exists():
        results["scenario"] = scenario()
    else:
        print(f"{SHARED_DATASET} is not here: the scenario is skipped")
        _train()
        _train()
    results |= timing()
    save_results("promotion", results)
    print_table(rows(results))


def rows(results: dict) -> list[Row]:
    """The README's row of `results/promotion.json`."""
    return [
        compare(
            "promotion wall s (load production's classifier and test split, score both models on "
            f"{results['evaluation_sets']} evaluation sets, decide, move stages under the lock) vs "
            f"scoring one model in memory, {results['test_rows']} rows "
            f"(`python -m benchmarks.promotion`{conditions(results)})",
            results["promotion_s"],
            results["raw_score_candidate_s"],
            digits=2,
        )
    ]


if __name__ == "__main__":
    main()

"""Promotion benchmark (issue: model versions you can trust).

Wall time of one promotion on the embedded data: load the production classifier from the artifact
store, re-score it on the candidate's test set, decide, and move the stage in ZenML and MLflow.
Baseline: scoring the candidate, already in memory, on the same test set (the raw forward).

    python -m benchmarks.promotion       (needs two trained versions: it trains them if missing)
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.env import PROJECT_ROOT, activate_local_stack, save_results

MODEL = "project-tagger"


def _version_count() -> int:
    from zenml.client import Client

    if not Client().list_models(name=MODEL).items:
        return 0
    return Client().list_model_versions(MODEL).total


def ensure_two_versions() -> None:
    while _version_count() < 2:
        subprocess.run(
            [sys.executable, "run.py", "train"],
            cwd=PROJECT_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def main() -> None:
    activate_local_stack()
    ensure_two_versions()
    from zenml.client import Client

    from project import names
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
    decision, production = judge(MODEL, report, test_set, PromotionPolicy())
    apply(candidate, decision.stage, decision, production, "benchmark")
    promotion_s = time.perf_counter() - started

    results = {
        "test_rows": len(test_set),
        "raw_score_candidate_s": raw_s,
        "promotion_s": promotion_s,
        "promotion_vs_raw": promotion_s / raw_s,
        "decision": decision.stage,
    }
    print(
        f"| promotion wall s vs scoring one model in memory ({len(test_set)} rows) "
        f"| {promotion_s:.2f} | {raw_s:.2f} | {promotion_s / raw_s:.1f} |"
    )
    save_results("promotion", results)


if __name__ == "__main__":
    main()

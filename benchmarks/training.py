"""Training benchmarks (issue: the spine).

- loop throughput: the project's loop called directly vs the raw loop, same batch size (samples/s
  ratio; the difference is tokenizing once and batching similar lengths together);
- the same loop inside the pipeline's `train_model` step vs called directly (samples/s ratio);
- `python run.py train` wall time on the embedded data and on ../shared's dataset, and the cached rerun;
- what the embedded data teaches: the model `python run.py train` makes from data/projects.csv alone,
  scored on every row of ../shared's real project descriptions (which it never saw), next to TF-IDF
  + logistic regression fitted on the same embedded rows;
- quality: weighted F1 on the stratified 20% test split (seed 1234) of ../shared's dataset, next to
  TF-IDF + logistic regression fitted on the same 80%.

Each part keeps its own results file: `training.json` (loop, step, test F1), `embedded_data.json`
and `training-cached.json`; a full run writes all three.

    python -m benchmarks.training        (or: make bench)
    python -m benchmarks.training --embedded-only    # just the embedded-data run and its transfer
    python -m benchmarks.training --cached-only      # run.py train on ../shared's data, then its cached rerun
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.env import (
    PROJECT_ROOT,
    SHARED_DATASET,
    WORK_DIR,
    activate_local_stack,
    save_results,
)
from benchmarks.table import Row, compare, conditions, print_table

THROUGHPUT_EPOCHS = 2


def run_cli(*args: str) -> tuple[float, dict]:
    out = WORK_DIR / f"result-{time.time_ns()}.json"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "run.py", "train", *args, "--results-fp", str(out)],
        cwd=PROJECT_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started, json.loads(out.read_text())


def tfidf_f1(train_df, test_df) -> float:
    """The floor: TF-IDF + logistic regression alone, as a hybrid bundle holds it."""
    from sklearn.metrics import f1_score

    from tagger.data import LABELS, texts_of
    from tagger.lexical import LexicalModel

    model = LexicalModel.fit(texts_of(train_df), train_df["tag"], LABELS)
    return float(f1_score(test_df["tag"], model.predict(texts_of(test_df)), average="weighted"))


def loop_throughput(dataset: Path) -> dict:
    from benchmarks.raw_loop import raw_train_samples_per_second
    from tagger.config import TrainConfig
    from tagger.data import LABELS, read_csv, split, texts_of
    from tagger.distributed import train_on_frames
    from tagger.model import resolve_base_model

    train_df, val_df, _ = split(read_csv(dataset), val_size=0.1, test_size=0.2, seed=1234)
    config = TrainConfig(epochs=THROUGHPUT_EPOCHS, patience=THROUGHPUT_EPOCHS)
    raw = raw_train_samples_per_second(
        resolve_base_model(config.base_model),
        texts_of(train_df),
        [LABELS.index(t) for t in train_df["tag"]],
        len(LABELS),
        THROUGHPUT_EPOCHS,
        config.batch_size,
    )
    direct = train_on_frames(config, train_df, val_df)
    return {"raw_loop_sps": raw, "direct_loop_sps": direct.samples_per_second}


def shared_config() -> Path:
    """The default config under another model name: other data makes another model."""
    import yaml

    from project.paths import TRAIN_CONFIG

    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["model"]["name"] = "project-tagger-madewithml"
    path = WORK_DIR / "train-madewithml.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def embedded_data_transfer(summary: dict) -> dict:
    """Score the model trained on the embedded data on all of ../shared's rows."""
    import pandas as pd
    import yaml
    from zenml.client import Client

    from project import names
    from project.paths import DEFAULT_DATASET, TRAIN_CONFIG
    from tagger.config import Split
    from tagger.data import read_csv, split, texts_of
    from tagger.evaluation import score_predictions

    version = Client().get_model_version(summary["model"], summary["model_version"])
    classifier = version.get_artifact(names.CLASSIFIER).load()
    real = read_csv(SHARED_DATASET)
    report = score_predictions(real, classifier.predict(texts_of(real)), classifier.labels)
    split_config = Split(**yaml.safe_load(TRAIN_CONFIG.read_text())["parameters"]["split"])
    train_df, val_df, _ = split(
        read_csv(DEFAULT_DATASET), split_config.val_size, split_config.test_size, split_config.seed
    )
    return {
        "embedded_rows": len(read_csv(DEFAULT_DATASET)),
        "embedded_model_lexical_weight": classifier.info.lexical_weight,
        "embedded_model_members": classifier.info.members,
        "embedded_model_shared_f1": report.overall.f1,
        "embedded_model_shared_f1_per_class": {c: m.f1 for c, m in report.per_class.items()},
        "embedded_tfidf_shared_f1": tfidf_f1(pd.concat([train_df, val_df]), real),
    }


def embedded_run(have_shared: bool) -> None:
    """`run.py train` on the embedded data, and what its model scores on ../shared's rows."""
    wall, summary = run_cli()
    results = {"cli_default_wall_s": wall, "cli_default_test_f1": summary["metrics"]["f1"]}
    if have_shared:
        results |= embedded_data_transfer(summary)
    save_results("embedded_data", results)
    print_table(rows(results))


def cached_run() -> dict:
    """`run.py train` on ../shared's data, then the same command again (every step cached);
    the first run's summary is returned."""
    shared = ("--config", str(shared_config()), "--dataset-loc", str(SHARED_DATASET))
    first_s, summary = run_cli(*shared)
    cached_s, _ = run_cli(*shared)
    results = {
        "cli_shared_wall_s": first_s,
        "cli_shared_cached_wall_s": cached_s,
        "cached_vs_first": cached_s / first_s,
    }
    save_results("training-cached", results)
    print_table(rows(results))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--embedded-only", action="store_true", help="only the embedded-data run and its transfer"
    )
    parser.add_argument(
        "--cached-only", action="store_true", help="only a run on ../shared's data and its rerun"
    )
    args = parser.parse_args(argv)
    activate_local_stack()
    have_shared = SHARED_DATASET.exists()
    if args.embedded_only:
        embedded_run(have_shared)
        return
    if args.cached_only:
        cached_run()
        return
    dataset = SHARED_DATASET if have_shared else PROJECT_ROOT / "data" / "projects.csv"
    results: dict = {"throughput_dataset": dataset.name}
    results |= loop_throughput(dataset)
    embedded_run(have_shared)
    if have_shared:
        summary = cached_run()
        results["cli_shared_test_f1"] = summary["metrics"]["f1"]
        from zenml.client import Client

        version = Client().get_model_version(summary["model"], summary["model_version"])
        training = version.run_metadata["training"]
        results["pipeline_step_sps"] = training["samples_per_second"]
        results["pipeline_best_epoch"] = training["best_epoch"]
        # the recipe's whole training (every seed ensemble member), as the dashboard times it
        step = Client().get_pipeline_run(summary["run_id"]).steps["train_model"]
        results["train_step_s"] = (step.end_time - step.start_time).total_seconds()
        results["trainings"] = len(training["trainings"])

        import pandas as pd

        from tagger.data import read_csv, split

        train_df, val_df, test_df = split(read_csv(SHARED_DATASET), 0.1, 0.2, seed=1234)
        results["tfidf_logreg_test_f1"] = tfidf_f1(pd.concat([train_df, val_df]), test_df)
    save_results("training", results)
    print_table(rows(results))


_TAGS = {
    "computer-vision": "cv",
    "natural-language-processing": "nlp",
    "other": "other",
    "mlops": "mlops",
}


def rows(results: dict) -> list[Row]:
    """The README's rows of one of this module's results files (training, embedded_data or
    training-cached), whichever figures it holds."""
    r, found = results, []
    when = conditions(r)
    if "direct_loop_sps" in r:
        found.append(
            compare(
                "training samples/s: project loop called directly vs a raw PyTorch loop (same "
                f"batch size, tokenize + pad per batch; {r['throughput_dataset']}; "
                f"`python -m benchmarks.training`{when})",
                r["direct_loop_sps"],
                r["raw_loop_sps"],
            )
        )
    if "pipeline_step_sps" in r:
        found.append(
            compare(
                "training samples/s: `train_model` inside the pipeline vs the same loop called "
                "directly",
                r["pipeline_step_sps"],
                r["direct_loop_sps"],
            )
        )
    if "tfidf_logreg_test_f1" in r:
        found.append(
            compare(
                "test weighted F1, Made-With-ML 20% split (seed 1234): MiniLM-L6 pipeline vs "
                "TF-IDF + logistic regression",
                r["cli_shared_test_f1"],
                r["tfidf_logreg_test_f1"],
                digits=3,
            )
        )
    if "train_step_s" in r:
        found.append(
            Row(
                f"`train_model` wall s on Made-With-ML's dataset ({r['trainings']} training(s) of"
                " configs/train.yaml's recipe, early stopping; issue 17's budget: 180 s)",
                f"{r['train_step_s']:.1f}",
            )
        )
    if "cli_shared_cached_wall_s" in r:
        found.append(
            compare(
                "`python run.py train` wall s on Made-With-ML's dataset: cached rerun vs first "
                f"run (`python -m benchmarks.training --cached-only`{when})",
                r["cli_shared_cached_wall_s"],
                r["cli_shared_wall_s"],
            )
        )
    if "cli_default_wall_s" in r:
        size = f" ({r['embedded_rows']} rows)" if "embedded_rows" in r else ""
        found.append(
            Row(
                f"`python run.py train` wall s on the embedded data{size}, first run "
                f"(`python -m benchmarks.training --embedded-only`{when})",
                f"{r['cli_default_wall_s']:.1f}",
            )
        )
    if "embedded_model_shared_f1" in r:
        per_class = ", ".join(
            f"{_TAGS.get(tag, tag)} {f1:.3f}"
            for tag, f1 in r["embedded_model_shared_f1_per_class"].items()
        )
        weight = r.get("embedded_model_lexical_weight")
        hybrid = f", a hybrid with TF-IDF share {weight}" if weight else ""
        if r.get("embedded_model_members", 1) > 1:
            hybrid += f" of a seed ensemble of {r['embedded_model_members']}"
        found.append(
            compare(
                "weighted F1 on every row of Made-With-ML's data (never seen), model of "
                f"`python run.py train` on the embedded data alone ({r['embedded_rows']} rows"
                f"{hybrid}; "
                f"own test split {r['cli_default_test_f1']:.3f}) vs TF-IDF + logistic regression "
                f"fitted on the same rows (per class: {per_class})",
                r["embedded_model_shared_f1"],
                r["embedded_tfidf_shared_f1"],
                digits=3,
            )
        )
    return found


if __name__ == "__main__":
    main()

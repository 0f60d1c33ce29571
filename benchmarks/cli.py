"""CLI wall times (issue 15): what a user waits for one `run.py` command, against the least a
process must do to give the same answer, measured in the same run.

- `run.py --help` vs `python -c pass` (the interpreter alone);
- `run.py models` vs `import zenml.client` (the least any question to ZenML costs);
- `run.py predict --title ...`: the first call (asks ZenML, copies the bundle) and the next ones
  (the local copy, found by reading the store) vs a raw single prediction: a script that imports
  torch and transformers, loads the same bundle from a directory and runs one forward.

The model is a production version holding a freshly initialised MiniLM-L6 classifier (the
project's default base model; untrained: the load and the forward cost the same as a trained one's).

    python -m benchmarks.cli [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

from benchmarks.env import PROJECT_ROOT, WORK_DIR, activate_local_stack, save_results
from benchmarks.table import Row, compare, conditions, print_table

MODEL = "project-tagger"
PREDICT = ("predict", "--title", "YOLO for drones", "--description", "object detection")

RAW_PREDICTION = """
import sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).eval()
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
with torch.inference_mode():
    logits = model(**tokenizer(["YOLO for drones object detection"], return_tensors="pt")).logits
print(torch.softmax(logits, dim=-1).tolist())
"""


def run_once(*command: str) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the command's processes.

    On a machine other jobs keep busy the wall time is stretched several-fold; the CPU time is
    much less so, and is what the wall time would be on an idle machine for a command that
    mostly imports and loads (one thread).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        command, cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timings(command: tuple[str, ...], repeats: int) -> dict:
    runs = [run_once(*command) for _ in range(repeats)]
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "median_cpu_s": statistics.median(cpus),
        "runs_s": walls,
        "runs_cpu_s": cpus,
    }


def production_version() -> str:
    """A production version of MODEL with an untrained MiniLM-L6 classifier; its bundle's files."""
    from zenml import Model, link_artifact_to_model, save_artifact
    from zenml.client import Client
    from zenml.enums import ArtifactType

    from materializers import ClassifierMaterializer
    from project import names
    from tagger.config import DEFAULT_BASE_MODEL
    from tagger.data import LABELS
    from tagger.model import TextClassifier

    activate_local_stack()
    classifier = TextClassifier.from_base(DEFAULT_BASE_MODEL, LABELS, max_length=128)
    artifact = save_artifact(
        classifier,
        name=names.CLASSIFIER,
        artifact_type=ArtifactType.MODEL,
        materializer=ClassifierMaterializer,
    )
    client = Client()
    client.create_model(MODEL)
    version = client.create_model_version(MODEL)
    link_artifact_to_model(artifact, model=Model(name=MODEL, version=version.number))
    client.update_model_version(MODEL, version.number, stage="production")
    bundle = WORK_DIR / "raw-bundle"
    classifier.save(bundle)
    return str(bundle)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args(argv).repeats
    python = sys.executable
    bundle = production_version()

    results: dict = {"repeats": repeats, "load_average_at_start": os.getloadavg()[0]}
    results["python_pass"] = timings((python, "-c", "pass"), repeats)
    results["import_torch"] = timings((python, "-c", "import torch"), repeats)
    results["import_zenml_client"] = timings((python, "-c", "import zenml.client"), repeats)
    results["raw_prediction"] = timings((python, "-c", RAW_PREDICTION, bundle), repeats)
    results["help"] = timings((python, "run.py", "--help"), repeats)
    results["models"] = timings((python, "run.py", "models"), repeats)
    first_wall, first_cpu = run_once(python, "run.py", *PREDICT)
    results["predict_first"] = {"s": first_wall, "cpu_s": first_cpu}
    results["predict"] = timings((python, "run.py", *PREDICT), repeats)
    save_results("cli", results)
    print_table(rows(results))
    torch_ = results["import_torch"]
    print(
        f"(import torch alone: {torch_['median_s']:.2f} s wall, {torch_['median_cpu_s']:.2f} s CPU)"
    )


def rows(results: dict) -> list[Row]:
    """The README's rows of `results/cli.json`: medians of wall seconds, CPU seconds beside."""
    first = results["predict_first"]
    commands = [
        ("`python run.py --help` wall s vs `python -c pass`", "help", "python_pass"),
        ("`python run.py models` wall s vs `python -c 'import zenml.client'`", "models",
         "import_zenml_client"),
        (
            "`python run.py predict --title ...` wall s from the local copy of the bundle (the "
            f"first call, which asks ZenML and copies the bundle: {first['s']:.1f} s) vs a raw "
            "script: import torch + transformers, load the same bundle, one forward",
            "predict",
            "raw_prediction",
        ),
    ]  # fmt: skip
    run = f"; `python -m benchmarks.cli`, medians of {results['repeats']}{conditions(results)}"
    found = []
    for index, (text, ours, raw) in enumerate(commands):
        o, b = results[ours], results[raw]
        cpu = f"CPU s {o['median_cpu_s']:.2f} vs {b['median_cpu_s']:.2f}"
        found.append(
            compare(
                f"{text} ({cpu}{run if index == 0 else ''})",
                o["median_s"],
                b["median_s"],
                digits=2,
            )
        )
    return found


if __name__ == "__main__":
    main()

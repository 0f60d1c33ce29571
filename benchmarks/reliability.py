"""Reliability figures for the README: bad training data, a served Bento under hostile and heavy
traffic, and what the suite's stateful registry test covers.

- bad data: every case through `python run.py train --dataset-loc FILE` in its own process:
  exit code, the first line of the error, and whether a model version was left behind;
- serving: a Bento of the default MiniLM-L6 classifier served by `bentoml serve`, then
  schemathesis (`--checks all`, seeded) against its `/docs.json`, then 10,000 requests at
  concurrency 32 (failures, throughput, RSS of the server's processes before and after).

    python -m benchmarks.reliability
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.env import (
    PROJECT_ROOT,
    SHARED_DATASET,
    WORK_DIR,
    activate_local_stack,
    save_results,
)
from benchmarks.serving import _load, _projects
from stacks.sandbox import serve_bento

LOAD_REQUESTS = 10_000
LOAD_CONCURRENCY = 32
HEADER = "id,created_on,title,description,tag"


def _bad_inputs(directory: Path) -> dict[str, str]:
    """Name -> location of one bad training input each."""
    import pandas as pd

    from project.paths import DEFAULT_DATASET
    from tagger.data import read_csv

    good = read_csv(SHARED_DATASET if SHARED_DATASET.exists() else DEFAULT_DATASET)
    row = "1,2020-01-01,A title,A description,mlops"
    files = {
        "empty file": "",
        "header only": HEADER + "\n",
        "missing tag column": "id,created_on,title,description\n1,2020-01-01,A,B\n",
        "unknown tag": f"{HEADER}\n1,2020-01-01,A,B,robotics\n"
        + good.iloc[1:].to_csv(index=False, header=False),
        "duplicate ids": f"{HEADER}\n{row}\n{row}\n",
        "empty titles": f"{HEADER}\n1,2020-01-01,,desc,mlops\n2,2020-01-01,,desc,other\n",
        "semicolon delimiter": HEADER.replace(",", ";") + "\n" + row.replace(",", ";") + "\n",
        "tab delimiter": HEADER.replace(",", "\t") + "\n" + row.replace(",", "\t") + "\n",
        "one class only": good[good["tag"] == "mlops"].to_csv(index=False),
        "a class of 2 rows": pd.concat(
            [good[good["tag"] != "other"], good[good["tag"] == "other"].head(2)]
        ).to_csv(index=False),
        "title over 300 chars": f"{HEADER}\n1,2020-01-01,{'t' * 400},desc,mlops\n",
        "HTML page": "<html><body>not a dataset</body></html>\n",
        "JSON document": '{"title": "A", "tag": "mlops"}\n',
    }
    locations = {}
    for name, text in files.items():
        path = directory / (re.sub(r"\W+", "-", name) + ".csv")
        path.write_text(text)
        locations[name] = str(path)
    (directory / "latin-1.csv").write_bytes(f"{HEADER}\n1,2020,Caf\xe9,d,mlops\n".encode("latin-1"))
    locations["not UTF-8"] = str(directory / "latin-1.csv")
    (directory / "binary.csv").write_bytes(bytes(range(256)) * 4)
    locations["binary garbage"] = str(directory / "binary.csv")
    locations["missing file"] = str(directory / "no-such-file.csv")
    locations["unreachable URL"] = "http://127.0.0.1:9/projects.csv"
    return locations


def _first_error_line(output: str) -> str:
    """The line a user reads first: the exception's message, or its first failed expectation."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if re.match(r"^[\w.]+(Error|Exception): ", line):
            message = line.split(": ", 1)[1]
            detail = next((rest for rest in lines[index + 1 :] if rest.startswith("- ")), "")
            return f"{message}: {detail[2:]}" if detail else message
    return lines[-1] if lines else ""


def bad_data() -> list[dict]:
    from zenml.client import Client

    activate_local_stack()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for name, location in _bad_inputs(Path(directory)).items():
            model = f"bad-data-{len(rows)}"
            config = Path(directory) / f"{model}.yaml"
            config.write_text(
                (PROJECT_ROOT / "configs" / "train.yaml")
                .read_text()
                .replace("name: project-tagger", f"name: {model}")
            )
            result = subprocess.run(
                [
                    sys.executable,
                    "run.py",
                    "train",
                    "--config",
                    str(config),
                    "--dataset-loc",
                    location,
                ],
                cwd=PROJECT_ROOT,
                env=os.environ.copy(),
                capture_output=True,
                text=True,
                timeout=600,
            )
            left = (
                Client().list_model_versions(model).items
                if Client().list_models(name=model).items
                else []
            )
            rows.append(
                {
                    "case": name,
                    "exit_code": result.returncode,
                    "first_line": _first_error_line(result.stderr),
                    "model_versions_left": len(left),
                }
            )
            print(rows[-1], flush=True)
    return rows


def _server_rss_mb(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def serving() -> dict:
    from project.waiting import answers_ok
    from serving.package import build_bento, runtime_requirements, save_model
    from tagger.config import DEFAULT_BASE_MODEL
    from tagger.data import LABELS
    from tagger.model import TextClassifier

    classifier = TextClassifier.from_base(DEFAULT_BASE_MODEL, LABELS, 128)
    bento = build_bento(save_model(classifier, zenml_version=None), runtime_requirements())
    results: dict = {}
    with serve_bento(str(bento.tag), WORK_DIR / "reliability.log", cwd=PROJECT_ROOT) as server:
        url = server.url
        st = subprocess.run(
            [
                Path(sys.executable).parent / "st", "run", f"{url}/docs.json", "--checks=all",
                "--seed=1", "--max-examples=100", "--workers=1", "--generation-database=none",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
        counts = re.search(r"(\d+) generated, (\d+) passed", st.stdout + st.stderr)
        results["schemathesis"] = {
            "exit_code": st.returncode,
            "generated": int(counts.group(1)) if counts else None,
            "passed": int(counts.group(2)) if counts else None,
        }
        projects = _projects()
        asyncio.run(_load(f"{url}/predict", projects, 8, 200))  # warm-up
        results["rss_mb_before"] = _server_rss_mb(server.pid)
        results["load"] = asyncio.run(
            _load(f"{url}/predict", projects, LOAD_CONCURRENCY, LOAD_REQUESTS)
        )
        results["rss_mb_after"] = _server_rss_mb(server.pid)
        results["ready_after_load"] = answers_ok(f"{url}/readyz")()
    return results


def main() -> None:
    results = {"bad_data": bad_data(), "serving": serving()}
    print("| bad input | exit code | first line of the error | model versions left |")
    print("|---|---|---|---|")
    for row in results["bad_data"]:
        print(
            f"| {row['case']} | {row['exit_code']} | {row['first_line']} | {row['model_versions_left']} |"
        )
    save_results("reliability", results)


if __name__ == "__main__":
    main()

"""`python -m benchmarks.report`: the README's benchmark tables are what the committed results
files give, and a figure changed in a file changes the table. No timing: text in, text out.

Each call is a process of its own, as a user runs it: importing the benchmarks points ZenML's
environment at a throw-away store of theirs, which must not leak into the test session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from project.paths import PROJECT_ROOT


def _report(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.report", *map(str, args)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _committed_results(folder: Path) -> Path:
    """The results files git tracks (a checkout may hold newer, uncommitted ones beside them)."""
    tracked = subprocess.run(
        ["git", "ls-files", "benchmarks/results/*.json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked, "no committed results files"
    folder.mkdir()
    for name in tracked:
        shutil.copy(PROJECT_ROOT / name, folder)
    return folder


def test_readme_tables_are_what_the_committed_results_give(tmp_path: Path) -> None:
    done = _report("--check", "--results", _committed_results(tmp_path / "results"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_changed_figure_changes_the_table_and_fails_the_check(tmp_path: Path) -> None:
    results = _committed_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    cli = json.loads((results / "cli.json").read_text())
    cli["help"]["median_s"] = 0.75
    (results / "cli.json").write_text(json.dumps(cli))

    stale = _report("--check", "--readme", readme, "--results", results)
    assert stale.returncode == 1
    assert "is stale" in stale.stderr

    assert _report("--readme", readme, "--results", results).returncode == 0
    table = readme.read_text()
    help_row = next(line for line in table.splitlines() if "`python run.py --help`" in line)
    ratio = 0.75 / cli["python_pass"]["median_s"]
    assert help_row.endswith(f"| 0.75 | {cli['python_pass']['median_s']:.2f} | {ratio:.2f} |")
    assert _report("--check", "--readme", readme, "--results", results).returncode == 0

    (results / "promotion.json").unlink()
    assert _report("--readme", readme, "--results", results).returncode == 0
    table = readme.read_text()
    assert "promotion wall s" not in table
    assert "- promotion wall time: `python -m benchmarks.promotion`" in table

"""The README's benchmark rows: one formatter, used by each benchmark when it finishes and by
`python -m benchmarks.report` when it rebuilds the README's tables from the results files.

A row's figures and its context (the load average, the machine) come from one results file; a
benchmark's `rows(results)` turns that file's dict into rows, so a row printed after a run and
the row in the README are the same text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "| measurement | ours | baseline | ratio |\n|---|---|---|---|"


@dataclass(frozen=True)
class Row:
    measurement: str
    ours: str
    baseline: str = ""
    ratio: str = ""

    def markdown(self) -> str:
        cells = (self.measurement, self.ours, self.baseline, self.ratio)
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


@dataclass(frozen=True)
class Cells:
    """A row of a table with a header of its own."""

    cells: tuple[str, ...]

    def markdown(self) -> str:
        return "| " + " | ".join(self.cells) + " |"


def compare(
    measurement: str, ours: float, baseline: float, digits: int = 1, ratio_digits: int = 2
) -> Row:
    """A row of two figures from the same run and their ratio."""
    return Row(
        measurement,
        f"{ours:,.{digits}f}",
        f"{baseline:,.{digits}f}",
        f"{ours / baseline:.{ratio_digits}f}" if baseline else "",
    )


def conditions(results: dict) -> str:
    """What the run's machine was doing, as `benchmarks.env.save_results` recorded it ("" when the
    file predates that record); starts with "; " to close a row's parenthesis."""
    run = results.get("run")
    if run:
        return (
            f"; {run['cpus']} CPUs, load average {run['load_average_at_start']:.1f} at the start, "
            f"{run['load_average_at_end']:.1f} at the end"
        )
    if "load_average_at_start" in results:
        end = results.get("load_average_at_end")
        tail = f", {end:.1f} at the end" if end is not None else ""
        return f"; load average {results['load_average_at_start']:.1f} at the start{tail}"
    return ""


def markdown(rows: Iterable[Row | Cells], header: str = HEADER) -> str:
    return "\n".join([header, *(row.markdown() for row in rows)])


def print_table(rows: Iterable[Row], header: str = HEADER) -> None:
    print(markdown(rows, header))

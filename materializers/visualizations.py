"""HTML views of the project's artifacts, shown by the ZenML dashboard (plain HTML, inline CSS)."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from tagger.behavior import BehaviorReport
from tagger.evaluation import EvaluationReport, Scores
from tagger.validation import ValidationReport

_STYLE = """
<style>
body { font-family: system-ui, sans-serif; margin: 16px; color: #1f2937; }
h2 { font-size: 18px; margin: 18px 0 8px; } h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 12px; }
th, td { border: 1px solid #e5e7eb; padding: 4px 10px; text-align: right; }
th { background: #f3f4f6; } td.l, th.l { text-align: left; }
.ok { color: #047857; font-weight: 600; } .bad { color: #b91c1c; font-weight: 600; }
</style>
"""


def _page(title: str, body: str) -> str:
    return f"<html><head><meta charset='utf-8'>{_STYLE}</head><body><h2>{escape(title)}</h2>{body}</body></html>"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(
        f"<th class='l'>{h}</th>" if i == 0 else f"<th>{h}</th>" for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='l'>{c}</td>" if i == 0 else f"<td>{c}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _score_row(name: str, s: Scores) -> list[str]:
    return [
        escape(name),
        f"{s.precision:.3f}",
        f"{s.recall:.3f}",
        f"{s.f1:.3f}",
        str(s.num_samples),
    ]


def validation_html(report: ValidationReport) -> str:
    status = (
        "<span class='ok'>PASSED</span>" if report.success else "<span class='bad'>FAILED</span>"
    )
    rows = [
        [
            escape(r.expectation),
            escape(r.column),
            "<span class='ok'>✓</span>" if r.success else "<span class='bad'>✗</span>",
            str(r.unexpected_count),
            escape(r.error or ", ".join(r.examples) or r.observed),
        ]
        for r in report.results
    ]
    body = f"<p>{status}: suite <b>{escape(report.suite)}</b> on {report.row_count} rows</p>"
    body += _table(["expectation", "column", "passed", "unexpected", "details"], rows)
    return _page("Data validation", body)


def _heat(value: int, row_total: int) -> str:
    share = value / row_total if row_total else 0.0
    alpha = 0.08 + 0.85 * share
    text = "#fff" if share > 0.5 else "#111"
    return f"<td style='background: rgba(37,99,235,{alpha:.2f}); color: {text}'>{value}</td>"


def confusion_html(labels: list[str], matrix: list[list[int]]) -> str:
    head = "<th class='l'>true \\ predicted</th>" + "".join(
        f"<th>{escape(label)}</th>" for label in labels
    )
    rows = "".join(
        f"<tr><td class='l'>{escape(label)}</td>"
        + "".join(_heat(v, sum(row)) for v in row)
        + "</tr>"
        for label, row in zip(labels, matrix, strict=True)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def evaluation_html(report: EvaluationReport) -> str:
    header = ["", "precision", "recall", "f1", "samples"]
    body = (
        f"<p>accuracy <b>{report.accuracy:.3f}</b>, weighted F1 <b>{report.overall.f1:.3f}</b></p>"
    )
    body += "<h3>Overall (weighted)</h3>" + _table(header, [_score_row("overall", report.overall)])
    body += "<h3>Per class</h3>" + _table(
        header, [_score_row(k, v) for k, v in report.per_class.items()]
    )
    body += "<h3>Slices</h3>" + _table(header, [_score_row(k, v) for k, v in report.slices.items()])
    body += "<h3>Confusion matrix</h3>" + confusion_html(report.labels, report.confusion)
    return _page("Evaluation", body)


def classifier_html(info: dict[str, object]) -> str:
    rows = [[escape(str(k)), escape(str(v))] for k, v in info.items()]
    return _page("Text classifier bundle", _table(["property", "value"], rows))


def behavior_html(report: BehaviorReport) -> str:
    failed = report.failures()
    verdict = (
        "<span class='bad'>BLOCKS PRODUCTION</span>: a minimum-functionality case failed"
        if report.blocks_production
        else "<span class='ok'>minimum functionality passed</span>"
    )
    rates = ", ".join(f"{kind} {rate:.0%}" for kind, rate in report.pass_rates().items())
    rows = [
        [
            escape(r.kind),
            escape(r.case),
            escape(r.text),
            escape(r.expected),
            escape(r.predicted),
            f"{r.confidence:.2f}",
            "<span class='ok'>✓</span>" if r.passed else "<span class='bad'>✗</span>",
        ]
        for r in sorted(report.results, key=lambda r: r.passed)
    ]
    body = f"<p>{verdict}; {len(failed)} of {len(report.results)} checks failed ({rates})</p>"
    body += _table(["kind", "case", "text", "expected", "predicted", "confidence", "passed"], rows)
    return _page("Behavioral tests", body)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def promotion_html(
    model: str,
    candidate: int,
    previous_production: int | None,
    decision: dict[str, Any],
    versions: list[dict[str, Any]],
) -> str:
    """The registry as the promotion left it, for users of the open-source dashboard, which
    shows a run's artifacts but not the model version pages (those are ZenML Pro)."""
    stage = decision.get("stage", "-")
    mark = "ok" if stage == "production" else "bad"
    body = (
        f"<p>Candidate: <b>{escape(model)} version {candidate}</b>; production before it: "
        f"<b>{'none' if previous_production is None else f'version {previous_production}'}</b></p>"
        f"<p>Decision: <span class='{mark}'>{escape(stage)}</span>: "
        f"{escape(str(decision.get('reason', '-')))}</p>"
    )
    primary = decision.get("primary")
    sets = [
        [
            escape(row["name"]) + (" <b>(primary)</b>" if row["name"] == primary else ""),
            str(row["rows"]),
            _score(row["candidate"]),
            _score(row["production"]),
            "-" if row["production"] is None else f"{row['candidate'] - row['production']:+.4f}",
        ]
        for row in decision.get("sets") or []
    ]
    metric = escape(str(decision.get("metric", "")))
    body += f"<h3>Scores per evaluation set ({metric})</h3>" + _table(
        ["evaluation set", "rows", "candidate", "production", "difference"], sets
    )
    for title, failures in (
        ("Failed floors", decision.get("failed_floors") or []),
        ("Failed behavior checks", decision.get("failed_behavior") or []),
    ):
        if failures:
            items = "".join(f"<li>{escape(str(f))}</li>" for f in failures)
            body += f"<h3>{title}</h3><ul class='bad'>{items}</ul>"
    rows = [
        [
            f"<b>{v['number']} (this run)</b>" if v["number"] == candidate else str(v["number"]),
            escape(v["stage"]),
            escape(v["created"]),
            _score(v["f1"]),
            _score(v["accuracy"]),
            escape(v["mlflow_run_id"] or "-"),
        ]
        for v in versions
    ]
    body += "<h3>Model versions after this promotion</h3>" + _table(
        ["version", "stage", "created", "f1", "accuracy", "MLflow run"], rows
    )
    return _page(f"Promotion of {model} version {candidate}", body)


def predictions_html(summary: dict[str, Any], files: int, head: pd.DataFrame) -> str:
    """Counts and confidence per tag over every prediction, and the first rows."""
    per_class = summary["per_class"]
    means = summary["mean_confidence_per_class"]
    rows = [[escape(tag), str(count), f"{means[tag]:.3f}"] for tag, count in per_class.items()]
    rows.append(["<b>all</b>", str(summary["rows"]), f"{summary['mean_confidence']:.3f}"])
    shown = head.round(3).astype(str)
    body = (
        f"<p>{summary['rows']} predictions in {files} parquet files</p>"
        + _table(["tag", "rows", "mean confidence"], rows)
        + f"<h3>first {len(shown)} rows</h3>"
        + _table(
            [escape(str(c)) for c in shown.columns],
            [[escape(v) for v in row] for row in shown.itertuples(index=False)],
        )
    )
    return _page("Batch predictions", body)


def _bars(edges: list[float], reference: list[float], current: list[float]) -> str:
    """Two histograms side by side as inline SVG: reference grey, current blue."""
    width, height, n = 360, 90, len(reference)
    top = max([*reference, *current, 1e-9])
    step = width / max(n, 1)
    bars = []
    for i, (r, c) in enumerate(zip(reference, current, strict=True)):
        x = i * step
        for offset, value, colour in ((0.0, r, "#9ca3af"), (step / 2, c, "#2563eb")):
            h = height * value / top
            bars.append(
                f"<rect x='{x + offset:.1f}' y='{height - h:.1f}' width='{step / 2 - 1:.1f}' "
                f"height='{h:.1f}' fill='{colour}'/>"
            )
    axis = f"{edges[0]:.3g} … {edges[-1]:.3g}" if edges else ""
    return (
        f"<svg width='{width}' height='{height + 4}' role='img'>{''.join(bars)}</svg>"
        f"<div style='font-size:12px;color:#6b7280'>{escape(axis)} (grey: reference, blue: current)</div>"
    )


def monitoring_html(report: Any) -> str:
    """A tagger.monitoring.MonitoringReport: alarms, every check, tag mix, distributions."""
    alarms = report.alarms
    status = (
        f"<span class='bad'>{len(alarms)} ALARM(S)</span>"
        if alarms
        else "<span class='ok'>no alarm</span>"
    )
    window = report.window
    head = (
        f"<p>{status} — model {escape(report.model)} v{report.model_version}, "
        f"{window.get('rows', 0)} answers ({window.get('labelled', 0)} with feedback) from "
        f"{escape(str(window.get('source')))}, {escape(str(window.get('since') or ''))} to "
        f"{escape(str(window.get('until') or ''))}</p>"
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in [*report.notes, *window.get("skipped", [])])

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    rows = [
        [
            escape(c.name),
            escape(c.group),
            number(c.value),
            number(c.reference),
            escape(c.test),
            number(c.p_value),
            number(c.effect),
            escape(c.limit),
            "<span class='bad'>ALARM</span>" if c.alarm else "<span class='ok'>ok</span>",
        ]
        for c in report.checks
    ]
    checks = _table(
        ["check", "group", "current", "reference", "test", "p", "effect", "alarm when", ""], rows
    )
    mix = report.tag_mix
    mix_rows = [
        [escape(tag), f"{share:.3f}", f"{mix.get('current', {}).get(tag, 0.0):.3f}"]
        for tag, share in mix.get("reference", {}).items()
    ]
    plots = "".join(
        f"<h3>{escape(name)}</h3>{_bars(d['edges'], d['reference'], d['current'])}"
        for name, d in report.distributions.items()
    )
    return _page(
        "Monitoring report",
        head
        + (f"<ul>{notes}</ul>" if notes else "")
        + "<h3>Checks</h3>"
        + checks
        + "<h3>Predicted tag mix</h3>"
        + _table(["tag", "reference", "current"], mix_rows)
        + plots,
    )

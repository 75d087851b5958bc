"""The HTML report of a run: one self-contained file, no scripts, no network.

Pure: a status dict (``status.build_status``) in, HTML text out.  The chart is
inline SVG — per phase, one bar per iteration for the exit-gate score and a
dashed mark at that iteration's threshold — so the report opens anywhere and
can be attached to a ticket.  Every value from the run is escaped.
"""

from __future__ import annotations

import html
import time
from typing import Any

__all__ = ["render_chart", "render_html"]

_PLOT_H = 200  # pixels for 0..100 %
_BAR_W = 26
_BAR_GAP = 6
_GROUP_GAP = 30
_LEFT = 44
_TOP = 16
_BOTTOM = 46


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _y(score: float) -> float:
    return _TOP + _PLOT_H * (1 - max(0.0, min(100.0, score)) / 100.0)


def render_chart(status: dict[str, Any]) -> str:
    """Inline SVG: score (bar) against threshold (dashed mark) per phase and iteration."""
    groups = [(ph["name"], [it for it in ph["iterations"] if it.get("score") is not None]) for ph in status["phases"]]
    width = _LEFT + sum(max(1, len(its)) * (_BAR_W + _BAR_GAP) + _GROUP_GAP for _, its in groups) + 10
    height = _TOP + _PLOT_H + _BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="score against threshold per phase and iteration">'
    ]
    for tick in (0, 25, 50, 75, 100):
        y = _y(tick)
        out.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#666">{tick}%</text>')
    x = _LEFT + _GROUP_GAP / 2
    for name, its in groups:
        start = x
        if not its:
            out.append(
                f'<text x="{x + _BAR_W / 2:.1f}" y="{_TOP + _PLOT_H - 4}" '
                'text-anchor="middle" font-size="10" fill="#999">–</text>'
            )
            x += _BAR_W + _BAR_GAP
        for it in its:
            score = float(it["score"])
            threshold = float(it["threshold"] or 0)
            colour = (
                "#2e9d4f"
                if it.get("verdict") == "passed"
                else ("#e0a526" if it.get("verdict") == "rework" else "#d0453b")
            )
            y = _y(score)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{_BAR_W}" height="{_TOP + _PLOT_H - y:.1f}" fill="{colour}">'
                f"<title>{_e(name)} iteration {it['iteration']}: score {score:g} / threshold {threshold:g} "
                f"({_e(it.get('verdict'))})</title></rect>"
            )
            ty = _y(threshold)
            out.append(
                f'<line x1="{x - 3:.1f}" y1="{ty:.1f}" x2="{x + _BAR_W + 3:.1f}" y2="{ty:.1f}" '
                'stroke="#222" stroke-width="2" stroke-dasharray="4 2"/>'
            )
            out.append(
                f'<text x="{x + _BAR_W / 2:.1f}" y="{_TOP + _PLOT_H + 13}" '
                f'text-anchor="middle" font-size="10" fill="#444">i{it["iteration"]}</text>'
            )
            x += _BAR_W + _BAR_GAP
        mid = (start + x - _BAR_GAP) / 2
        out.append(
            f'<text x="{mid:.1f}" y="{_TOP + _PLOT_H + 30}" '
            f'text-anchor="middle" font-size="12" fill="#222">{_e(name)}</text>'
        )
        x += _GROUP_GAP
    out.append(f'<line x1="{_LEFT}" y1="{_TOP + _PLOT_H}" x2="{width - 6}" y2="{_TOP + _PLOT_H}" stroke="#888"/>')
    out.append("</svg>")
    return "\n".join(out)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 6px} h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;margin:6px 0 10px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} .passed,.ok,.approved{color:#1f7a3a;font-weight:600}
.failed,.blocked,.not_improving,.exhausted,.below,.cancelled{color:#b3261e;font-weight:600}
.rework,.running,.waiting_approval,.interrupted{color:#a66b00;font-weight:600}
.muted{color:#777} .legend span{margin-right:14px}
pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}
"""


def _cls(value: Any) -> str:
    return _e(str(value).replace(" ", "_"))


def render_html(status: dict[str, Any]) -> str:
    """The full report page."""
    run = status["run"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>pipeline run {_e(run['id'])} — {_e(run['name'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Pipeline run {_e(run['id'])}: {_e(run['name'])}</h1>",
        f"<div>state <span class='{_cls(run['state'])}'>{_e(run['state'])}</span>"
        f" · mode {_e(run['mode'])} · started {_fmt_time(run['created'])} · ended {_fmt_time(run['ended'])}"
        f" · {status['totals']['duration']:.1f}s · {status['totals']['steps_run']} steps"
        f" · {status['totals']['gates']} gate verdicts</div>",
    ]
    if run.get("detail"):
        parts.append(f"<p class='muted'>{_e(run['detail'])}</p>")
    if run.get("requirement"):
        parts.append(f"<h2>Requirement</h2><pre>{_e(run['requirement'])}</pre>")
    parts.append(
        f"<p class='muted'>working directory {_e(run['workdir'])} · pipeline file {_e(run.get('source') or '(text)')}"
        f" · sha256 {_e((run.get('content_sha') or '')[:12])}</p>"
    )
    parts.append("<h2>Score against threshold</h2>")
    parts.append(render_chart(status))
    parts.append(
        "<div class='legend muted'><span>bar = exit-gate score (green passed, amber rework, red stopped)</span>"
        "<span>dashed mark = the iteration's threshold</span></div>"
    )
    for ph in status["phases"]:
        parts.append(f"<h2>{_e(ph['name'])} <span class='{_cls(ph['state'])}'>{_e(ph['state'])}</span></h2>")
        if ph.get("description"):
            parts.append(f"<div class='muted'>{_e(ph['description'])}</div>")
        parts.append(f"<div class='muted'>thresholds {', '.join(f'{t:g}' for t in ph['thresholds'])} %</div>")
        if ph.get("entry"):
            problems = "; ".join(ph["entry"]["problems"]) or "ok"
            parts.append(
                f"<div>entry gate: <span class='{_cls(ph['entry']['status'])}'>{_e(ph['entry']['status'])}</span>"
                f" — {_e(problems)}</div>"
            )
        if ph.get("approval_required"):
            a = ph.get("approved")
            if a:
                note = " — " + _e(a["note"]) if a.get("note") else ""
                approval = "approved " + _fmt_time(a["approved"]) + note
            else:
                approval = "not yet approved"
            parts.append(f"<div>approval: {approval}</div>")
        for it in ph["iterations"]:
            verdict = it.get("verdict") or "-"
            score = "-" if it.get("score") is None else f"{it['score']:g}"
            threshold = "-" if it.get("threshold") is None else f"{it['threshold']:g}"
            parts.append(
                f"<h3>iteration {it['iteration']}: score {score} / threshold {threshold} — "
                f"<span class='{_cls(verdict)}'>{_e(verdict)}</span></h3>"
            )
            if it["steps"]:
                parts.append(
                    "<table><tr><th>step</th><th>status</th><th>attempts</th><th>starts</th><th>tasks</th><th>duration</th><th>detail</th></tr>"
                )
                for s in it["steps"]:
                    dur = "-" if s.get("duration") is None else f"{s['duration']:.2f}s"
                    parts.append(
                        f"<tr><td>{_e(s['step'])}</td><td class='{_cls(s['status'])}'>{_e(s['status'])}</td>"
                        f"<td>{_e(s.get('attempts'))}</td><td>{_e(s['starts'])}</td>"
                        f"<td>{_e(', '.join(map(str, s['tasks'])))}</td><td>{dur}</td>"
                        f"<td>{_e(s.get('detail'))}</td></tr>"
                    )
                parts.append("</table>")
            if it["checks"]:
                parts.append(
                    "<table><tr><th>check</th><th>kind</th><th>weight</th><th>score</th><th>owners</th><th>detail</th></tr>"
                )
                for c in it["checks"]:
                    mark = " class='failed'" if c.get("failed") else ""
                    parts.append(
                        f"<tr><td{mark}>{_e(c['name'])}</td><td>{_e(c['kind'])}</td><td>{_e(c['weight'])}</td><td>{_e(c['score'])}</td>"
                        f"<td>{_e(', '.join(c.get('owners') or []))}</td><td>{_e(c.get('detail'))}</td></tr>"
                    )
                parts.append("</table>")
    parts.append(f"<p class='muted'>generated {_fmt_time(time.time())} by executive</p></body></html>")
    return "\n".join(parts)

"""Reports a clinician can file: one self-contained HTML file per session or per walker.

Self-contained: the charts are inline SVG, the style sheet is inline, nothing is fetched (no
scripts, fonts, images or links to load), so the file opens and prints anywhere offline, and a
print CSS lays it out on A4. The charts come from matplotlib's SVG backend (vector, so they print
sharp; no raster backend and no pyplot global state: each chart is its own ``Figure``). What each
chart plots is also embedded as JSON (``<script type="application/json" id="report-data">``),
so a reader (and the tests) can check the numbers against the store.

Only the pseudonymous walker id is printed; a walker's name stays in the database.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from retro_treadmill import __version__
from retro_treadmill.records.model import EventKind, SessionRecord, utc_iso
from retro_treadmill.records.programs import Program
from retro_treadmill.records.progression import Place, session_result, step
from retro_treadmill.records.ratings import effort_text
from retro_treadmill.records.walkers import Walker, describe_caps
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import SpeedUnit, from_kmh, unit_label

MARKED_KINDS = (EventKind.ALARM, EventKind.OPERATOR, EventKind.REMOTE, EventKind.REFUSED)
"""Events marked on the session timeline."""

_COLOURS = {
    "target": "#e67e22",
    "actual": "#0b5fa5",
    "cap": "#c0392b",
    "hold": "#d68910",
    "hr": "#8e1b5a",
    "alarm": "#c0392b",
    "operator": "#566573",
    "refused": "#d68910",
    "pain": "#c0392b",
    "effort": "#0b5fa5",
    "minutes": "#7fb3d5",
}


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What a session report says besides the record itself."""

    record: SessionRecord
    stage: str | None = None
    """The program stage the session ran, e.g. ``knee-oa-6-weeks, week 2``."""
    walker: Walker | None = None
    limits: SafetyLimits | None = None
    """The limits in force for this walker now (the clinic's tightened by the walker's)."""


def _local(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def _minutes(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


# -- the data each chart plots -------------------------------------------------------------------


def session_series(record: SessionRecord, units: SpeedUnit) -> dict[str, Any]:
    """The sampled series a session report plots, in display units (minutes since the start,
    ``units`` for speeds, percent, bpm); ``None`` where a sample had no value."""
    samples = record.samples

    def speed(v: float | None) -> float | None:
        return None if v is None else round(from_kmh(v, units), 4)

    return {
        "session_id": record.info.session_id,
        "units": units,
        "minutes": [round(s.elapsed_s / 60, 4) for s in samples],
        "target_speed": [speed(s.target_speed_kmh) for s in samples],
        "belt_speed": [speed(s.belt_speed_kmh) for s in samples],
        "target_incline": [s.target_incline_pct for s in samples],
        "incline": [s.incline_pct for s in samples],
        "heart_rate": [s.heart_rate_bpm for s in samples],
        "events": [
            {
                "minutes": round(max(e.t - record.info.started_at, 0.0) / 60, 4),
                "kind": e.kind,
                "name": e.name,
                "detail": e.detail,
            }
            for e in record.events
            if e.kind in MARKED_KINDS
        ],
    }


@dataclass(frozen=True, slots=True)
class ProgressRow:
    """One session in a walker's progression."""

    record: SessionRecord
    stage: str | None


def walker_stages(records: Sequence[SessionRecord], program: Program | None) -> list[ProgressRow]:
    """Each session (oldest first) with the program stage it ran (``None``: another profile or
    no program), by replaying the progression rule."""
    rows = []
    place = Place()
    for record in sorted(records, key=lambda r: (r.info.started_at, r.info.session_id)):
        stage: str | None = None
        alarms = [e.name for e in record.events if e.kind == EventKind.ALARM]
        result = session_result(record.row, alarms[0] if alarms else None)
        if program is not None:
            current = program.stages[place.stage_index]
            if record.info.profile_name == current.profile:
                stage = f"{current.name}, session {place.counted + 1} of {current.sessions}"
            if result is not None:
                place = step(program, place, result)
        rows.append(ProgressRow(record, stage))
    return rows


def progression_series(rows: Sequence[ProgressRow], units: SpeedUnit) -> dict[str, Any]:
    """Per session: date, profile, stage, minutes walked backward, peak speed, pain, effort."""
    out: dict[str, Any] = {"units": units, "sessions": []}
    for row in rows:
        r = row.record.row
        rating = r.rating
        peak = r.totals.peak_speed_kmh
        out["sessions"].append(
            {
                "session_id": r.session_id,
                "started_at": utc_iso(r.started_at),
                "profile": r.profile_name,
                "stage": row.stage,
                "backward_minutes": round(r.totals.backward_s / 60, 3),
                "peak_speed": None if peak is None else round(from_kmh(peak, units), 4),
                "pain": None if rating is None else rating.pain,
                "effort": None if rating is None else rating.effort,
                "outcome": r.outcome,
                "alarms": r.totals.alarm_count,
            }
        )
    return out


# -- charts ----------------------------------------------------------------------------------------


def _svg(figure: Figure, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog; ids salted per chart so several
    charts in one page do not share ids)."""
    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": salt, "svg.fonttype": "none", "path.simplify": False}):
        figure.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    start = text.index("<svg")
    return text[start:]


def _figure(rows: int = 1, height: float = 2.0) -> tuple[Figure, list[Axes]]:
    with rc_context({"path.simplify": False}):
        figure = Figure(figsize=(7.2, height * rows), layout="constrained")
        axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
    for ax in axes:
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return figure, axes


def _plot(ax: Axes, xs: list[float], ys: list[Any], gid: str, **style: Any) -> None:
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if not points:
        return
    (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], **style)
    line.set_gid(gid)


_ACTUAL_STYLE: dict[str, Any] = {"color": _COLOURS["actual"], "linewidth": 1.4}
"""The line of what the treadmill reported."""


def _prescribed(ax: Axes, xs: list[float], ys: list[Any], gid: str) -> None:
    """The prescribed line: dashed, drawn over the treadmill's, which mostly follows it."""
    style = {"linestyle": "--", "linewidth": 1.2, "label": "prescribed", "zorder": 3}
    _plot(ax, xs, ys, gid, color=_COLOURS["target"], **style)


def _cap(ax: Axes, value: float | None, label: str, gid: str, colour: str) -> None:
    if value is None:
        return
    line = ax.axhline(value, color=colour, linewidth=1.0, linestyle=(0, (4, 3)), label=label)
    line.set_gid(gid)


def _mark_events(ax: Axes, events: list[dict[str, Any]], *, axis: int) -> None:
    """A vertical line per event (numbered on the top chart, as in the events table)."""
    for number, event in enumerate(events, start=1):
        kind = event["kind"]
        colour = _COLOURS["alarm" if kind == EventKind.ALARM else "operator"]
        if kind == EventKind.REFUSED:
            colour = _COLOURS["refused"]
        ax.axvline(event["minutes"], color=colour, linewidth=0.8, alpha=0.8).set_gid(
            f"event-{number}-{axis}"
        )
        if axis:
            continue
        ax.annotate(
            str(number),
            (event["minutes"], 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=colour,
            ha="center",
            va="bottom",
        )


def session_chart(
    series: dict[str, Any], limits: SafetyLimits | None, units: SpeedUnit, salt: str
) -> str:
    """Speed, incline and (when there is any) heart rate over the session, target against what
    the treadmill reported, with the caps and the marked events."""
    has_hr = any(v is not None for v in series["heart_rate"])
    figure, axes = _figure(3 if has_hr else 2)
    xs = series["minutes"]
    speed_ax, incline_ax = axes[0], axes[1]
    _prescribed(speed_ax, xs, series["target_speed"], "target-speed")
    _plot(speed_ax, xs, series["belt_speed"], "belt-speed", label="belt", **_ACTUAL_STYLE)
    speed_cap = None if limits is None else round(from_kmh(limits.max_speed_kmh, units), 4)
    _cap(speed_ax, speed_cap, "speed cap", "speed-cap", _COLOURS["cap"])
    speed_ax.set_ylabel(f"speed ({unit_label(units)})", fontsize=8)
    speed_ax.set_ylim(bottom=0)
    _prescribed(incline_ax, xs, series["target_incline"], "target-incline")
    _plot(incline_ax, xs, series["incline"], "incline", label="treadmill", **_ACTUAL_STYLE)
    incline_cap = None if limits is None else _finite(limits.max_incline_pct)
    _cap(incline_ax, incline_cap, "incline cap", "incline-cap", _COLOURS["cap"])
    incline_ax.set_ylabel("incline (%)", fontsize=8)
    if has_hr:
        hr_ax = axes[2]
        _plot(
            hr_ax,
            xs,
            series["heart_rate"],
            "heart-rate",
            color=_COLOURS["hr"],
            linewidth=1.2,
            label="heart rate",
        )
        if limits is not None:
            _cap(
                hr_ax,
                _finite(limits.max_heart_rate_bpm),
                "stop above",
                "hr-limit",
                _COLOURS["cap"],
            )
            hold = _finite(getattr(limits, "hr_hold_above_bpm", None))
            _cap(hr_ax, hold, "hold at", "hr-hold", _COLOURS["hold"])
        hr_ax.set_ylabel("heart rate (bpm)", fontsize=8)
    for index, ax in enumerate(axes):
        _mark_events(ax, series["events"], axis=index)
        ax.legend(fontsize=7, loc="lower right", frameon=False, ncols=3)
    axes[-1].set_xlabel("minutes since the start", fontsize=8)
    return _svg(figure, salt)


def progression_chart(series: dict[str, Any], salt: str) -> str:
    """Minutes walked backward and peak speed per session; pain and effort per session."""
    figure, (work_ax, rating_ax) = _figure(2, height=2.2)
    sessions = series["sessions"]
    xs = list(range(1, len(sessions) + 1))
    bars = work_ax.bar(
        xs, [s["backward_minutes"] for s in sessions], color=_COLOURS["minutes"], width=0.6
    )
    for number, patch in enumerate(bars.patches, start=1):
        patch.set_gid(f"backward-minutes-{number}")
    work_ax.set_ylabel("minutes backward", fontsize=8)
    speed_ax = work_ax.twinx()
    _plot(
        speed_ax,
        [float(x) for x in xs],
        [s["peak_speed"] for s in sessions],
        "peak-speed",
        color=_COLOURS["actual"],
        marker="o",
        linewidth=1.2,
    )
    speed_ax.set_ylabel(f"peak speed ({unit_label(series['units'])})", fontsize=8)
    speed_ax.set_ylim(bottom=0)
    speed_ax.tick_params(labelsize=8)
    _plot(
        rating_ax,
        [float(x) for x in xs],
        [s["pain"] for s in sessions],
        "pain",
        color=_COLOURS["pain"],
        marker="o",
        label="pain (0-10)",
    )
    _plot(
        rating_ax,
        [float(x) for x in xs],
        [s["effort"] for s in sessions],
        "effort",
        color=_COLOURS["effort"],
        marker="s",
        label="effort (Borg CR10)",
    )
    rating_ax.set_ylim(0, 10.5)
    rating_ax.set_ylabel("rating", fontsize=8)
    rating_ax.legend(fontsize=7, loc="upper right", frameon=False)
    for ax in (work_ax, rating_ax):
        ax.set_xticks(xs)
        ax.set_xlim(0.4, len(xs) + 0.6)
    rating_ax.set_xlabel("session", fontsize=8)
    return _svg(figure, salt)


# -- HTML ------------------------------------------------------------------------------------------

_CSS = """
:root { --ink: #1b2631; --muted: #566573; --line: #d5d8dc; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.4 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 190mm; padding: 10mm 0; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { text-align: left; padding: 1mm 2mm; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.5mm 6mm; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
figure { margin: 2mm 0; }
figure svg { width: 100%; height: auto; }
.alarm { color: #c0392b; font-weight: 600; }
.note { white-space: pre-wrap; }
footer { color: var(--muted); font-size: 8pt; margin-top: 6mm; }
@page { size: A4; margin: 12mm; }
@media print {
  body { padding: 0; max-width: none; }
  figure, table, dl, section.keep { break-inside: avoid; }
  figure svg { max-height: 165mm; }
  h2 { break-after: avoid; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str, data: dict[str, Any]) -> str:
    payload = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n"
        f'<script type="application/json" id="report-data">{payload}</script>\n'
        f"<footer>retro-treadmill {_e(__version__)}, report made {_e(_local_now())}. Speeds as "
        "the treadmill reported them; limits as configured when the report was made. The "
        "treadmill's own safety key remains the emergency stop.</footer>\n"
        "</body>\n</html>\n"
    )


def _local_now() -> str:
    return datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def _facts(pairs: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<dl class="facts">{items}</dl>'


def _speed(kmh: float | None, units: SpeedUnit) -> str:
    return "-" if kmh is None else f"{from_kmh(kmh, units):.2f} {unit_label(units)}"


def _distance(metres: float, units: SpeedUnit) -> str:
    if units == "kmh":
        return f"{metres / 1000:.2f} km" if metres >= 1000 else f"{metres:.0f} m"
    miles = metres / 1609.344
    return f"{miles:.2f} mi" if miles >= 0.25 else f"{metres / 0.9144:.0f} yd"


def _limits_text(limits: SafetyLimits | None, units: SpeedUnit) -> str:
    if limits is None:
        return "-"
    parts = [
        f"speed {_speed(limits.max_speed_kmh, units)}",
        f"incline {limits.max_incline_pct:g} %",
    ]
    if math.isfinite(limits.max_heart_rate_bpm):
        parts.append(f"heart rate stop above {limits.max_heart_rate_bpm:.0f} bpm")
    hold = getattr(limits, "hr_hold_above_bpm", math.inf)
    if math.isfinite(hold):
        parts.append(f"hold at {hold:.0f} bpm")
    return _e(", ".join(parts))


def _exit(code: int | None) -> str:
    return "" if code is None else f" (exit code {code})"


def _events_table(record: SessionRecord, marked: list[dict[str, Any]]) -> str:
    if not marked:
        return "<p>No alarms, operator actions or refused commands.</p>"
    rows = []
    for number, event in enumerate(marked, start=1):
        css = ' class="alarm"' if event["kind"] == EventKind.ALARM else ""
        rows.append(
            f"<tr><td>{number}</td><td>{_minutes(event['minutes'] * 60)}</td>"
            f"<td{css}>{_e(event['kind'])}</td><td>{_e(event['name'])}</td>"
            f"<td>{_e(event['detail'])}</td></tr>"
        )
    return (
        "<table><thead><tr><th>#</th><th>time</th><th>kind</th><th>what</th><th>detail</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _rating_html(record: SessionRecord) -> str:
    rating = record.row.rating
    if rating is None or rating.empty:
        return "not rated"
    parts = []
    if rating.pain is not None:
        parts.append(f"pain {rating.pain}/10 (numeric rating scale)")
    if rating.effort is not None:
        parts.append(f"effort {_e(effort_text(rating.effort))} (Borg CR10)")
    text = _e("; ".join(parts)) if parts else ""
    if rating.note:
        text += f'<div class="note">{_e(rating.note)}</div>'
    return text


def session_section(context: SessionContext, units: SpeedUnit, salt: str) -> tuple[str, Any]:
    """A session's part of a report and the data it plots."""
    record = context.record
    info, row, totals = record.info, record.row, record.totals
    series = session_series(record, units)
    facts = [
        ("started", _e(f"{_local(info.started_at)} ({utc_iso(info.started_at)})")),
        ("walker", _e(info.walker_id or "-")),
        ("profile", _e(f"{info.profile_name} (sha256 {info.profile_sha256[:12]})")),
        ("program stage", _e(context.stage or "-")),
        ("treadmill", _e(f"{info.device_name} [{info.device_address}]")),
        (
            "outcome",
            _e(row.outcome + ("" if row.exit_code is None else f" (exit {row.exit_code})")),
        ),
        ("limits now", _limits_text(context.limits, units)),
        ("rating", _rating_html(record)),
    ]
    walked = [
        ("time", _minutes(totals.duration_s)),
        (
            "walking",
            f"backward {_minutes(totals.backward_s)}, forward {_minutes(totals.forward_s)}",
        ),
        (
            "distance",
            f"{_distance(totals.distance_m, units)} "
            f"(backward {_distance(totals.backward_distance_m, units)})",
        ),
        (
            "speed",
            f"average {_speed(totals.avg_speed_kmh, units)}, "
            f"peak {_speed(totals.peak_speed_kmh, units)}",
        ),
        (
            "peak incline",
            "-" if totals.peak_incline_pct is None else f"{totals.peak_incline_pct:.1f} %",
        ),
        (
            "heart rate",
            "-"
            if totals.avg_heart_rate_bpm is None
            else f"average {totals.avg_heart_rate_bpm:.0f} bpm, peak {totals.peak_heart_rate_bpm}",
        ),
        (
            "events",
            f"alarms {totals.alarm_count}, operator actions {totals.operator_actions}, "
            f"refused commands {totals.refused_count}",
        ),
    ]
    chart = session_chart(series, context.limits, units, salt)
    body = (
        f'<section class="session" data-session-id="{_e(info.session_id)}">'
        f"<h2>Session {_e(_local(info.started_at))} · {_e(info.profile_name)}</h2>"
        f'<section class="keep">{_facts(facts)}</section>'
        f"<h2>Prescription against the belt</h2><figure>{chart}</figure>"
        f'<section class="keep"><h2>Totals</h2>'
        f"{_facts([(k, _e(v)) for k, v in walked])}</section>"
        f'<section class="keep"><h2>Alarms and operator actions</h2>'
        f"{_events_table(record, series['events'])}</section>"
        "</section>"
    )
    return body, series


def session_report(context: SessionContext, units: SpeedUnit = "mph") -> str:
    """One session's report as a self-contained HTML page."""
    section, series = session_section(context, units, "session-0")
    info = context.record.info
    header = (
        "<h1>Backward-walking session</h1>"
        f'<p class="sub">Walker {_e(info.walker_id or "-")} · session {_e(info.session_id[:8])}'
        f" · {_e(_local(info.started_at))}</p>"
    )
    return _page(f"Session {info.session_id[:8]}", header + section, {"kind": "session", **series})


def walker_report(
    walker: Walker,
    rows: Sequence[ProgressRow],
    *,
    program: Program | None,
    next_stage: str | None,
    limits: SafetyLimits | None,
    units: SpeedUnit = "mph",
    since: float | None = None,
) -> str:
    """A walker's progression across their sessions as a self-contained HTML page."""
    series = progression_series(rows, units)
    facts = [
        ("walker", _e(walker.walker_id)),
        ("own caps", _e(describe_caps(walker.caps))),
        ("limits now", _limits_text(limits, units)),
        ("program", _e(program.name if program else "-")),
        ("next session", _e(next_stage or "-")),
        ("sessions", _e(f"{len(rows)}" + (f" since {_local(since)}" if since else ""))),
    ]
    table_rows = []
    for number, (row, data) in enumerate(zip(rows, series["sessions"], strict=True), start=1):
        r = row.record.row
        rating = r.rating
        note = "" if rating is None else rating.note
        css = ' class="alarm"' if r.totals.alarm_count else ""
        table_rows.append(
            f'<tr data-session-id="{_e(r.session_id)}"><td>{number}</td>'
            f"<td>{_e(_local(r.started_at))}</td>"
            f"<td>{_e(r.profile_name)}<br><small>{_e(row.stage or '')}</small></td>"
            f"<td>{_minutes(r.totals.backward_s)}</td>"
            f"<td>{_e(_speed(r.totals.peak_speed_kmh, units))}</td>"
            f"<td>{'-' if data['pain'] is None else data['pain']}</td>"
            f"<td>{'-' if data['effort'] is None else _e(effort_text(data['effort']))}</td>"
            f"<td{css}>{_e(r.outcome)}"
            + (f", {r.totals.alarm_count} alarm(s)" if r.totals.alarm_count else "")
            + f'</td><td class="note">{_e(note)}</td></tr>'
        )
    table = (
        "<table><thead><tr><th>#</th><th>date</th><th>profile / stage</th><th>backward</th>"
        "<th>peak</th><th>pain</th><th>effort</th><th>outcome</th><th>note</th></tr></thead>"
        f"<tbody>{''.join(table_rows)}</tbody></table>"
    )
    chart = progression_chart(series, "progression") if rows else "<p>No sessions.</p>"
    body = (
        "<h1>Backward-walking progress</h1>"
        f'<p class="sub">Walker {_e(walker.walker_id)}</p>'
        f'<section class="keep">{_facts(facts)}</section>'
        f"<h2>Progression</h2><figure>{chart}</figure>"
        f"<h2>Sessions</h2>{table}"
    )
    return _page(
        f"Walker {walker.walker_id}", body, {"kind": "walker", "walker": walker.walker_id, **series}
    )


_SVG_ID = re.compile(r'<g id="([^"]+)"')


def chart_ids(svg: str) -> list[str]:
    """The ids of the plotted elements in an SVG chart (``belt-speed``, ``event-1``...)."""
    return _SVG_ID.findall(svg)


__all__ = [
    "ProgressRow",
    "SessionContext",
    "chart_ids",
    "progression_chart",
    "progression_series",
    "session_chart",
    "session_report",
    "session_series",
    "walker_report",
    "walker_stages",
]

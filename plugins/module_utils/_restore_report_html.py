# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, and pure: the etcd_restore_report action plugin calls it
# on the controller with the report _restore_report.build made.
"""The restore report as a page to look at: one self-contained HTML file.

The page draws every master's phases on one time axis (an inline SVG built from the
journals' timestamps that the report carries), shades the window in which the control
plane was down, and lists the plan and the checks with their results. It loads nothing:
no script, no style sheet, font or image from anywhere (its Content-Security-Policy says
so to the browser), and every value from the report is escaped.
"""

from __future__ import annotations

import re
from html import escape

from ansible_collections.kubedr.etcd.plugins.module_utils._restore_journal import (
    PHASES,
    ROLLBACK_PHASES,
    parse_iso,
)

# One colour a phase; the legend, the bars and the table use the same ones.
COLOURS = {
    "locked": "#6b7280",
    "staged": "#2563eb",
    "stopped": "#dc2626",
    "swapped": "#d97706",
    "started": "#16a34a",
    "verified": "#0891b2",
    "done": "#111827",
    "rolling-back": "#9333ea",
    "rolled-back": "#6d28d9",
}
OTHER = "#a3a3a3"
DOWN = "#fde2dd"  # the control plane down: opaque, under the lanes

WIDTH = 1000
LABELS = 150  # the lanes' names, left of the plot
RIGHT = 24
TOP = 34  # room for the downtime's label
LANE = 36
BAR = 18
AXIS = 34
STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)

CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #111827; margin: 24px; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e5e7eb; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }
th { font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 13px ui-monospace, monospace; overflow-wrap: anywhere; }
.outcome { display: inline-block; padding: 1px 8px; border-radius: 3px; color: #fff; }
.good { background: #16a34a; } .bad { background: #dc2626; } .none { background: #6b7280; }
.ok { color: #15803d; font-weight: 600; } .fail { color: #b91c1c; font-weight: 600; }
.muted { color: #6b7280; }
.key { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
       vertical-align: -1px; }
svg text { font: 12px system-ui, sans-serif; fill: #111827; }
svg .tick { fill: #4b5563; font-size: 11px; }
"""


def _e(value):
    """The text of a value, escaped for HTML (attributes too); '-' for nothing."""
    if value is None or value == "":
        return "-"
    return escape(str(value), quote=True)


def _natural(text):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text))]


def _by_host(mapping):
    """A mapping's items in the natural order of its keys (docker8 before docker10)."""
    return sorted((mapping or {}).items(), key=lambda item: _natural(item[0]))


def _colour(phase):
    return COLOURS.get(phase, OTHER)


def _times(report):
    """The journals' timestamps and the downtime's, parsed (aware datetimes); not the
    report's ``ended``, the time the report was built."""
    found = [(report.get("downtime") or {}).get(k) for k in ("start", "end")]
    for master in (report.get("masters") or {}).values():
        for entry in (master or {}).get("phases") or []:
            found += [entry.get("start"), entry.get("end")]
    return [t for t in (parse_iso(text) for text in found if text) if t is not None]


def _step(span):
    """A round tick interval giving at most ten ticks over ``span`` seconds."""
    for step in STEPS:
        if span / step <= 10:
            return step
    return STEPS[-1] * (int(span / STEPS[-1] / 10) + 1)


def _seconds_text(seconds):
    return f"{seconds:g}" if seconds >= 1 or seconds == 0 else f"{seconds:.1f}"


def timeline(report):
    """The SVG timeline (a string), or '' when the report holds no timestamp."""
    times = _times(report)
    if not times:
        return ""
    zero, last = min(times), max(times)
    span = max((last - zero).total_seconds(), 1.0)
    plot = WIDTH - LABELS - RIGHT

    def x(text):
        when = parse_iso(text)
        return LABELS + (when - zero).total_seconds() / span * plot

    masters = _by_host(report.get("masters"))
    lanes_bottom = TOP + LANE * max(len(masters), 1)
    height = lanes_bottom + AXIS
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%"'
        ' role="img" aria-labelledby="timeline-title">',
        '<title id="timeline-title">Every master\'s phases on one time axis</title>',
    ]
    down = report.get("downtime") or {}
    if parse_iso(down.get("start")) and parse_iso(down.get("end")):
        left, right = x(down["start"]), x(down["end"])
        out += [
            f'<rect x="{left:.1f}" y="{TOP - 6}" width="{max(right - left, 2):.1f}"'
            f' height="{lanes_bottom - TOP + 6}" fill="{DOWN}" shape-rendering="crispEdges">'
            f"<title>control plane down: {_e(down.get('start'))} to {_e(down.get('end'))}"
            f" ({_e(down.get('seconds'))} s)</title></rect>",
            f'<text x="{(left + right) / 2:.1f}" y="{TOP - 12}" text-anchor="middle"'
            f' fill="#b91c1c">control plane down {_e(down.get("seconds"))} s</text>',
        ]
    step = _step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        at = LABELS + tick / span * plot
        out += [
            f'<line x1="{at:.1f}" y1="{TOP - 6}" x2="{at:.1f}" y2="{lanes_bottom + 4}"'
            ' stroke="#e5e7eb" stroke-width="1"/>',
            f'<text class="tick" x="{at:.1f}" y="{lanes_bottom + 18}" text-anchor="middle">'
            f"+{_seconds_text(tick)} s</text>",
        ]
        tick = round(tick + step, 6)
    for row, (host, master) in enumerate(masters):
        y = TOP + row * LANE
        middle = y + LANE / 2
        entries = [e for e in (master or {}).get("phases") or [] if parse_iso(e.get("end"))]
        out.append(
            f'<text x="{LABELS - 10}" y="{middle + 4:.1f}" text-anchor="end">{_e(host)}</text>'
        )
        if entries:
            first = min(
                (e["start"] if parse_iso(e.get("start")) else e["end"] for e in entries),
                key=parse_iso,
            )
            out.append(
                f'<line x1="{x(first):.1f}" y1="{middle:.1f}" x2="{x(entries[-1]["end"]):.1f}"'
                f' y2="{middle:.1f}" stroke="#9ca3af" stroke-width="2"/>'
            )
        for entry in entries:
            phase, end, start = entry.get("phase"), entry["end"], entry.get("start")
            colour = _colour(phase)
            if parse_iso(start):
                left = x(start)
                tip = f"{host}: {phase}, {start} to {end} ({entry.get('seconds')} s)"
                out.append(
                    f'<rect x="{left:.1f}" y="{middle - BAR / 2:.1f}"'
                    f' width="{max(x(end) - left, 4):.1f}" height="{BAR}" fill="{colour}"'
                    f' shape-rendering="crispEdges"><title>{_e(tip)}</title></rect>'
                )
            else:
                at = x(end)
                out.append(
                    f'<rect x="{at - 4:.1f}" y="{middle - BAR / 2:.1f}" width="8"'
                    f' height="{BAR}" fill="{colour}" shape-rendering="crispEdges">'
                    f"<title>{_e(f'{host}: {phase} at {end}')}</title></rect>"
                )
    out.append("</svg>")
    return "\n".join(out)


def _legend(report):
    seen = {
        entry.get("phase")
        for master in (report.get("masters") or {}).values()
        for entry in (master or {}).get("phases") or []
    }
    known = [p for p in PHASES + ROLLBACK_PHASES if p in seen]
    known += sorted(str(p) for p in seen - set(known) if p)
    keys = [f'<span class="key" style="background:{_colour(p)}"></span>{_e(p)}' for p in known]
    if (report.get("downtime") or {}).get("start"):
        keys.append(
            f'<span class="key" style="background:{DOWN}"></span>control plane down'
            " (first stop to every kube-apiserver ready)"
        )
    return '<p class="legend">' + "".join(keys) + "</p>"


def _relative(text, zero):
    when = parse_iso(text)
    if when is None or zero is None:
        return _e(text)
    return f"+{(when - zero).total_seconds():.3f} s"


def _phase_table(report, zero):
    rows = []
    for host, master in _by_host(report.get("masters")):
        for entry in (master or {}).get("phases") or []:
            rows.append(
                "<tr>"
                f"<td>{_e(host)}</td>"
                f'<td><span class="key" style="background:{_colour(entry.get("phase"))};'
                f' margin-left:0"></span>{_e(entry.get("phase"))}</td>'
                f'<td class="num" title="{_e(entry.get("start"))}">'
                f"{_relative(entry.get('start'), zero) if entry.get('start') else '-'}</td>"
                f'<td class="num" title="{_e(entry.get("end"))}">'
                f"{_relative(entry.get('end'), zero)}</td>"
                f'<td class="num">{_e(entry.get("seconds"))}</td>'
                "</tr>"
            )
    head = (
        "<tr><th>Master</th><th>Phase</th><th>Step began</th><th>Recorded</th><th>Seconds</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _masters_table(report):
    rows = []
    for host, master in _by_host(report.get("masters")):
        tool = (master or {}).get("restore_tool") or {}
        rows.append(
            f"<tr><td>{_e(host)}</td><td>{_e((master or {}).get('member'))}</td>"
            f"<td>{_e((master or {}).get('phase'))}</td>"
            f"<td>{_e(' '.join(str(v) for v in (tool.get('name'), tool.get('version')) if v))}"
            f"</td><td><code>{_e((master or {}).get('data_moved_aside'))}</code></td></tr>"
        )
    head = (
        "<tr><th>Master</th><th>Member</th><th>Last phase</th><th>Restored with</th>"
        "<th>Old data moved aside to</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _list(values):
    if not values:
        return "-"
    return ", ".join(_e(v) for v in values)


def _plan(report):
    plan = report.get("plan") or {}
    cluster = [m for m in str(plan.get("initial_cluster") or "").split(",") if m]
    bump = plan.get("bump_revision")
    rows = [
        ("Initial cluster", "<br>".join(f"<code>{_e(m)}</code>" for m in cluster) or "-"),
        ("Cluster token", f"<code>{_e(plan.get('token'))}</code>"),
        ("Revision bump", _e(bump) if bump else "none"),
        ("Stop order", _list(plan.get("stop_order"))),
        ("Start order", _list(plan.get("start_order"))),
    ]
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _verified_everywhere(report):
    masters = (report.get("masters") or {}).values()
    return bool(masters) and all(
        any(e.get("phase") == "verified" for e in (m or {}).get("phases") or []) for m in masters
    )


def _checks(report):
    """The checks the run made and what they found. etcd's checks are passed when every
    master's journal recorded ``verified`` (the run records it only after them)."""
    check = report.get("verification") or {}
    etcd = (
        '<span class="ok">passed</span>'
        if _verified_everywhere(report)
        else '<span class="muted">not recorded</span>'
    )
    hashkv = check.get("hashkv") or {}
    rows = [
        ("etcd members, every one started", etcd, _list(check.get("members"))),
        (
            "hashkv equal on every member",
            etcd,
            "<br>".join(f"<code>{_e(url)}</code>: {_e(value)}" for url, value in _by_host(hashkv))
            or "-",
        ),
        (
            "revision, at least the snapshot's plus the bump",
            etcd,
            f"{_e(check.get('revision'))} (snapshot {_e(report.get('snapshot_revision'))},"
            f" bump {_e((report.get('plan') or {}).get('bump_revision') or 0)})",
        ),
        ("keys under /registry", etcd, _e(check.get("registry_keys"))),
    ]
    for host, status in _by_host(report.get("apiservers")):
        ready = str(status) == "200"
        rows.append(
            (
                f"kube-apiserver /readyz on {_e(host)}",
                '<span class="ok">ready</span>' if ready else '<span class="fail">not ready</span>',
                f"HTTP {_e(status)}",
            )
        )
    body = "".join(
        f"<tr><td>{name}</td><td>{result}</td><td>{detail}</td></tr>"
        for name, result, detail in rows
    )
    return f"<table><tr><th>Check</th><th>Result</th><th>Found</th></tr>{body}</table>"


def _summary(report):
    snapshot = report.get("snapshot") or {}
    down = report.get("downtime") or {}
    rows = [
        ("Run", f"<code>{_e(report.get('run_id'))}</code>"),
        ("Started", _e(report.get("started"))),
        ("Ended", _e(report.get("ended"))),
        (
            "Control plane down",
            f"{_e(down.get('seconds'))} s, {_e(down.get('start'))} to {_e(down.get('end'))}"
            if down
            else "not measured (no master was stopped, or not every kube-apiserver got ready)",
        ),
        ("Snapshot", f"<code>{_e(snapshot.get('name'))}</code>"),
        ("Snapshot sha256", f"<code>{_e(snapshot.get('sha256'))}</code>"),
        ("Snapshot size", f"{_e(snapshot.get('size'))} bytes"),
        ("Snapshot revision", _e(report.get("snapshot_revision"))),
    ]
    for key in ("decrypted", "resumed"):
        if key in report:
            rows.append((key.capitalize(), "yes" if report[key] else "no"))
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def render(report):
    """The whole page (a str) for one report as _restore_report.build returns it."""
    report = report or {}
    outcome = report.get("outcome")
    badge = {"restored": "good", "degraded": "bad", "rolled-back": "bad"}.get(outcome, "none")
    times = _times(report)
    zero = min(times) if times else None
    svg = timeline(report)
    axis_note = (
        f'<p class="muted">+0 s is {_e(zero.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])} UTC.'
        " A bar is a step from its start to the moment the journal recorded its phase; a"
        " short mark is a phase recorded without a step time.</p>"
        if zero
        else '<p class="muted">The report holds no timestamp.</p>'
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Restore {_e(report.get('run_id'))}: {_e(outcome)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>Restore <code>{_e(report.get('run_id'))}</code>"
            f' <span class="outcome {badge}">{_e(outcome)}</span></h1>',
            f'<p class="muted">{_e(report.get("format"))}</p>',
            _summary(report),
            "<h2>Timeline</h2>",
            svg,
            _legend(report),
            axis_note,
            "<h2>Checks</h2>",
            _checks(report),
            "<h2>Plan</h2>",
            _plan(report),
            "<h2>Masters</h2>",
            _masters_table(report),
            "<h2>Phases</h2>",
            _phase_table(report, zero),
            "</body>",
            "</html>",
            "",
        ]
    )

"""_restore_report_html: the restore report as a self-contained page - the timeline drawn
from the journals' timestamps, the downtime shaded, the checks and the plan, every value
escaped - and that page rendered by a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._restore_report import build
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_report_html import (
    COLOURS,
    DOWN,
    LABELS,
    RIGHT,
    WIDTH,
    render,
    timeline,
)
from tests.support.png import colours
from tests.support.restore_report_data import RUN_ID, build_args, iso, journal

SVG = "{http://www.w3.org/2000/svg}"
PLOT = WIDTH - LABELS - RIGHT


def report(**changes):
    args = build_args()
    args.update(changes)
    return build(**args)


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and its text."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(page):
    tags = Tags()
    tags.feed(page)
    tags.close()
    return tags


def rects(svg):
    """The SVG's rectangles: (fill, x, width, tooltip)."""
    root = ET.fromstring(svg)
    return [
        (
            rect.get("fill"),
            float(rect.get("x")),
            float(rect.get("width")),
            rect.findtext(f"{SVG}title"),
        )
        for rect in root.iter(f"{SVG}rect")
    ]


def test_the_page_loads_nothing_from_anywhere():
    page = render(report())
    tags = parsed(page)
    names = {tag for tag, _attrs in tags.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "image", "use"}
    for _tag, attrs in tags.tags:
        assert not {"src", "href", "xlink:href"} & set(attrs), attrs
        assert not any(name.startswith("on") for name in attrs), attrs
    assert "url(" not in page and "@import" not in page
    csp = [a for t, a in tags.tags if t == "meta" and a.get("http-equiv")]
    assert csp == [
        {
            "http-equiv": "Content-Security-Policy",
            "content": "default-src 'none'; style-src 'unsafe-inline'",
        }
    ]


def test_the_page_holds_the_run_the_plan_and_the_checks():
    page = render(report())
    text = "".join(parsed(page).text)
    assert f"Restore {RUN_ID}: restored" in page  # the title
    for shown in (
        "control plane down 18.231 s",
        "docker8=https://10.77.0.8:2380",
        f"kubedr-restore-{RUN_ID}",
        "docker9, docker10, docker8",  # stop order
        "2000000009 (snapshot 1000000009, bump 1000000000)",
        "https://10.77.0.10:2379: 2747124000",
        "kube-apiserver /readyz on docker10",
        "/var/lib/etcd/member.kubedr-20261129T231715Z",
        "etcdutl 3.5.16",
        "+0 s is 2026-11-29 23:17:19.502 UTC",
    ):
        assert shown in text, shown
    assert page.count('<span class="ok">passed</span>') == 4  # etcd's four checks
    assert page.count('<span class="ok">ready</span>') == 3  # and each kube-apiserver
    assert "not ready" not in text


def test_a_kube_apiserver_not_ready_is_shown_as_such():
    page = render(report(outcome="degraded", apiservers={"docker8": 200, "docker9": 503}))
    assert '<span class="outcome bad">degraded</span>' in page
    assert (
        "<td>kube-apiserver /readyz on docker9</td>"
        '<td><span class="fail">not ready</span></td><td>HTTP 503</td>'
    ) in page


def test_the_timeline_draws_every_phase_on_one_axis():
    made = report()  # built now: its 'ended' is not on the axis
    assert made["started"] == iso(0)  # the first lock
    span = 29.195  # to the last 'done'

    def x(seconds):
        return LABELS + seconds / span * PLOT

    found = rects(timeline(made))
    # the downtime first, under the lanes: first stop (docker9's step) to every apiserver ready
    fill, left, width, tip = found[0]
    assert fill == DOWN
    assert left == pytest.approx(x(10.298), abs=0.1)
    assert width == pytest.approx(x(28.529) - x(10.298), abs=0.1)
    assert "18.231 s" in tip
    # a bar for every step with a start, a mark for the other phases: 7 for each master
    bars = found[1:]
    assert len(bars) == 21
    assert [fill for fill, *_rest in bars[:7]] == [COLOURS[p] for p in COLOURS if "back" not in p]
    staged9 = next(b for b in bars if b[3].startswith("docker9: staged"))
    assert staged9[1] == pytest.approx(x(3.845), abs=0.1)
    assert staged9[2] == pytest.approx(x(9.889) - x(3.845), abs=0.1)
    swapped9 = next(b for b in bars if b[3].startswith("docker9: swapped"))
    assert swapped9[2] == 4  # 2 ms: drawn 4 units wide to be seen
    # the lanes in the masters' natural order
    lanes = [t.text for t in ET.fromstring(timeline(made)).iter(f"{SVG}text")]
    assert [t for t in lanes if t.startswith("docker")] == ["docker8", "docker9", "docker10"]


def test_a_rolled_back_master_and_no_downtime():
    times = [("locked", None, 0.0), ("stopped", 1.0, 2.0), ("rolling-back", 3.0, 4.0)]
    times.append(("rolled-back", None, 9.0))
    made = report(journals={"docker8": journal("docker8", times)}, ready_at=None)
    assert made["downtime"] is None
    svg = timeline(made)
    assert DOWN not in svg
    fills = [fill for fill, *_rest in rects(svg)]
    assert fills == [COLOURS[p] for p in ("locked", "stopped", "rolling-back", "rolled-back")]
    assert "not measured" in render(made)


def test_a_report_without_times_renders_without_a_timeline():
    page = render({})
    assert timeline({}) == "" and "<svg" not in page
    assert "The report holds no timestamp." in page


def test_a_time_that_does_not_parse_is_left_out_of_the_timeline():
    made = report()
    made["masters"]["docker8"]["phases"][1]["start"] = "yesterday"
    made["masters"]["docker8"]["phases"][2]["end"] = None
    tips = [tip for *_rest, tip in rects(timeline(made))]
    assert "docker8: staged at 2026-11-29T23:17:23.216Z" in tips  # a mark, no bar
    assert not any(tip.startswith("docker8: stopped") for tip in tips)
    assert "yesterday" in render(made)  # the table shows it as it is


def test_every_value_is_escaped():
    evil = '<script>alert("x")</script>&\'"'
    args = build_args()
    args["journals"] = {evil: journal("docker8")}
    args["journals"][evil]["member"]["name"] = evil
    args["journals"][evil]["phases"][1]["phase"] = evil
    args["run"]["run_id"] = evil
    args["run"]["plan"]["token"] = evil
    args["run"]["plan"]["stop_order"] = [evil]
    args["verification"]["members"] = [evil]
    args["apiservers"] = {evil: evil}
    args["extra"] = {"snapshot": {"name": evil}}
    page = render(build(**args))
    assert "<script" not in page and evil not in page
    tags = parsed(page)
    assert "script" not in {tag for tag, _attrs in tags.tags}
    assert evil in "".join(tags.text)  # shown as text, the way it was
    ET.fromstring(timeline(build(**args)))  # and the SVG stays well-formed


# -- a real browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
IN_CI = os.environ.get("CI") == "true"


@pytest.mark.skipif(
    CHROMIUM is None and not IN_CI,
    reason="chromium is missing: run tests/lab/install-deps.sh (in CI this test fails instead)",
)
def test_chromium_renders_the_page(tmp_path):
    assert CHROMIUM, "chromium is missing: tests/lab/install-deps.sh installs it"
    page = tmp_path / f"restore-{RUN_ID}.html"
    page.write_text(render(report()), encoding="utf-8")
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,1200",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    counts = colours(shot.read_bytes())
    pixels = sum(counts.values())
    white = counts.get((255, 255, 255), 0)
    assert pixels == 1200 * 1200
    assert pixels - white > pixels // 20, f"{pixels - white} of {pixels} pixels not white"
    assert len(counts) > 100, f"{len(counts)} colours"
    # the downtime's shade and every phase's colour are on the screen, as solid areas
    for colour in (DOWN, *(c for p, c in COLOURS.items() if "back" not in p)):
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert counts.get(rgb, 0) >= 40, (colour, counts.get(rgb, 0))

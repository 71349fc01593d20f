"""index.html: one static screen, no JavaScript, no external assets, from status.json's data."""

from __future__ import annotations

from html import escape
from typing import Any

from bottlesync.units import human_bytes

COLOURS = {"green": "#1a7f37", "amber": "#b7791f", "red": "#c62828"}
WORDS = {"green": "Current", "amber": "Behind", "red": "Stale"}
PLACEHOLDER = "https://mirror.example.internal"
STYLE = """body{font:15px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:60em;padding:0 1em}
.state{color:#fff;padding:.6em 1em;border-radius:6px}
pre{background:#f4f4f4;padding:.6em;overflow-x:auto}table{border-collapse:collapse}
td,th{padding:.15em .8em;text-align:right}th:first-child,td:first-child{text-align:left}
.charts{display:flex;gap:2em;flex-wrap:wrap}small{color:#555}"""


def client_settings(status: dict[str, Any]) -> list[str]:
    """The exact `export` lines a brew client needs for this mirror's layout."""
    base = (status.get("public_url") or PLACEHOLDER).rstrip("/")
    lines = []
    if status.get("api_mirrored"):
        lines.append(f"export HOMEBREW_API_DOMAIN={base}/api")
    if status.get("layout") == "artifact-domain":
        lines.append(f"export HOMEBREW_ARTIFACT_DOMAIN={base}")
    elif status.get("layout") == "dated":
        lines.append(f"export HOMEBREW_BOTTLE_DOMAIN={base}/YYYY-MM-DD  # one day's directory")
    else:
        lines.append(f"export HOMEBREW_BOTTLE_DOMAIN={base}/bottles")
    return lines


def bar_chart(title: str, values: list[int], label: str) -> str:
    """A small inline SVG bar chart (one bar per run, oldest left)."""
    width, height = 300, 80
    top = max(values, default=0) or 1
    step = width / max(len(values), 10)  # a lone run is a bar, not the whole chart
    bars = "".join(
        f'<rect x="{i * step + 1:.1f}" y="{height - v / top * height:.1f}" '
        f'width="{max(step - 2, 1):.1f}" height="{v / top * height:.1f}" fill="#4a6fa5">'
        f"<title>{v}</title></rect>" for i, v in enumerate(values))
    bars += f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>'

    return (f'<figure><figcaption>{escape(title)} <small>(max {escape(label)})</small>'
            f'</figcaption><svg role="img" aria-label="{escape(title)}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}">{bars}</svg></figure>')


def render_page(status: dict[str, Any]) -> str:
    """The whole page; every value escaped (run records and URLs are data, not markup)."""
    state = str(status["state"])
    last = status.get("last_run") or {}
    runs = status.get("runs") or []
    mirrored = [int(r.get("mirrored") or 0) for r in runs]
    sent = [int(r.get("bytes") or 0) for r in runs]
    tags = "".join(f"<tr><td>{escape(tag)}</td><td>{row['bottles']}</td>"
                   f"<td>{escape(human_bytes(row['bytes']))}</td></tr>"
                   for tag, row in status.get("per_tag", {}).items())
    note = ("" if status.get("public_url") else
            "<p><small>Set <code>public_url</code> in config.yaml to print this mirror's "
            "address here.</small></p>")
    catalogue = status.get("catalogue") or {}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Homebrew bottle mirror: {WORDS[state]}</title><style>{STYLE}</style></head><body>
<p class="state" id="state" data-state="{state}" style="background:{COLOURS[state]}">
<strong>{WORDS[state]}</strong>: last good sync
<time id="last-sync">{escape(str(status.get("last_good_sync") or "never"))}</time>
<small style="color:#fff">(page written {escape(str(status["generated_at"]))})</small></p>
<p>Last run <code>{escape(str(last.get("run_id", "none")))}</code>:
{escape(str(last.get("result", "none")))}, {last.get("mirrored") or 0} bottles added,
{last.get("failed") or 0} failed, {escape(human_bytes(int(last.get("bytes") or 0)))},
{last.get("duration_seconds") or 0:.0f} s. Mirror: {status.get("bottles", 0)} bottles,
{escape(human_bytes(int(status.get("bytes") or 0)))}. Upstream catalogue read
{escape(str(catalogue.get("fetched_at") or "never"))}.</p>
<h2>Use this mirror</h2>
<pre id="client-settings">{escape(chr(10).join(client_settings(status)))}</pre>{note}
<div class="charts">
{bar_chart("Bottles added per run", mirrored, str(max(mirrored, default=0)))}
{bar_chart("Bytes per run", sent, human_bytes(max(sent, default=0)))}
<table><tr><th>tag</th><th>bottles</th><th>size</th></tr>{tags}</table></div>
<p><small>Machine-readable: <a href="status.json">status.json</a></small></p>
</body></html>
"""

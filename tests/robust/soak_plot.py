#!/usr/bin/env python3
"""SVG plot of soak runs (tests/soak.sh): RSS and live set over time.

usage: soak_plot.py OUT.svg TITLE NAME=CSV [NAME=CSV ...]
Each CSV has the header "seconds,rss_kb,live_kb,ops" (soak_workload.c). RSS is
drawn solid, the live set dashed, in the same colour per run. No third-party
modules: the SVG is written by hand.
"""
import csv
import sys
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
W, H = 900, 420
L, R, T, B = 70, 180, 40, 50


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                rows.append((float(r["seconds"]), float(r["rss_kb"]) / 1024, float(r["live_kb"]) / 1024))
            except (KeyError, ValueError):
                continue
    return rows


def nice_step(span, ticks=6):
    raw = span / ticks
    mag = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out, title, runs = argv[1], argv[2], []
    for spec in argv[3:]:
        name, _, path = spec.partition("=")
        rows = load(path)
        if rows:
            runs.append((name, rows))
    if not runs:
        print("soak_plot.py: no data", file=sys.stderr)
        return 1
    xmax = max(r[-1][0] for _, r in runs) or 1
    ymax = max(max(max(p[1], p[2]) for p in r) for _, r in runs) * 1.1 or 1
    xs = lambda x: L + (W - L - R) * x / xmax
    ys = lambda y: H - B - (H - T - B) * y / ymax
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>']
    ystep = nice_step(ymax)
    y = 0.0
    while y <= ymax:
        svg.append(f'<line x1="{L}" y1="{ys(y):.1f}" x2="{W - R}" y2="{ys(y):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{L - 6}" y="{ys(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += ystep
    xstep = nice_step(xmax)
    x = 0.0
    while x <= xmax:
        svg.append(f'<line x1="{xs(x):.1f}" y1="{H - B}" x2="{xs(x):.1f}" y2="{H - B + 5}" stroke="#333"/>')
        svg.append(f'<text x="{xs(x):.1f}" y="{H - B + 18}" text-anchor="middle">{x:g}</text>')
        x += xstep
    svg.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#333"/>')
    svg.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#333"/>')
    svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">seconds</text>')
    svg.append(f'<text x="18" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {(T + H - B) / 2})">MiB</text>')
    for i, (name, rows) in enumerate(runs):
        c = COLOURS[i % len(COLOURS)]
        rss = " ".join(f"{xs(p[0]):.1f},{ys(p[1]):.1f}" for p in rows)
        live = " ".join(f"{xs(p[0]):.1f},{ys(p[2]):.1f}" for p in rows)
        svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{rss}"/>')
        svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="1" stroke-dasharray="5,4" points="{live}"/>')
        ly = T + 10 + i * 36
        svg.append(f'<line x1="{W - R + 12}" y1="{ly}" x2="{W - R + 36}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        svg.append(f'<text x="{W - R + 42}" y="{ly + 4}">{escape(name)} RSS</text>')
        svg.append(f'<line x1="{W - R + 12}" y1="{ly + 16}" x2="{W - R + 36}" y2="{ly + 16}" stroke="{c}" '
                   f'stroke-dasharray="5,4"/>')
        svg.append(f'<text x="{W - R + 42}" y="{ly + 20}">{escape(name)} live</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

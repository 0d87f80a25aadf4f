"""Grouped bar charts as plain SVG (no plotting library needed).

chart.svg: one group of bars per lane (and thread count), one colour per
allocator; the bar height is the median ops/s relative to the fastest
allocator of that lane (so lanes of very different speed share one axis),
the label on the bar is the absolute median, the thin line the min-max of
the runs. chart_rss.svg: the same for peak RSS, relative to the largest.
A failed cell is a red cross with its status.
"""

import os
from xml.sax.saxutils import escape

import results
from allocators import is_hz
from report import Cell, group, is_callgrind_row, ordered_allocators, row_label

# hakozuna lines: warm colours; peers: blue/green/purple; glibc: grey.
HZ_COLOURS = ["#d62728", "#ff7f0e", "#e377c2", "#bcbd22", "#8c564b", "#f4a582", "#b2182b"]
PEER_COLOURS = {"mimalloc": "#1f77b4", "tcmalloc": "#2ca02c", "jemalloc": "#9467bd"}
OTHER_COLOURS = ["#7f7f7f", "#17becf", "#aec7e8", "#98df8a"]


def colours(allocs):
    out = {}
    hz_i = other_i = 0
    for a in allocs:
        if is_hz(a):
            out[a] = HZ_COLOURS[hz_i % len(HZ_COLOURS)]
            hz_i += 1
        elif a in PEER_COLOURS:
            out[a] = PEER_COLOURS[a]
        else:
            out[a] = OTHER_COLOURS[other_i % len(OTHER_COLOURS)]
            other_i += 1
    return out


def _text_on(colour):
    """black or white, whichever reads better on the colour."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "white"


def _attr(v):
    return escape(str(v), {'"': "&quot;"})


def svg_chart(samples, meta, metric, title, fmt, relative_to="max", unit="", subtitle=""):
    """The SVG text of one grouped bar chart."""
    rows = [(k, v) for k, v in group(samples).items() if not is_callgrind_row(v)]
    allocs = ordered_allocators(meta.get("allocators"), group(samples))
    cols = colours(allocs)
    cores = meta.get("cores")
    bar_w, gap, left, plot_h = 14, 26, 56, 260
    n = max(1, len(allocs))
    group_w = n * bar_w
    width = max(760, left + max(1, len(rows)) * (group_w + gap) + 20)
    # title, subtitle, legend rows; then headroom for the value labels
    legend_w = 0
    legend_rows = 1
    for a in allocs:
        w = 22 + 7 * len(a) + 14
        if legend_w + w > width - left:
            legend_rows += 1
            legend_w = 0
        legend_w += w
    legend_y = 52
    top = legend_y + 18 * legend_rows + 50
    bottom_labels = 150
    height = top + plot_h + bottom_labels
    base_y = top + plot_h
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11">' % (width, height, width, height),
           '<rect x="0" y="0" width="%d" height="%d" fill="white"/>' % (width, height),
           '<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>' % (left, escape(title)),
           '<text x="%d" y="36" font-size="11" fill="#444">%s</text>' % (left, escape(subtitle))]
    # legend
    x = left
    y = legend_y
    for a in allocs:
        w = 22 + 7 * len(a) + 14
        if x + w > width and x > left:
            x = left
            y += 18
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (x, y - 10, cols[a]))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 16, y, escape(a)))
        x += w
    # axis and grid (0..100 %)
    for i in range(5):
        frac = i / 4
        y = base_y - frac * plot_h
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, y, width - 10, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d%%</text>' % (left - 4, y + 4, round(frac * 100)))
    out.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>'
               % (top + plot_h // 2, top + plot_h // 2, "% of the lane's maximum"))
    for gi, ((lane, threads), by_alloc) in enumerate(rows):
        gx = left + gap // 2 + gi * (group_w + gap)
        cells = {a: Cell(by_alloc.get(a, []), metric) for a in allocs}
        meds = [c.median for c in cells.values() if c.median is not None]
        ref = max(meds) if meds else None
        for ai, a in enumerate(allocs):
            c = cells[a]
            bx = gx + ai * bar_w
            if c.stats is None:
                if c.failures:
                    status = c.failure_text()
                    out.append('<g><title>%s %s: %s</title>' % (escape(a), escape(row_label(lane, threads, cores)),
                                                                escape(status)))
                    out.append('<text x="%d" y="%d" fill="#c00" font-weight="bold" text-anchor="middle">x</text>'
                               % (bx + bar_w // 2, base_y - 3))
                    out.append('<text x="%d" y="%d" fill="#c00" font-size="9" transform="rotate(-90 %d %d)">%s</text>'
                               % (bx + bar_w // 2 + 3, base_y - 14, bx + bar_w // 2 + 3, base_y - 14,
                                  escape(status.split(",")[0])))
                    out.append('</g>')
                continue
            st = c.stats
            frac = st["median"] / ref if ref else 0
            h = max(1.0, frac * plot_h)
            y = base_y - h
            tip = "%s %s: %s%s (min %s, max %s, %d runs)" % (
                a, row_label(lane, threads, cores), fmt(st["median"]), unit, fmt(st["min"]), fmt(st["max"]), st["n"])
            if c.failures:
                tip += "; failed: " + c.failure_text()
            out.append('<g><title>%s</title>' % escape(tip))
            out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"/>'
                       % (bx + 1, y, bar_w - 2, h, cols[a]))
            if ref and st["n"] > 1:
                # min-max whisker along the bar's left edge, clear of the label
                y_min = base_y - st["min"] / ref * plot_h
                y_max = max(top - 45.0, base_y - st["max"] / ref * plot_h)
                wx = bx + 2.5
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="1"/>'
                           % (wx, y_min, wx, y_max))
            lx = bx + bar_w - 2
            label = escape(fmt(st["median"]))
            if h >= 8 + 6 * len(label):
                ly, fill = base_y - 4, _text_on(cols[a])
            else:
                ly, fill = y - 3, "black"
            out.append('<text x="%d" y="%.1f" font-size="9" fill="%s" transform="rotate(-90 %d %.1f)">%s</text>'
                       % (lx, ly, fill, lx, ly, label))
            if c.failures:
                out.append('<text x="%d" y="%d" fill="#c00" text-anchor="middle">!</text>' % (bx + bar_w // 2, base_y + 11))
            out.append('</g>')
        # group label
        lx = gx + group_w // 2
        ly = base_y + 18
        out.append('<text x="%d" y="%d" text-anchor="end" transform="rotate(-40 %d %d)">%s</text>'
                   % (lx, ly, lx, ly, escape(row_label(lane, threads, cores))))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, base_y, width - 10, base_y))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_charts(outdir, samples, meta):
    sub = "%s, %s cores, median of %s runs, bars relative to the %s allocator of each lane; %s" % (
        meta.get("cpu_model") or "?", meta.get("cores", "?"), meta.get("runs", "?"), "%s",
        (meta.get("started") or "")[:10])
    with open(os.path.join(outdir, "chart.svg"), "w", encoding="utf-8") as fh:
        fh.write(svg_chart(samples, meta, "ops_per_s", "Throughput (median ops/s; higher is better)",
                           results.fmt_rate, "max", " ops/s", sub % "fastest"))
    with open(os.path.join(outdir, "chart_rss.svg"), "w", encoding="utf-8") as fh:
        fh.write(svg_chart(samples, meta, "peak_rss_kb", "Peak RSS (median; lower is better)",
                           results.fmt_kb, "max", "", sub % "largest"))

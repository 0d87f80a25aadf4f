"""samples.csv, the tables of summary.md, and the ratios to the best peer.

A sample is one run of one allocator on one lane at one thread count:

  lane, threads, run, allocator, status ('ok', 'TIMEOUT', 'CRASH(SIGSEGV)',
  'FAIL(exit N)', 'NORESULT', 'PRELOAD_FAILED'), wall_s, ops, seconds,
  ops_per_s, peak_rss_kb, post_rss_kb, maxrss_kb (kernel max RSS of the child,
  as /usr/bin/time -f %M), instr_per_pair (callgrind lanes), extra (the
  extra key=value pairs of the RESULT line), log (stdout file of the run).

`python3 bench/runner/report.py OUTDIR` rebuilds summary.md and the charts
of a finished (or interrupted) comparison from OUTDIR/samples.csv and
OUTDIR/meta.json.
"""

import collections
import csv
import json
import os
import re
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import results  # noqa: E402
from allocators import PEERS, is_hz  # noqa: E402

CSV_FIELDS = ["lane", "threads", "oversubscribed", "run", "allocator", "status", "wall_s", "ops",
              "seconds", "ops_per_s", "peak_rss_kb", "post_rss_kb", "maxrss_kb", "instr_per_pair",
              "extra", "log"]
_NUMERIC = {"threads": int, "run": int, "wall_s": float, "ops": int, "seconds": float,
            "ops_per_s": float, "peak_rss_kb": int, "post_rss_kb": int, "maxrss_kb": int,
            "instr_per_pair": float}


# ------------------------------------------------------------------ csv i/o

def format_extra(extra):
    return " ".join("%s=%s" % (k, v) for k, v in extra.items())


def parse_extra(text):
    out = {}
    for tok in (text or "").split():
        k, sep, v = tok.partition("=")
        if not sep:
            continue
        try:
            out[k] = results._num(v)
        except ValueError:
            out[k] = v
    return out


def sample_to_row(sample):
    row = {}
    for f in CSV_FIELDS:
        v = sample.get(f)
        if f == "extra":
            v = format_extra(v or {})
        elif f == "oversubscribed":
            v = "yes" if v else "no"
        elif isinstance(v, float):
            v = "%.6g" % v if f != "ops_per_s" else "%.1f" % v
        row[f] = "" if v is None else v
    return row


def row_to_sample(row):
    s = {}
    for f in CSV_FIELDS:
        v = row.get(f, "")
        if f == "extra":
            s[f] = parse_extra(v)
        elif f == "oversubscribed":
            s[f] = v == "yes"
        elif f in _NUMERIC:
            if v in ("", None):
                s[f] = None
            else:
                try:
                    s[f] = _NUMERIC[f](v)
                except ValueError:
                    s[f] = _NUMERIC[f](float(v))
        else:
            s[f] = v
    return s


class CsvWriter:
    """Appends samples as they come, so an interrupted comparison keeps them."""

    def __init__(self, path):
        self.fh = open(path, "w", newline="", encoding="utf-8")
        self.w = csv.DictWriter(self.fh, fieldnames=CSV_FIELDS)
        self.w.writeheader()
        self.fh.flush()

    def add(self, sample):
        self.w.writerow(sample_to_row(sample))
        self.fh.flush()

    def close(self):
        self.fh.close()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [row_to_sample(r) for r in csv.DictReader(fh)]


# ------------------------------------------------------------------ figures

def peak_of(sample):
    """Peak RSS of a run: the program's own figure, else the kernel's."""
    v = sample.get("peak_rss_kb")
    if v:
        return v
    return sample.get("maxrss_kb") or None


def value_of(sample, metric):
    if metric == "peak_rss_kb":
        return peak_of(sample)
    return sample.get(metric)


def group(samples):
    """{(lane, threads): {allocator: [samples]}} in order of appearance."""
    rows = collections.OrderedDict()
    for s in samples:
        rows.setdefault((s["lane"], s["threads"]), collections.OrderedDict()).setdefault(
            s["allocator"], []).append(s)
    return rows


def is_callgrind_row(by_alloc):
    return any(s.get("instr_per_pair") is not None or s["lane"].startswith("fastpath")
               for ss in by_alloc.values() for s in ss)


class Cell:
    """The runs of one allocator on one row, for one metric."""

    def __init__(self, samples, metric):
        ok = [s for s in samples if s["status"] == results.OK]
        self.stats = results.summarize(value_of(s, metric) for s in ok)
        self.total = len(samples)
        self.failures = collections.Counter(s["status"] for s in samples if s["status"] != results.OK)

    @property
    def median(self):
        return self.stats["median"] if self.stats else None

    def failure_text(self):
        parts = []
        for status, n in sorted(self.failures.items()):
            parts.append(status if n == 1 else "%s x%d" % (status, n))
        return ", ".join(parts)

    def text(self, fmt, spread=True):
        if self.stats is None:
            if self.failures:
                return self.failure_text()
            return "-"
        st = self.stats
        out = fmt(st["median"])
        if spread and st["n"] > 1:
            out += " (%s-%s)" % (fmt(st["min"]), fmt(st["max"]))
        if self.failures:
            out += " [%d/%d %s]" % (sum(self.failures.values()), self.total, self.failure_text())
        return out


def row_label(lane, threads, cores):
    label = "%s T=%d" % (lane, threads)
    if cores and threads > cores:
        label += " (oversubscribed)"
    return label


def ordered_allocators(meta_allocators, rows):
    seen = list(meta_allocators or [])
    for by_alloc in rows.values():
        for a in by_alloc:
            if a not in seen:
                seen.append(a)
    return seen


def ratios_for_row(by_alloc, hz, metric, higher_is_better, peers=PEERS):
    """(ratio, peer name) of line hz against the best peer on one row."""
    medians = {a: Cell(ss, metric).median for a, ss in by_alloc.items()}
    best = results.best_peer(medians, peers, higher_is_better)
    if best is None:
        return None, None
    return results.ratio(medians.get(hz), best[1]), best[0]


# ----------------------------------------------------------------- markdown

# Extra RESULT figures worth a table: the measured remote share and the
# ring-full fallback (always), failures and waits (when not zero anywhere),
# redis' per-command rates. Echoed parameters and raw counters stay in
# samples.csv only.
_EXTRA_ALWAYS = re.compile(r"(_pct_actual|^fallback_pct|_rps)$")
_EXTRA_NONZERO = re.compile(r"(_failures|^push_waits|^minor_faults)$")


def shown_extra(key, value):
    if _EXTRA_ALWAYS.search(key):
        return True
    return bool(_EXTRA_NONZERO.search(key)) and value != 0


def md_table(header, rows):
    widths = [len(h) for h in header]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    def line(cells):
        return "| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(cells)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def tables(samples, meta):
    """The result tables as markdown text (what is printed and what starts
    summary.md)."""
    rows = group(samples)
    cores = meta.get("cores")
    allocs = ordered_allocators(meta.get("allocators"), rows)
    hz_lines = [a for a in allocs if is_hz(a)]
    peers = [a for a in allocs if a in PEERS]
    bench_rows = [(k, v) for k, v in rows.items() if not is_callgrind_row(v)]
    cg_rows = [(k, v) for k, v in rows.items() if is_callgrind_row(v)]
    out = []

    if bench_rows:
        for title, metric, fmt, note in (
                ("Throughput (ops/s; redis: requests/s, mean of SET GET LPUSH LPOP)", "ops_per_s",
                 results.fmt_rate, "median (min-max) of the runs; higher is better"),
                ("Peak RSS", "peak_rss_kb", results.fmt_kb,
                 "median (min-max); the program's own peak (VmHWM / ru_maxrss), redis: the server's VmHWM"),
                ("RSS after the run", "post_rss_kb", results.fmt_kb,
                 "median (min-max); VmRSS at the end (matrix rows: after all workers joined)")):
            out.append("### %s\n\n%s.\n" % (title, note))
            body = []
            for (lane, threads), by_alloc in bench_rows:
                body.append([row_label(lane, threads, cores)] +
                            [Cell(by_alloc.get(a, []), metric).text(fmt) for a in allocs])
            out.append(md_table(["lane"] + allocs, body) + "\n")

        if hz_lines:
            out.append("### Ratio to the best peer\n\nops/s: line / best of %s (above 1 = faster); "
                       "RSS: line's peak / lowest peer peak (below 1 = less memory).\n"
                       % ", ".join(peers or PEERS))
            header = ["lane"]
            for h in hz_lines:
                header += ["%s ops/s" % h, "%s RSS" % h]
            body = []
            for (lane, threads), by_alloc in bench_rows:
                r = [row_label(lane, threads, cores)]
                for h in hz_lines:
                    hz_cell = Cell(by_alloc.get(h, []), "ops_per_s")
                    if hz_cell.stats is None:
                        fail = hz_cell.failure_text() or "-"
                        r += [fail, fail]
                        continue
                    o, op = ratios_for_row(by_alloc, h, "ops_per_s", True)
                    m, mp = ratios_for_row(by_alloc, h, "peak_rss_kb", False)
                    r.append("%s vs %s" % (results.fmt_ratio(o), op) if o is not None else "-")
                    r.append("%s vs %s" % (results.fmt_ratio(m), mp) if m is not None else "-")
                body.append(r)
            out.append(md_table(header, body) + "\n")

        extra_rows = []
        for (lane, threads), by_alloc in bench_rows:
            keys = []
            for ss in by_alloc.values():
                for s in ss:
                    if s["status"] != results.OK:
                        continue
                    for k, v in (s.get("extra") or {}).items():
                        if isinstance(v, (int, float)) and k not in keys and shown_extra(k, v):
                            keys.append(k)
            for k in keys:
                cells = []
                for a in allocs:
                    vals = [(s.get("extra") or {}).get(k) for s in by_alloc.get(a, [])
                            if s["status"] == results.OK]
                    st = results.summarize(v for v in vals if isinstance(v, (int, float)))
                    cells.append(results.fmt_number(st["median"]) if st else "-")
                extra_rows.append([row_label(lane, threads, cores), k] + cells)
        if extra_rows:
            out.append("### Other figures of the RESULT lines\n\nMedian over the successful runs "
                       "(e.g. remote_pct_actual, fallback_pct = ring-full fallback, alloc_failures).\n")
            out.append(md_table(["lane", "figure"] + allocs, extra_rows) + "\n")

    if cg_rows:
        out.append("### Callgrind: instructions per malloc+free pair\n\n(I(n2) - I(n1)) / (n2 - n1) "
                   "under valgrind --tool=callgrind; deterministic, lower is better.\n")
        header = ["lane"] + allocs + ["%s vs best peer" % h for h in hz_lines]
        body = []
        for (lane, threads), by_alloc in cg_rows:
            r = [lane]
            r += [Cell(by_alloc.get(a, []), "instr_per_pair").text(results.fmt_number, spread=False)
                  for a in allocs]
            for h in hz_lines:
                v, p = ratios_for_row(by_alloc, h, "instr_per_pair", False)
                r.append("%s vs %s" % (results.fmt_ratio(v), p) if v is not None else "-")
            body.append(r)
        out.append(md_table(header, body) + "\n")
    return "\n".join(out)


def machine_section(meta):
    lines = ["## Machine and software", ""]
    def item(k, v):
        if v not in (None, ""):
            lines.append("- %s: %s" % (k, v))
    item("CPU", meta.get("cpu_model"))
    item("cores (online / usable by this run)", "%s / %s" % (meta.get("cores_online"), meta.get("cores")))
    item("memory", meta.get("memory"))
    item("kernel", meta.get("kernel"))
    item("OS", meta.get("os"))
    item("compiler", meta.get("compiler"))
    item("build", meta.get("build"))
    item("git commit", meta.get("git_commit"))
    item("started", meta.get("started"))
    item("finished", meta.get("finished"))
    item("load average at start / end", "%s / %s" % (meta.get("loadavg_start"), meta.get("loadavg_end", "-")))
    item("runs per lane", meta.get("runs"))
    item("thread counts", ", ".join(str(t) for t in meta.get("threads", [])))
    item("timeout per run", "%s s" % meta.get("timeout") if meta.get("timeout") else None)
    env = meta.get("env") or {}
    if env:
        item("allocator environment", " ".join("%s=%s" % kv for kv in sorted(env.items())))
    lines.append("")
    lines.append("### Allocators")
    lines.append("")
    body = []
    for name in meta.get("allocators", []):
        info = (meta.get("allocator_info") or {}).get(name, {})
        body.append([name, info.get("path") or "(no preload)", info.get("package") or "-"])
    lines.append(md_table(["allocator", "DSO (LD_PRELOAD)", "package"], body))
    pk = meta.get("packages") or {}
    if pk:
        lines.append("")
        lines.append("Other packages: " + ", ".join("%s %s" % kv for kv in sorted(pk.items())))
    return "\n".join(lines)


def commands_section(meta):
    lines = ["## Command lines", "", "The comparison:", "", "```", meta.get("command", "?"), "```", ""]
    cmds = meta.get("commands") or []
    if cmds:
        lines.append("Each run (`$DSO` = the allocator's DSO from the table above; glibc runs the "
                     "same command without LD_PRELOAD; script lanes get the DSO, or 'glibc', as "
                     "their argument instead):")
        lines.append("")
        lines.append("```")
        lines.extend(cmds)
        lines.append("```")
    return "\n".join(lines)


def summary_markdown(samples, meta):
    head = ["# Benchmark comparison", ""]
    head.append("Produced by `linux/run_linux_bench_compare.sh` (bench/runner). "
                "Runs are interleaved round-robin over the allocators; each cell is the median "
                "(min-max) of the runs. A failed run shows as CRASH(signal), TIMEOUT, FAIL(exit N), "
                "NORESULT (no RESULT line) or PRELOAD_FAILED; [k/n ...] counts failed runs of a "
                "cell that also has successful ones. T above the core count is marked oversubscribed.")
    head.append("")
    if meta.get("interrupted"):
        head.append("**Interrupted before the end: the tables hold the runs made so far.**\n")
    notes = meta.get("notes") or []
    if notes:
        head.append("Notes:")
        head.append("")
        head.extend("- " + n for n in notes)
        head.append("")
    head.append("Charts: [throughput](chart.svg), [peak RSS](chart_rss.svg). Every run: samples.csv, logs/.")
    head.append("")
    head.append("## Results")
    head.append("")
    head.append("")
    return "\n".join(head) + tables(samples, meta) + "\n" + machine_section(meta) + "\n\n" + \
        commands_section(meta) + "\n"


def write_all(outdir, samples, meta):
    import chart
    with open(os.path.join(outdir, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write(summary_markdown(samples, meta))
    chart.write_charts(outdir, samples, meta)


def main(argv):
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: report.py OUTDIR   (rebuilds summary.md, chart.svg, chart_rss.svg "
              "from OUTDIR/samples.csv and OUTDIR/meta.json)", file=sys.stderr)
        return 2 if len(argv) != 1 else 0
    outdir = argv[0]
    try:
        samples = read_csv(os.path.join(outdir, "samples.csv"))
        with open(os.path.join(outdir, "meta.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        print("report.py: %s" % exc, file=sys.stderr)
        return 1
    write_all(outdir, samples, meta)
    print(tables(samples, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

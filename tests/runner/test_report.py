"""Tables, ratios to the best peer, samples.csv round trip and the SVG charts."""

import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "runner"))

import chart  # noqa: E402
import report  # noqa: E402

ALLOCS = ["hz3", "mimalloc", "tcmalloc", "jemalloc", "glibc"]


def sample(lane, alloc, run, ops_per_s=None, peak=None, post=None, status="ok", threads=2, extra=None,
           instr=None, maxrss=None):
    return {"lane": lane, "threads": threads, "oversubscribed": threads > 2, "run": run, "allocator": alloc,
            "status": status, "wall_s": 1.0, "ops": 100 if status == "ok" and instr is None else None,
            "seconds": 1.0 if status == "ok" else None, "ops_per_s": ops_per_s, "peak_rss_kb": peak,
            "post_rss_kb": post, "maxrss_kb": maxrss, "instr_per_pair": instr, "extra": extra or {},
            "log": "logs/x.out"}


def main_r50():
    # three runs each; medians: hz3 300 (peak 1000), mimalloc 200 (2000), tcmalloc 250 (1500),
    # jemalloc 100 (4000), glibc 500 (500) - glibc is fastest but is not a peer.
    data = {"hz3": ([290, 300, 310], [1000, 1000, 1100]),
            "mimalloc": ([200, 190, 210], [2000, 2000, 2000]),
            "tcmalloc": ([250, 240, 260], [1500, 1400, 1600]),
            "jemalloc": ([100, 100, 100], [4000, 4000, 4000]),
            "glibc": ([500, 500, 500], [500, 500, 500])}
    out = []
    for run in range(3):
        for a in ALLOCS:
            ops, peaks = data[a]
            out.append(sample("main_r50", a, run + 1, float(ops[run]), peaks[run], 900,
                              extra={"remote_pct_actual": 49.9, "fallback_pct": 0.0, "alloc_failures": 0,
                                     "allocs": 12345, "row": "x"}))
    return out


META = {"allocators": ALLOCS, "cores": 2, "runs": 3, "threads": [2, 4], "cpu_model": "Test CPU",
        "command": "linux/run_linux_bench_compare.sh --quick", "commands": ["LD_PRELOAD=$DSO bench 2"],
        "allocator_info": {"hz3": {"path": "/b/lib/libhz3.so", "package": None}}}


class Cells(unittest.TestCase):
    def test_median_min_max_text(self):
        ss = [sample("l", "hz3", i, v, 10) for i, v in enumerate([3e6, 1e6, 2e6])]
        c = report.Cell(ss, "ops_per_s")
        self.assertEqual(c.median, 2e6)
        self.assertEqual(c.text(lambda v: "%g" % v), "2e+06 (1e+06-3e+06)")

    def test_failures_in_cells(self):
        ss = [sample("l", "hz3", 1, 5.0, 10), sample("l", "hz3", 2, status="CRASH(SIGSEGV)"),
              sample("l", "hz3", 3, status="TIMEOUT")]
        c = report.Cell(ss, "ops_per_s")
        self.assertEqual(c.median, 5.0)
        self.assertEqual(c.text(str), "5.0 [2/3 CRASH(SIGSEGV), TIMEOUT]")
        all_bad = [sample("l", "hz3", i, status="CRASH(SIGSEGV)") for i in range(3)]
        c = report.Cell(all_bad, "ops_per_s")
        self.assertIsNone(c.median)
        self.assertEqual(c.text(str), "CRASH(SIGSEGV) x3")
        self.assertEqual(report.Cell([], "ops_per_s").text(str), "-")

    def test_peak_falls_back_to_kernel_maxrss(self):
        self.assertEqual(report.peak_of(sample("l", "a", 1, 1.0, 700, maxrss=900)), 700)
        self.assertEqual(report.peak_of(sample("l", "a", 1, 1.0, None, maxrss=900)), 900)
        self.assertEqual(report.peak_of(sample("l", "a", 1, 1.0, 0, maxrss=900)), 900)


class Ratios(unittest.TestCase):
    def test_ratio_to_best_peer(self):
        rows = report.group(main_r50())
        by_alloc = rows[("main_r50", 2)]
        r, peer = report.ratios_for_row(by_alloc, "hz3", "ops_per_s", True)
        self.assertEqual(peer, "tcmalloc")          # glibc's 500 does not count
        self.assertAlmostEqual(r, 300 / 250)
        r, peer = report.ratios_for_row(by_alloc, "hz3", "peak_rss_kb", False)
        self.assertEqual(peer, "tcmalloc")          # lowest peer peak: 1500
        self.assertAlmostEqual(r, 1000 / 1500)

    def test_crashed_peer_is_ignored(self):
        ss = [s for s in main_r50() if s["allocator"] != "tcmalloc"]
        ss += [sample("main_r50", "tcmalloc", i, status="CRASH(SIGSEGV)") for i in range(3)]
        by_alloc = report.group(ss)[("main_r50", 2)]
        r, peer = report.ratios_for_row(by_alloc, "hz3", "ops_per_s", True)
        self.assertEqual(peer, "mimalloc")
        self.assertAlmostEqual(r, 1.5)


class Tables(unittest.TestCase):
    def test_tables_text(self):
        ss = main_r50()
        ss += [sample("main_r50", a, 1, 10.0, 100, 50, threads=4) for a in ALLOCS[:-1]]
        ss += [sample("main_r50", "glibc", 1, status="TIMEOUT", threads=4)]
        ss += [sample("fastpath_64", a, 1, instr=v, threads=1) for a, v in
               zip(ALLOCS, [62.0, 118.3, 79.0, 79.55, 141.0])]
        text = report.tables(ss, META)
        self.assertIn("| main_r50 T=2 ", text)
        self.assertIn("main_r50 T=4 (oversubscribed)", text)
        self.assertIn("300 (290-310)", text)                # hz3 ops median (min-max)
        self.assertIn("1.20x vs tcmalloc", text)            # ops ratio
        self.assertIn("0.67x vs tcmalloc", text)            # RSS ratio
        self.assertIn("TIMEOUT", text)
        self.assertIn("Callgrind", text)
        self.assertIn("0.78x vs tcmalloc", text)            # 62 / 79
        self.assertIn("remote_pct_actual", text)
        self.assertIn("fallback_pct", text)
        self.assertNotIn("| alloc_failures ", text)         # zero everywhere: not shown
        self.assertNotIn("| allocs", text)                  # raw counters stay in the csv
        md = report.summary_markdown(ss, META)
        self.assertIn("Test CPU", md)
        self.assertIn("linux/run_linux_bench_compare.sh --quick", md)
        self.assertIn("LD_PRELOAD=$DSO bench 2", md)

    def test_nonzero_failures_are_shown(self):
        ss = main_r50()
        ss[0]["extra"]["alloc_failures"] = 3
        self.assertIn("| alloc_failures ", report.tables(ss, META))

    def test_md_table_shape(self):
        t = report.md_table(["a", "bb"], [["x", "y"], ["long cell", ""]]).splitlines()
        self.assertEqual(len(t), 4)
        self.assertEqual(len({len(line) for line in t}), 1)   # aligned columns
        self.assertTrue(t[1].startswith("|--"))


class CsvAndCharts(unittest.TestCase):
    def test_csv_round_trip(self):
        ss = main_r50() + [sample("x", "glibc", 1, status="CRASH(SIGSEGV)", maxrss=77),
                           sample("fastpath_16", "hz3", 1, instr=61.5, threads=1)]
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "samples.csv")
            w = report.CsvWriter(p)
            for s in ss:
                w.add(s)
            w.close()
            back = report.read_csv(p)
        self.assertEqual(len(back), len(ss))
        self.assertEqual(back[0]["ops_per_s"], 290.0)
        self.assertEqual(back[0]["peak_rss_kb"], 1000)
        self.assertEqual(back[0]["extra"]["remote_pct_actual"], 49.9)
        self.assertEqual(back[0]["extra"]["row"], "x")
        self.assertEqual(back[-2]["status"], "CRASH(SIGSEGV)")
        self.assertIsNone(back[-2]["ops_per_s"])
        self.assertEqual(back[-2]["maxrss_kb"], 77)
        self.assertEqual(back[-1]["instr_per_pair"], 61.5)
        self.assertEqual(report.tables(back, META), report.tables(ss, META))

    def test_svg_is_well_formed_with_one_colour_per_allocator(self):
        ss = main_r50() + [sample("larson", a, 1, 5.0, 10) for a in ALLOCS[:-1]] + \
            [sample("larson", "glibc", 1, status="CRASH(SIGABRT)")]
        svg = chart.svg_chart(ss, META, "ops_per_s", "t <&> title", str, subtitle="s")
        root = ET.fromstring(svg)
        ns = "{http://www.w3.org/2000/svg}"
        fills = {r.get("fill") for r in root.iter(ns + "rect")} - {"white"}
        self.assertEqual(len(fills), len(ALLOCS))
        texts = " ".join(t.text or "" for t in root.iter(ns + "text"))
        self.assertIn("CRASH(SIGABRT)", texts)
        self.assertIn("main_r50 T=2", texts)
        self.assertIn("t <&> title", texts)
        with tempfile.TemporaryDirectory() as d:
            chart.write_charts(d, ss, META)
            for f in ("chart.svg", "chart_rss.svg"):
                ET.parse(os.path.join(d, f))


if __name__ == "__main__":
    unittest.main()

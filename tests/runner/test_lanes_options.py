"""The lane table, lane selection, allocator names and option validation."""

import os
import sys
import unittest

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "runner"))

import allocators  # noqa: E402
import lanes  # noqa: E402
import options  # noqa: E402
from lanes import LaneConfError, parse_lanes, select_lanes  # noqa: E402

CONF = """
# comment
a   bench prog_a  T yes yes {T} 100 16 2048   # trailing comment
b   bench prog_b  1 no  yes 50 1
c   script bench/x.sh 1 yes no -n 5 {LIB}
cg  callgrind fp  1 no  yes sizes=16,64 iters=10,30
"""


class LaneTable(unittest.TestCase):
    def setUp(self):
        self.lanes = parse_lanes(CONF)

    def test_columns(self):
        a, b, c, cg = self.lanes
        self.assertEqual([l.name for l in self.lanes], ["a", "b", "c", "cg"])
        self.assertIsNone(a.threads)
        self.assertEqual(b.threads, 1)
        self.assertTrue(a.quick and a.default)
        self.assertFalse(b.quick)
        self.assertFalse(c.default)
        self.assertEqual(a.args, ["{T}", "100", "16", "2048"])
        self.assertEqual(cg.callgrind_params(), ([16, 64], (10, 30)))

    def test_expand_and_thread_counts(self):
        a, b, c, _ = self.lanes
        self.assertEqual(a.expand(4), ["4", "100", "16", "2048"])
        self.assertEqual(a.thread_counts([2, 4, 16]), [2, 4, 16])
        self.assertEqual(b.thread_counts([2, 4, 16]), [1])
        self.assertEqual(c.expand(1, "/x/libhz3.so"), ["-n", "5", "/x/libhz3.so"])
        self.assertEqual(c.expand(1), ["-n", "5", "glibc"])

    def test_selection(self):
        names = lambda ls: [l.name for l in ls]  # noqa: E731
        self.assertEqual(names(select_lanes(self.lanes)), ["a", "b", "cg"])
        self.assertEqual(names(select_lanes(self.lanes, quick=True)), ["a", "c"])
        # table order, not the order asked for; sets can be named
        self.assertEqual(names(select_lanes(self.lanes, ["cg", "a"])), ["a", "cg"])
        self.assertEqual(names(select_lanes(self.lanes, ["all"])), ["a", "b", "c", "cg"])
        self.assertEqual(names(select_lanes(self.lanes, ["quick", "b"])), ["a", "b", "c"])
        with self.assertRaises(LaneConfError) as cm:
            select_lanes(self.lanes, ["a", "nope", "zzz"])
        self.assertIn("nope, zzz", str(cm.exception))
        self.assertIn("known: a b c cg", str(cm.exception))

    def test_bad_tables(self):
        bad = {
            "x bench p T yes yes": None,                  # ok (no args) - checked below
            "x bench p": "expected",                      # too few columns
            "x bogus p T yes yes 1": "kind",
            "x bench p 0 yes yes 1": "threads",
            "x bench p Q yes yes 1": "threads",
            "x bench p T maybe yes 1": "quick",
            "x bench p 1 yes yes {T}": "{T} in a lane with a fixed",
            "x bench p T yes yes {X}": "placeholder",
            "x callgrind p 1 no yes sizes=16 iters=10": "two counts",
            "x callgrind p 1 no yes sizes=16 iters=30,10": "N1 < N2",
            "x callgrind p 1 no yes iters=10,20": "sizes",
            "x bench p T yes yes 1\nx bench p T yes yes 2": "twice",
            "-x bench p T yes yes 1": "bad lane name",
            "# only a comment": "no lanes",
        }
        for text, needle in bad.items():
            with self.subTest(text=text):
                if needle is None:
                    self.assertEqual(len(parse_lanes(text)), 1)
                    continue
                with self.assertRaises(LaneConfError) as cm:
                    parse_lanes(text)
                self.assertIn(needle, str(cm.exception))

    def test_shipped_table(self):
        table = lanes.load_lanes()
        by = {l.name: l for l in table}
        # the sets the issue asks for
        self.assertEqual([l.name for l in select_lanes(table, quick=True)],
                         ["guard_r0", "main_r50", "cross128_r90", "larson", "st_churn", "redis"])
        for name in ["guard_r0", "main_r0", "main_r50", "main_r90", "cross128_r90", "guard_local0",
                     "main_local0", "main_interleaved_r50", "main_interleaved_r90",
                     "small_interleaved_remote90", "medium_interleaved_r50", "main_phase_r50",
                     "mixed_ws", "larson", "xmalloc", "cache_scratch", "cache_thrash", "mstress",
                     "st_churn", "large", "redis_like", "redis", "fastpath"]:
            self.assertTrue(by[name].default, name)
        # random_mixed lanes keep the seed's size ranges and remote %
        for name, lo, hi, pct in [("guard_r0", 16, 2048, 0), ("main_r50", 16, 32768, 50),
                                  ("main_r90", 16, 32768, 90), ("cross128_r90", 16, 131072, 90)]:
            args = by[name].expand(2)
            self.assertEqual(by[name].program, "bench_random_mixed_mt_remote")
            self.assertEqual(args[0], "2")
            self.assertEqual(args[2:], ["400", str(lo), str(hi), str(pct), "65536", "0"])
        self.assertEqual(by["paper_r90"].expand(16), "16 2000000 400 16 2048 90 65536 0".split())
        self.assertEqual(by["redis"].kind, "script")
        self.assertIn("{LIB}", by["redis"].args)
        self.assertEqual(by["fastpath"].callgrind_params()[0], [16, 64, 512, 4096])


class LaneDocs(unittest.TestCase):
    def test_readme_lists_every_lane_with_its_exact_command(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "benchmarks",
                            "README.md")
        with open(path, encoding="utf-8") as fh:
            doc = fh.read()
        for lane in lanes.load_lanes():
            sets = ",".join(s for s, on in (("default", lane.default), ("quick", lane.quick)) if on) or "-"
            thr = "T" if lane.threads is None else str(lane.threads)
            row = "| `%s` | %s | %s | `%s %s`" % (lane.name, sets, thr, lane.program, " ".join(lane.args))
            self.assertIn(row, doc, "docs/benchmarks/README.md is out of date for lane %s" % lane.name)


class AllocatorNames(unittest.TestCase):
    def test_parse(self):
        p = allocators.parse_allocator_list
        self.assertEqual(p("glibc,hz3,mimalloc"), ["glibc", "hz3", "mimalloc"])
        self.assertEqual(p("system, TCMALLOC ,glibc"), ["glibc", "tcmalloc"])
        self.assertEqual(p("hz"), ["hz"])
        for bad in ["", "glibc,,hz3", "ptmalloc", "hz3,foo"]:
            with self.subTest(bad=bad):
                with self.assertRaises(allocators.AllocatorError):
                    p(bad)

    def test_resolve_built_lines(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "lib"))
            for n in ("libhz3.so", "libhz10.so", "libhz4.so", "libother.so"):
                open(os.path.join(d, "lib", n), "w").close()
            self.assertEqual(list(allocators.built_lines(d)), ["hz3", "hz4", "hz10"])
            env = {"MIMALLOC_SO": os.path.join(d, "lib", "libother.so"), "JEMALLOC_SO": "/nonexistent.so"}
            got = allocators.resolve(["hz", "glibc", "mimalloc", "jemalloc"], d, environ=env)
            self.assertEqual(list(got), ["hz3", "hz4", "hz10", "glibc", "mimalloc", "jemalloc"])
            self.assertIsNone(got["glibc"])
            self.assertTrue(got["hz4"].endswith("lib/libhz4.so"))
            self.assertTrue(got["mimalloc"].endswith("libother.so"))
            self.assertEqual(got["jemalloc"], "MISSING")
            with self.assertRaises(allocators.AllocatorError) as cm:
                allocators.resolve(["hz7"], d)
            self.assertIn("built: hz3 hz4 hz10", str(cm.exception))

    def test_tcmalloc_prefers_minimal(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for n in ("libtcmalloc.so.4", "libtcmalloc_minimal.so.4"):
                open(os.path.join(d, n), "w").close()
            self.assertTrue(allocators.find_peer("tcmalloc", {}, [d]).endswith("libtcmalloc_minimal.so.4"))
            os.unlink(os.path.join(d, "libtcmalloc_minimal.so.4"))
            self.assertTrue(allocators.find_peer("tcmalloc", {}, [d]).endswith("libtcmalloc.so.4"))


class Options(unittest.TestCase):
    def bad(self, argv, needle):
        with self.assertRaises(options.UsageError) as cm:
            options.parse(argv)
        self.assertIn(needle, str(cm.exception))

    def test_defaults(self):
        a = options.parse([])
        self.assertEqual(a.runs, options.DEFAULT_RUNS)
        self.assertEqual(a.threads, options.DEFAULT_THREADS)
        self.assertIsNone(a.allocators)
        self.assertIsNone(a.lanes)
        self.assertFalse(a.skip_build)
        self.assertEqual(a.timeout, options.DEFAULT_TIMEOUT)

    def test_quick_and_overrides(self):
        a = options.parse(["--quick"])
        self.assertEqual((a.runs, a.threads), (3, [2]))
        a = options.parse(["--quick", "--runs", "5", "--threads", "2,4"])
        self.assertEqual((a.runs, a.threads), (5, [2, 4]))

    def test_values(self):
        a = options.parse(["--allocators", "system,hz3", "--lanes", "main_r0,main_r0,larson",
                           "--threads", "2,4,2,16", "--runs", "7", "--skip-build", "--timeout", "2.5",
                           "--outdir", "rel/dir"])
        self.assertEqual(a.allocators, ["glibc", "hz3"])
        self.assertEqual(a.lanes, ["main_r0", "larson"])
        self.assertEqual(a.threads, [2, 4, 16])
        self.assertEqual(a.runs, 7)
        self.assertTrue(a.skip_build)
        self.assertEqual(a.timeout, 2.5)
        self.assertTrue(os.path.isabs(a.outdir))

    def test_bad_input(self):
        self.bad(["--runs", "x"], "--runs must be a positive integer, got 'x'")
        self.bad(["--runs", "0"], "positive integer")
        self.bad(["--runs", "2.5"], "positive integer")
        self.bad(["--runs"], "expected one argument")
        self.bad(["--threads", "2,x"], "'x' is not a thread count")
        self.bad(["--threads", "0"], "out of range")
        self.bad(["--threads", ""], "comma-separated")
        self.bad(["--timeout", "-1"], "positive number of seconds")
        self.bad(["--timeout", "inf"], "positive number of seconds")
        self.bad(["--allocators", "glibc,ptmalloc"], "unknown allocator: ptmalloc")
        self.bad(["--lanes", ","], "comma-separated")
        self.bad(["--bogus"], "unknown option: --bogus")
        self.bad(["stray"], "unknown argument: stray")
        self.bad(["--run", "3"], "unknown option")        # no abbreviations
        self.bad(["--lanes-file", "/nonexistent/lanes.conf"], "does not exist")


if __name__ == "__main__":
    unittest.main()

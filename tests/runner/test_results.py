"""RESULT-line parsing, run classification, median/min/max and ratios."""

import os
import signal
import sys
import unittest

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "runner"))

import results  # noqa: E402
from results import ResultLineError, parse_result_line  # noqa: E402

GOOD = ("RESULT bench=random_mixed_mt_remote ops=1449752 seconds=0.432529 ops_per_s=3351802.81 "
        "peak_rss_kb=618916 post_rss_kb=2004 threads=2 remote_pct_actual=89.99 fallback_pct=0.00 "
        "alloc_failures=0 row=main_local0")


class ParseResultLine(unittest.TestCase):
    def test_required_keys_are_typed(self):
        r = parse_result_line(GOOD)
        self.assertEqual(r["bench"], "random_mixed_mt_remote")
        self.assertEqual(r["ops"], 1449752)
        self.assertIsInstance(r["ops"], int)
        self.assertAlmostEqual(r["seconds"], 0.432529)
        self.assertIsInstance(r["ops_per_s"], float)
        self.assertAlmostEqual(r["ops_per_s"], 3351802.81)
        self.assertEqual(r["peak_rss_kb"], 618916)
        self.assertEqual(r["post_rss_kb"], 2004)

    def test_extras_numbers_and_strings(self):
        r = parse_result_line(GOOD)
        ex = results.extras(r)
        self.assertEqual(ex["threads"], 2)
        self.assertAlmostEqual(ex["remote_pct_actual"], 89.99)
        self.assertEqual(ex["fallback_pct"], 0.0)
        self.assertEqual(ex["row"], "main_local0")
        self.assertNotIn("ops", ex)
        self.assertNotIn("bench", ex)

    def test_percent_sign_is_dropped_from_extras(self):
        r = parse_result_line("RESULT bench=x ops=1 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1 fb=12.5%")
        self.assertEqual(r["fb"], 12.5)

    def test_integral_float_for_int_key(self):
        r = parse_result_line("RESULT bench=x ops=10.0 seconds=1 ops_per_s=5 peak_rss_kb=3 post_rss_kb=2")
        self.assertEqual(r["ops"], 10)
        self.assertEqual(r["ops_per_s"], 5.0)
        self.assertIsInstance(r["ops_per_s"], float)

    def test_scientific_notation(self):
        r = parse_result_line("RESULT bench=x ops=100 seconds=1e-3 ops_per_s=1.5e8 peak_rss_kb=3 post_rss_kb=2")
        self.assertEqual(r["ops_per_s"], 1.5e8)

    def test_errors(self):
        bad = [
            "bench=x ops=1 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1",          # no RESULT word
            "RESULT bench=x seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1",          # ops missing
            "RESULT bench=x ops=abc seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1",  # not a number
            "RESULT bench=x ops=1.5 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1",  # not an integer
            "RESULT bench=x ops=1 seconds=1 ops_per_s=nan peak_rss_kb=1 post_rss_kb=1",  # nan
            "RESULT bench=x ops=1 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1 junk",  # not k=v
            "RESULT bench=x ops=1 ops=2 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1",  # repeated
            "RESULT bench=x ops=1 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1 k=",     # empty value
            "RESULT bench=x ops=-1 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1",    # negative
        ]
        for line in bad:
            with self.subTest(line=line):
                with self.assertRaises(ResultLineError):
                    parse_result_line(line)

    def test_minus_one_rss_means_unknown(self):
        # The programs print -1 when /proc is unavailable: no figure, not an error.
        r = parse_result_line("RESULT bench=x ops=1 seconds=1 ops_per_s=1 peak_rss_kb=-1 post_rss_kb=-1")
        self.assertIsNone(r["peak_rss_kb"])
        self.assertIsNone(r["post_rss_kb"])
        with self.assertRaises(ResultLineError):
            parse_result_line("RESULT bench=x ops=1 seconds=1 ops_per_s=1 peak_rss_kb=-2 post_rss_kb=1")
        with self.assertRaises(ResultLineError):
            parse_result_line("RESULT bench=x ops=1 seconds=-1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1")


class FindResult(unittest.TestCase):
    def test_last_result_line_wins(self):
        text = ("bench: threads=2 ops=3\n"
                "RESULT bench=a ops=1 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1\n"
                "human line\n"
                "RESULT bench=b ops=2 seconds=1 ops_per_s=2 peak_rss_kb=1 post_rss_kb=1\n"
                "trailing noise\n")
        r, why = results.find_result(text)
        self.assertIsNone(why)
        self.assertEqual(r["bench"], "b")
        self.assertEqual(r["ops"], 2)

    def test_malformed_last_line_is_not_replaced_by_an_earlier_one(self):
        text = ("RESULT bench=a ops=1 seconds=1 ops_per_s=1 peak_rss_kb=1 post_rss_kb=1\n"
                "RESULT bench=b ops=x\n")
        r, why = results.find_result(text)
        self.assertIsNone(r)
        self.assertIn("malformed", why)

    def test_no_result_line(self):
        r, why = results.find_result("hello\nRESULTS are in\n")
        self.assertIsNone(r)
        self.assertEqual(why, "no RESULT line")


class Classify(unittest.TestCase):
    def test_statuses(self):
        ok = {"ops": 1}
        self.assertEqual(results.classify(0, False, ok), "ok")
        self.assertEqual(results.classify(0, False, None), "NORESULT")
        self.assertEqual(results.classify(-signal.SIGSEGV, False, None), "CRASH(SIGSEGV)")
        self.assertEqual(results.classify(-signal.SIGABRT, False, ok), "CRASH(SIGABRT)")
        self.assertEqual(results.classify(128 + signal.SIGBUS, False, None), "CRASH(SIGBUS)")
        self.assertEqual(results.classify(3, False, ok), "FAIL(exit 3)")
        self.assertEqual(results.classify(2, False, None), "FAIL(exit 2)")
        # A timeout wins over the signal it was killed with.
        self.assertEqual(results.classify(-signal.SIGTERM, True, None), "TIMEOUT")
        self.assertEqual(results.classify(-signal.SIGKILL, True, None), "TIMEOUT")
        # Exit 130 (SIGINT-like) from a program is not a crash signal.
        self.assertEqual(results.classify(130, False, None), "FAIL(exit 130)")


class Statistics(unittest.TestCase):
    def test_median_odd_even(self):
        self.assertEqual(results.median([3, 1, 2]), 2)
        self.assertEqual(results.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(results.median([7]), 7)
        self.assertEqual(results.median([5.0, 1.0, 100.0, 2.0, 3.0]), 3.0)
        with self.assertRaises(ValueError):
            results.median([])

    def test_summarize_skips_none(self):
        s = results.summarize([5, None, 1, 9])
        self.assertEqual(s, {"median": 5, "min": 1, "max": 9, "n": 3})
        self.assertIsNone(results.summarize([None, None]))
        self.assertIsNone(results.summarize([]))

    def test_best_peer_higher_and_lower(self):
        meds = {"hz3": 300.0, "mimalloc": 200.0, "tcmalloc": 250.0, "jemalloc": None, "glibc": 999.0}
        peers = ("mimalloc", "tcmalloc", "jemalloc")
        self.assertEqual(results.best_peer(meds, peers, True), ("tcmalloc", 250.0))
        self.assertEqual(results.best_peer(meds, peers, False), ("mimalloc", 200.0))
        # glibc is never a peer; no peer with a figure -> None
        self.assertIsNone(results.best_peer({"glibc": 1.0, "hz3": 2.0}, peers, True))

    def test_best_peer_tie_goes_to_first(self):
        meds = {"mimalloc": 5.0, "tcmalloc": 5.0}
        self.assertEqual(results.best_peer(meds, ("mimalloc", "tcmalloc"), True)[0], "mimalloc")

    def test_ratio(self):
        self.assertAlmostEqual(results.ratio(300.0, 250.0), 1.2)
        self.assertIsNone(results.ratio(None, 2.0))
        self.assertIsNone(results.ratio(2.0, None))
        self.assertIsNone(results.ratio(2.0, 0))


class Formatting(unittest.TestCase):
    def test_rate(self):
        self.assertEqual(results.fmt_rate(123456789.0), "123.5M")
        self.assertEqual(results.fmt_rate(45200000.0), "45.20M")
        self.assertEqual(results.fmt_rate(1.5e9), "1.50G")
        self.assertEqual(results.fmt_rate(6865.53), "6.87k")
        self.assertEqual(results.fmt_rate(512), "512")
        self.assertEqual(results.fmt_rate(None), "-")

    def test_kb(self):
        self.assertEqual(results.fmt_kb(2800), "2800K")
        self.assertEqual(results.fmt_kb(618916), "604.4M")
        self.assertEqual(results.fmt_kb(2 * 1024 * 1024), "2048M")
        self.assertEqual(results.fmt_kb(None), "-")

    def test_ratio_and_number(self):
        self.assertEqual(results.fmt_ratio(1.2049), "1.20x")
        self.assertEqual(results.fmt_ratio(None), "-")
        self.assertEqual(results.fmt_number(62.0), "62")
        self.assertEqual(results.fmt_number(79.14), "79.1")
        self.assertEqual(results.fmt_number(0.5), "0.50")


if __name__ == "__main__":
    unittest.main()

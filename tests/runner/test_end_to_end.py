"""linux/run_linux_bench_compare.sh end to end, with stand-in programs.

A temporary build tree holds a stand-in benchmark (a shell script printing a
RESULT line whose figures depend on the preloaded DSO) and a fake line
libhz9.so; the peers are fake DSOs given through MIMALLOC_SO/TCMALLOC_SO/
JEMALLOC_SO. All "allocators" are symlinks to libm.so.6, which preloads
harmlessly. One lane crashes under the fake jemalloc, one hangs under the fake
tcmalloc (the run must time out), one prints no RESULT line.
"""

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
ENTRY = os.path.join(REPO, "linux", "run_linux_bench_compare.sh")
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(REPO, "bench", "runner"))

import allocators  # noqa: E402

FAKE = r"""#!/bin/sh
# fake MODE: figures depend on which fake allocator is preloaded
case "$LD_PRELOAD" in
  *libhz9*) ops=300; peak=1000 ;;
  *fake_mi*) ops=200; peak=2000 ;;
  *fake_tc*) ops=250; peak=1500 ;;
  *fake_je*) ops=100; peak=4000 ;;
  *) ops=500; peak=500 ;;
esac
case "$1" in
  crash_je) case "$LD_PRELOAD" in *fake_je*) kill -SEGV $$ ;; esac ;;
  hang_tc) case "$LD_PRELOAD" in *fake_tc*) exec sleep 60 ;; esac ;;
  fail_hz) case "$LD_PRELOAD" in *libhz9*) echo "boom" >&2; exit 3 ;; esac ;;
  nores) echo "no result"; exit 0 ;;
esac
echo "fake: threads=$2"
echo "RESULT bench=fake ops=$ops seconds=1.0 ops_per_s=$ops.0 peak_rss_kb=$peak post_rss_kb=100 threads=$2 remote_pct_actual=49.5 fallback_pct=1.25"
"""

LANES = """
okl      bench fake T yes yes ok {T}
crashl   bench fake T no  yes crash_je {T}
hangl    bench fake 1 no  yes hang_tc 1
faill    bench fake 1 no  yes fail_hz 1
noresl   bench fake 1 no  yes nores 1
extral   bench fake 1 no  no  ok 1
"""


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def libm():
    for d in allocators.lib_dirs():
        p = os.path.join(d, "libm.so.6")
        if os.path.exists(p):
            return p
    return None


@unittest.skipUnless(libm() and shutil.which("bash"), "needs libm.so.6 and bash")
class EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hz-runner-test.")
        build = os.path.join(cls.tmp, "build")
        os.makedirs(os.path.join(build, "bin"))
        os.makedirs(os.path.join(build, "lib"))
        fake = os.path.join(build, "bin", "fake")
        with open(fake, "w") as fh:
            fh.write(FAKE)
        os.chmod(fake, 0o755)
        os.symlink(libm(), os.path.join(build, "lib", "libhz9.so"))
        cls.env = dict(os.environ)
        for name in ("mi", "tc", "je"):
            link = os.path.join(cls.tmp, "libfake_%s.so" % name)
            os.symlink(libm(), link)
        cls.env.update(MIMALLOC_SO=os.path.join(cls.tmp, "libfake_mi.so"),
                       TCMALLOC_SO=os.path.join(cls.tmp, "libfake_tc.so"),
                       JEMALLOC_SO=os.path.join(cls.tmp, "libfake_je.so"))
        cls.env.pop("LD_PRELOAD", None)
        cls.lanes = os.path.join(cls.tmp, "lanes.conf")
        with open(cls.lanes, "w") as fh:
            fh.write(LANES)
        cls.build = build
        cls.cores = len(os.sched_getaffinity(0))
        cls.out = os.path.join(cls.tmp, "out")
        cls.proc = cls.run_entry(["--runs", "2", "--threads", "1,%d" % (cls.cores + 1), "--timeout", "1",
                                  "--outdir", cls.out])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_entry(cls, args, env=None):
        argv = ["bash", ENTRY, "--build-dir", cls.build, "--skip-build", "--no-install",
                "--lanes-file", cls.lanes] + args
        return subprocess.run(argv, capture_output=True, text=True, env=env or cls.env, timeout=120)

    def samples(self):
        with open(os.path.join(self.out, "samples.csv"), newline="") as fh:
            return list(csv.DictReader(fh))

    def test_exit_status_and_outputs(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        for f in ("summary.md", "samples.csv", "chart.svg", "chart_rss.svg", "meta.json"):
            self.assertTrue(os.path.isfile(os.path.join(self.out, f)), f)
        self.assertTrue(os.listdir(os.path.join(self.out, "logs")))

    def test_every_run_is_recorded_round_robin(self):
        rows = self.samples()
        # okl, crashl at 2 thread counts + hangl, faill, noresl at T=1 (fixed): 7 rows x 2 runs x 5
        self.assertEqual(len(rows), 7 * 2 * 5)
        order = ["hz9", "mimalloc", "tcmalloc", "jemalloc", "glibc"]
        okl = [r for r in rows if r["lane"] == "okl" and r["threads"] == "1"]
        self.assertEqual([r["allocator"] for r in okl], order * 2)
        self.assertEqual([r["run"] for r in okl], ["1"] * 5 + ["2"] * 5)
        self.assertFalse(any(r["lane"] == "extral" for r in rows))   # not in the default set

    def test_failures_are_cells_not_aborts(self):
        st = {(r["lane"], r["threads"], r["allocator"]): r["status"] for r in self.samples()}
        self.assertEqual(st[("crashl", "1", "jemalloc")], "CRASH(SIGSEGV)")
        self.assertEqual(st[("crashl", "1", "mimalloc")], "ok")
        self.assertEqual(st[("hangl", "1", "tcmalloc")], "TIMEOUT")
        self.assertEqual(st[("hangl", "1", "hz9")], "ok")
        self.assertEqual(st[("faill", "1", "hz9")], "FAIL(exit 3)")
        self.assertEqual(st[("noresl", "1", "glibc")], "NORESULT")
        summary = read(os.path.join(self.out, "summary.md"))
        self.assertIn("CRASH(SIGSEGV) x2", summary)
        self.assertIn("TIMEOUT x2", summary)
        self.assertIn("FAIL(exit 3) x2", summary)

    def test_figures_and_ratios(self):
        rows = self.samples()
        r = [x for x in rows if x["lane"] == "okl" and x["allocator"] == "hz9"][0]
        self.assertEqual(float(r["ops_per_s"]), 300.0)
        self.assertEqual(int(r["peak_rss_kb"]), 1000)
        self.assertIn("remote_pct_actual=49.5", r["extra"])
        self.assertTrue(int(r["maxrss_kb"]) > 0)
        summary = read(os.path.join(self.out, "summary.md"))
        # ops: 300 / best peer 250 (tcmalloc); RSS: 1000 / lowest peer 1500 (tcmalloc)
        self.assertRegex(summary, r"\| okl T=1 +\| 1\.20x vs tcmalloc +\| 0\.67x vs tcmalloc")
        # tcmalloc timed out on hangl: best peer there is mimalloc (200), lowest RSS mimalloc (2000)
        self.assertRegex(summary, r"\| hangl T=1 +\| 1\.50x vs mimalloc +\| 0\.50x vs mimalloc")
        self.assertIn("fallback_pct", summary)

    def test_oversubscribed_label_and_machine(self):
        summary = read(os.path.join(self.out, "summary.md"))
        self.assertIn("okl T=%d (oversubscribed)" % (self.cores + 1), summary)
        self.assertNotIn("okl T=1 (oversubscribed)", summary)
        self.assertIn("## Machine and software", summary)
        self.assertIn("- CPU: ", summary)
        self.assertIn("- kernel: ", summary)
        self.assertIn("--runs 2", summary)                             # the exact command
        self.assertIn("LD_PRELOAD=$DSO %s/bin/fake ok 1" % self.build, summary)
        printed = self.proc.stdout
        self.assertIn("### Throughput", printed)                       # the table is printed

    def test_bad_input_exits_2(self):
        cases = [["--runs", "x"], ["--allocators", "glibc,nosuch"], ["--lanes", "nosuch"],
                 ["--nosuch"], ["--threads", "two"], ["--allocators", "hz5"]]
        for args in cases:
            with self.subTest(args=args):
                p = self.run_entry(args + ["--outdir", os.path.join(self.tmp, "never")])
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertTrue(p.stderr.strip(), "no message")
                self.assertIn("Try '", p.stderr)
                self.assertFalse(os.path.exists(os.path.join(self.tmp, "never")))

    def test_missing_peer_without_install_exits_1(self):
        env = dict(self.env, JEMALLOC_SO=os.path.join(self.tmp, "nonexistent.so"))
        p = self.run_entry(["--lanes", "okl", "--outdir", os.path.join(self.tmp, "never2")], env=env)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("jemalloc", p.stderr)

    def test_refused_preload_is_reported(self):
        bogus = os.path.join(self.tmp, "notelf.so")
        with open(bogus, "w") as fh:
            fh.write("not an ELF file\n")
        env = dict(self.env, JEMALLOC_SO=bogus)
        out = os.path.join(self.tmp, "out_refused")
        p = self.run_entry(["--lanes", "extral", "--allocators", "glibc,jemalloc", "--runs", "1",
                            "--outdir", out], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "samples.csv"), newline="") as fh:
            st = {r["allocator"]: r["status"] for r in csv.DictReader(fh)}
        self.assertEqual(st, {"glibc": "ok", "jemalloc": "PRELOAD_FAILED"})

    def test_list_and_dry_run(self):
        p = self.run_entry(["--list"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("okl", p.stdout)
        self.assertIn("hz9", p.stdout)
        p = self.run_entry(["--dry-run", "--quick"])
        self.assertEqual(p.returncode, 0, p.stderr)
        # --quick: the quick lanes (okl), T=2, 3 runs, every allocator
        self.assertIn("# 15 runs", p.stdout)
        self.assertIn("fake ok 2\n", p.stdout)
        self.assertIn("LD_PRELOAD=$DSO", p.stdout)

    def test_existing_outdir_is_refused(self):
        p = self.run_entry(["--outdir", self.out])
        self.assertEqual(p.returncode, 2)
        self.assertIn("already holds", p.stderr)


@unittest.skipUnless(shutil.which("redis-server") and shutil.which("redis-benchmark"), "redis not installed")
class RedisLane(unittest.TestCase):
    def test_glibc_run_and_server_stopped(self):
        p = subprocess.run(["bash", os.path.join(REPO, "bench", "redis_lane.sh"), "-n", "2000", "glibc"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        sys.path.insert(0, os.path.join(REPO, "bench", "runner"))
        import results
        r, why = results.find_result(p.stdout)
        self.assertIsNotNone(r, why)
        self.assertEqual(r["bench"], "redis")
        self.assertEqual(r["ops"], 8000)
        for k in ("set_rps", "get_rps", "lpush_rps", "lpop_rps"):
            self.assertGreater(r[k], 0)
        self.assertAlmostEqual(r["ops_per_s"], sum(r[k] for k in ("set_rps", "get_rps", "lpush_rps",
                                                                   "lpop_rps")) / 4, delta=1)
        self.assertGreater(r["peak_rss_kb"], 1000)
        pid = int(re.search(r"redis-server pid (\d+)", p.stdout).group(1))
        try:
            comm = read("/proc/%d/comm" % pid)
        except OSError:
            comm = ""
        self.assertNotIn("redis", comm, "redis-server %d left running" % pid)

    def test_bad_arguments(self):
        for args in (["-n", "x", "glibc"], ["/nonexistent/lib.so"], []):
            p = subprocess.run(["bash", os.path.join(REPO, "bench", "redis_lane.sh")] + args,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, args)


if __name__ == "__main__":
    unittest.main()

"""Command-line options of linux/run_linux_bench_compare.sh.

Every mistake in the options (unknown option, allocator or lane, a
non-numeric --runs, ...) raises UsageError, which the entry point turns into
a one-line message and exit status 2, before anything is built or run.
"""

import argparse
import os
import re

from allocators import AllocatorError, parse_allocator_list
from lanes import LaneConfError

QUICK_RUNS = 3
QUICK_THREADS = [2]
DEFAULT_RUNS = 5
DEFAULT_THREADS = [2, 4]
DEFAULT_TIMEOUT = 120.0
MAX_THREADS = 1024


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # "argument --runs: --runs must be ..." -> "--runs must be ..."
        m = re.match(r"^argument (\S+): (.*)$", message, re.S)
        if m and m.group(2).startswith(m.group(1).split("/")[0]):
            message = m.group(2)
        m = re.match(r"^unrecognized arguments: (.*)$", message)
        if m:
            words = m.group(1).split()
            kind = "option" if words[0].startswith("-") else "argument"
            message = "unknown %s%s: %s" % (kind, "s" if len(words) > 1 else "", " ".join(words))
        raise UsageError(message)


def positive_int(what):
    def conv(text):
        try:
            value = int(text, 10)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError("%s must be a positive integer, got %r" % (what, text)) from None
        if value < 1:
            raise argparse.ArgumentTypeError("%s must be a positive integer, got %r" % (what, text))
        return value
    return conv


def positive_float(what):
    def conv(text):
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError("%s must be a positive number of seconds, got %r" % (what, text)) from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError("%s must be a positive number of seconds, got %r" % (what, text))
        return value
    return conv


def thread_list(text):
    """'2,4,16' -> [2, 4, 16] (order kept, duplicates dropped)."""
    out = []
    parts = text.split(",")
    if not text.strip() or any(not p.strip() for p in parts):
        raise argparse.ArgumentTypeError("--threads needs a comma-separated list of counts, e.g. 2,4,16 (got %r)" % text)
    for p in parts:
        try:
            value = int(p.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError("--threads: %r is not a thread count (e.g. 2,4,16)" % p) from None
        if not 1 <= value <= MAX_THREADS:
            raise argparse.ArgumentTypeError("--threads: %d is out of range 1..%d" % (value, MAX_THREADS))
        if value not in out:
            out.append(value)
    return out


def name_list(what):
    def conv(text):
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError("%s needs a comma-separated list (got %r)" % (what, text))
        out = []
        for p in parts:
            if p not in out:
                out.append(p)
        return out
    return conv


DESCRIPTION = """\
Compare the hakozuna lines with glibc, mimalloc, tcmalloc and jemalloc on the
benchmark lanes of bench/runner/lanes.conf. Runs are interleaved round-robin
(every allocator once, then again, ...); each figure is the median and
min-max of the runs. Writes summary.md, samples.csv, chart.svg,
chart_rss.svg and the logs of every run to the output directory and prints
the tables."""

EPILOG = """\
Allocators: glibc (no LD_PRELOAD; 'system' is accepted), mimalloc, tcmalloc
(gperftools libtcmalloc_minimal.so.4), jemalloc, hzN (build/lib/libhzN.so),
'hz' = every built line. Default: every built line, the three peers, glibc.

Examples:
  linux/run_linux_bench_compare.sh --quick
  linux/run_linux_bench_compare.sh --lanes main_r0,larson --threads 2,4,16 --runs 7
  linux/run_linux_bench_compare.sh --list

Exit status: 0 done (failed cells are shown as CRASH(..)/TIMEOUT/FAIL(..) in
the tables); 1 the build, the install or the environment failed; 2 bad
options."""


def build_parser():
    p = _Parser(prog="run_linux_bench_compare.sh", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("--allocators", metavar="LIST", type=name_list("--allocators"),
                   help="comma-separated allocators (default: all)")
    p.add_argument("--lanes", metavar="LIST", type=name_list("--lanes"),
                   help="comma-separated lanes, or the sets all/default/quick (default: default set)")
    p.add_argument("--threads", metavar="LIST", type=thread_list,
                   help="thread counts for the lanes whose thread count varies (default: 2,4; --quick: 2)")
    p.add_argument("--runs", metavar="N", type=positive_int("--runs"),
                   help="runs per allocator and lane (default: %d; --quick: %d; callgrind lanes: 1, "
                        "they are deterministic)" % (DEFAULT_RUNS, QUICK_RUNS))
    p.add_argument("--outdir", metavar="DIR",
                   help="output directory (default: <build-dir>/bench-results/compare_<date>_<time>)")
    p.add_argument("--build-dir", metavar="DIR",
                   help="build tree with lib/libhz*.so and bin/bench_* (default: <repo>/build)")
    p.add_argument("--skip-build", action="store_true",
                   help="do not run linux/build_linux_release_lane.sh first")
    p.add_argument("--no-install", action="store_true",
                   help="do not run linux/install_deps.sh when an allocator, redis or valgrind is missing")
    p.add_argument("--timeout", metavar="SEC", type=positive_float("--timeout"),
                   help="limit of one run in seconds (default: %g)" % DEFAULT_TIMEOUT)
    p.add_argument("--quick", action="store_true",
                   help="the quick set: all allocators, lanes marked quick, T=2, %d runs "
                        "(explicit --lanes/--threads/--runs still win)" % QUICK_RUNS)
    p.add_argument("--list", action="store_true", help="list lanes and allocators, then exit")
    p.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    p.add_argument("--lanes-file", metavar="FILE", help="lane table (default: bench/runner/lanes.conf)")
    return p


def parse(argv):
    """Parse and check argv; returns the argparse namespace with defaults
    filled in (quick settings applied). Raises UsageError."""
    args = build_parser().parse_args(argv)
    if args.allocators is not None:
        try:
            args.allocators = parse_allocator_list(",".join(args.allocators))
        except AllocatorError as exc:
            raise UsageError(str(exc)) from None
    if args.quick:
        if args.runs is None:
            args.runs = QUICK_RUNS
        if args.threads is None:
            args.threads = list(QUICK_THREADS)
    if args.runs is None:
        args.runs = DEFAULT_RUNS
    if args.threads is None:
        args.threads = list(DEFAULT_THREADS)
    if args.timeout is None:
        args.timeout = DEFAULT_TIMEOUT
    for attr in ("outdir", "build_dir", "lanes_file"):
        value = getattr(args, attr)
        if value is not None:
            if not value.strip():
                raise UsageError("--%s needs a non-empty path" % attr.replace("_", "-"))
            setattr(args, attr, os.path.abspath(value))
    if args.lanes_file and not os.path.isfile(args.lanes_file):
        raise UsageError("--lanes-file %s does not exist" % args.lanes_file)
    return args


__all__ = ["UsageError", "parse", "build_parser", "LaneConfError"]

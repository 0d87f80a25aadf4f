"""The benchmark comparison runner (entry point: linux/run_linux_bench_compare.sh).

  python3 bench/runner/compare.py --help

Order of work: check the options (exit 2 on any mistake), build the lines
(linux/build_linux_release_lane.sh, unless --skip-build), find the allocator
DSOs (linux/install_deps.sh when a peer, redis or valgrind is missing), then
for every lane and thread count run the allocators round-robin
(A B C A B C ...) --runs times, each run under a timeout, and write
samples.csv as it goes; at the end summary.md, chart.svg, chart_rss.svg.
"""

import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, HERE)

import allocators  # noqa: E402
import options  # noqa: E402
import report  # noqa: E402
import results  # noqa: E402
import runproc  # noqa: E402
from lanes import DEFAULT_CONF, LaneConfError, load_lanes, select_lanes  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
PROG = os.environ.get("HZ_BENCH_ENTRY") or "run_linux_bench_compare.sh"
ENV_RECORDED = re.compile(r"^(HZ_|MIMALLOC_|TCMALLOC_|JE_MALLOC_CONF$|MALLOC_|GLIBC_TUNABLES$|JEMALLOC_)")
PRELOAD_REFUSED = "cannot be preloaded"
COLLECTED_RE = re.compile(r"^==\d+== Collected : (\d+)\s*$", re.M)


class EnvError(Exception):
    """The environment (build, install, missing tool) failed: exit 1."""


def usage_error(msg):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    print("Try '%s --help'." % PROG, file=sys.stderr)
    return 2


def say(msg=""):
    print(msg, flush=True)


# ----------------------------------------------------------------- machine

def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _cmd(argv, cwd=None):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name") or line.startswith("Model"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_meta(build_dir):
    meta = {"cpu_model": cpu_model(), "cores": usable_cores(), "cores_online": os.cpu_count()}
    m = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    if m:
        meta["memory"] = "%.1f GiB" % (int(m.group(1)) / 1024 / 1024)
    meta["kernel"] = "%s %s (%s)" % (platform.release(), platform.version(), platform.machine())
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', _read("/etc/os-release"), re.M)
    if m:
        meta["os"] = m.group(1)
    cache = _read(os.path.join(build_dir, "CMakeCache.txt"))
    bt = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", cache, re.M)
    cc = re.search(r"^CMAKE_C_COMPILER:\w+=(.*)$", cache, re.M)
    meta["build"] = "%s (%s)" % (build_dir, bt.group(1) if bt and bt.group(1) else "build type unknown")
    compiler = cc.group(1) if cc else "cc"
    ver = _cmd([compiler, "--version"])
    if ver:
        meta["compiler"] = ver.splitlines()[0]
    head = _cmd(["git", "-C", REPO, "rev-parse", "HEAD"])
    if head:
        subject = _cmd(["git", "-C", REPO, "log", "-1", "--format=%s"]) or ""
        dirty = _cmd(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
        meta["git_commit"] = "%s %s%s" % (head, subject,
                                          " (working tree has uncommitted changes)" if dirty else "")
    meta["loadavg_start"] = " ".join(_read("/proc/loadavg").split()[:3])
    meta["env"] = {k: v for k, v in os.environ.items()
                   if ENV_RECORDED.match(k) and not k.startswith("HZ_BENCH_ENTRY")}
    meta["python"] = platform.python_version()
    return meta


def package_versions(names):
    out = {}
    for n in names:
        v = _cmd(["dpkg-query", "-W", "-f=${Version}", n])
        if v:
            out[n] = v
    return out


def now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------- prepare

def run_build(build_dir):
    script = os.path.join(REPO, "linux", "build_linux_release_lane.sh")
    say("== build: %s --build-dir %s" % (script, build_dir))
    rc = subprocess.call(["bash", script, "--build-dir", build_dir])
    if rc != 0:
        raise EnvError("the build failed (exit %d): %s --build-dir %s" % (rc, script, build_dir))


def run_install(why):
    script = os.path.join(REPO, "linux", "install_deps.sh")
    say("== %s missing: running %s" % (why, script))
    rc = subprocess.call(["bash", script])
    if rc != 0:
        raise EnvError("linux/install_deps.sh failed (exit %d) while installing %s" % (rc, why))


def lane_program(lane, build_dir):
    if lane.kind == "script":
        return os.path.join(REPO, lane.program)
    return os.path.join(build_dir, "bin", lane.program)


def lane_tools(lane):
    if lane.kind == "callgrind":
        return ["valgrind"]
    if lane.name == "redis" or "redis_lane" in lane.program:
        return ["redis-server", "redis-benchmark", "redis-cli"]
    return []


def print_list(all_lanes, build_dir):
    say("Lanes (bench/runner/lanes.conf; {T} = thread count, {LIB} = allocator DSO or glibc):")
    say()
    w = max(len(l.name) for l in all_lanes)
    for l in all_lanes:
        sets = ",".join(s for s, on in (("default", l.default), ("quick", l.quick)) if on) or "-"
        thr = "T" if l.threads is None else str(l.threads)
        say("  %-*s  %-9s %-13s threads=%-3s %s %s" % (w, l.name, l.kind, sets, thr, l.program, " ".join(l.args)))
    say()
    say("Allocators:")
    say()
    lines = allocators.built_lines(build_dir)
    rows = [("glibc", "no LD_PRELOAD (system malloc)")]
    for p in allocators.PEERS:
        rows.append((p, allocators.find_peer(p) or "not installed (linux/install_deps.sh installs it)"))
    for name, path in lines.items():
        rows.append((name, path))
    if not lines:
        rows.append(("hzN", "no line built in %s/lib yet" % build_dir))
    for name, what in rows:
        say("  %-9s %s" % (name, what))


# --------------------------------------------------------------- running

class Runner:
    def __init__(self, args, build_dir, allocs, outdir, base_env):
        self.args = args
        self.build_dir = build_dir
        self.allocs = allocs              # {name: dso or None}
        self.outdir = outdir
        self.env = base_env
        self.cores = usable_cores()
        self.samples = []
        self.csv = None
        self.done = 0
        self.total = 0

    def env_for(self, lib):
        env = dict(self.env)
        if lib:
            env["LD_PRELOAD"] = lib
        return env

    def argv_for(self, lane, threads, lib):
        prog = lane_program(lane, self.build_dir)
        args = lane.expand(threads, lib or "glibc")
        if lane.kind == "script":
            return ["bash", prog] + args
        return [prog] + args

    def log_base(self, *parts):
        name = "_".join(str(p) for p in parts)
        return os.path.join(self.outdir, "logs", re.sub(r"[^A-Za-z0-9_.=-]", "_", name))

    def record(self, sample, note=""):
        self.samples.append(sample)
        if self.csv:
            self.csv.add(sample)
        self.done += 1
        if sample["status"] == results.OK:
            if sample.get("instr_per_pair") is not None:
                fig = "%.1f instr/pair" % sample["instr_per_pair"]
            else:
                fig = "%s ops/s  peak %s" % (results.fmt_rate(sample["ops_per_s"]),
                                             results.fmt_kb(report.peak_of(sample)))
        else:
            fig = note
        say("[%*d/%d] %-32s run %-3s %-9s %-16s %s  (%.1f s)" % (
            len(str(self.total)), self.done, self.total,
            report.row_label(sample["lane"], sample["threads"], self.cores), sample["run"],
            sample["allocator"], sample["status"], fig, sample["wall_s"] or 0))

    def run_bench(self, lane, threads, run, alloc):
        lib = self.allocs[alloc]
        argv = self.argv_for(lane, threads, lib)
        env = self.env_for(lib if lane.kind == "bench" else None)
        base = self.log_base(lane.name, "T%d" % threads, alloc, "r%d" % run)
        o = runproc.run(argv, env=env, timeout=self.args.timeout, stdout_path=base + ".out",
                        stderr_path=base + ".err")
        res, why = results.find_result(o.stdout)
        status = results.classify(o.returncode, o.timed_out, res)
        note = ""
        if lib and PRELOAD_REFUSED in o.stderr:
            status, note = "PRELOAD_FAILED", o.stderr.strip().splitlines()[0][:160]
        elif status == results.NORESULT:
            note = why
        elif status != results.OK:
            tail = (o.stderr.strip().splitlines() or [""])[-1]
            note = tail[:160]
        sample = {"lane": lane.name, "threads": threads, "oversubscribed": threads > self.cores,
                  "run": run, "allocator": alloc, "status": status, "wall_s": round(o.wall, 3),
                  "maxrss_kb": o.maxrss_kb, "log": os.path.relpath(base + ".out", self.outdir),
                  "ops": None, "seconds": None, "ops_per_s": None, "peak_rss_kb": None,
                  "post_rss_kb": None, "instr_per_pair": None, "extra": {}}
        if res is not None and status == results.OK:
            for k in ("ops", "seconds", "ops_per_s", "peak_rss_kb", "post_rss_kb"):
                sample[k] = res[k]
            sample["extra"] = results.extras(res)
        self.record(sample, note)

    def run_callgrind(self, lane, size, alloc):
        lib = self.allocs[alloc]
        _sizes, iters = lane.callgrind_params()
        counts = []
        status = results.OK
        wall = 0.0
        note = ""
        base = None
        for n in iters:
            argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                    lane_program(lane, self.build_dir), str(size), str(n)]
            base = self.log_base(lane.name, size, alloc, "n%d" % n)
            o = runproc.run(argv, env=self.env_for(lib), timeout=self.args.timeout,
                            stdout_path=base + ".out", stderr_path=base + ".err")
            wall += o.wall
            st = results.classify(o.returncode, o.timed_out, True)
            m = COLLECTED_RE.findall(o.stderr)
            if lib and PRELOAD_REFUSED in o.stderr:
                st = "PRELOAD_FAILED"
            elif st == results.OK and not m:
                st, note = results.NORESULT, "no 'Collected :' line from callgrind"
            if st != results.OK:
                status = st
                break
            counts.append(int(m[-1]))
        sample = {"lane": "%s_%d" % (lane.name, size), "threads": 1, "oversubscribed": False, "run": 1,
                  "allocator": alloc, "status": status, "wall_s": round(wall, 3), "maxrss_kb": None,
                  "log": os.path.relpath(base + ".err", self.outdir), "ops": None, "seconds": None,
                  "ops_per_s": None, "peak_rss_kb": None, "post_rss_kb": None, "instr_per_pair": None,
                  "extra": {}}
        if status == results.OK:
            sample["instr_per_pair"] = (counts[1] - counts[0]) / (iters[1] - iters[0])
            sample["extra"] = {"instr_n1": counts[0], "instr_n2": counts[1]}
        self.record(sample, note)

    def plan(self, lanes):
        jobs = []
        for lane in lanes:
            if lane.kind == "callgrind":
                sizes, _ = lane.callgrind_params()
                for size in sizes:
                    for alloc in self.allocs:
                        jobs.append(("callgrind", lane, size, alloc))
                continue
            for t in lane.thread_counts(self.args.threads):
                for run in range(1, self.args.runs + 1):
                    for alloc in self.allocs:
                        jobs.append(("bench", lane, t, run, alloc))
        return jobs


def command_lines(lanes, runner):
    out = []
    for lane in lanes:
        if lane.kind == "callgrind":
            sizes, iters = lane.callgrind_params()
            out.append("LD_PRELOAD=$DSO valgrind --tool=callgrind --callgrind-out-file=/dev/null %s SIZE N"
                       "    # SIZE in %s, N in %s" % (lane_program(lane, runner.build_dir),
                                                     ",".join(map(str, sizes)), ",".join(map(str, iters))))
            continue
        for t in lane.thread_counts(runner.args.threads):
            if lane.kind == "script":
                argv = runner.argv_for(lane, t, "$DSO")
                out.append(" ".join(a if a == "$DSO" else shlex.quote(a) for a in argv))
            else:
                out.append("LD_PRELOAD=$DSO " + shlex.join(runner.argv_for(lane, t, None)))
    return out


# ------------------------------------------------------------------ main

def main(argv):
    try:
        args = options.parse(argv)
    except options.UsageError as exc:
        return usage_error(str(exc))
    lanes_file = args.lanes_file or DEFAULT_CONF
    try:
        all_lanes = load_lanes(lanes_file)
        lanes = select_lanes(all_lanes, args.lanes, args.quick)
    except (LaneConfError, OSError) as exc:
        return usage_error(str(exc))
    build_dir = args.build_dir or os.path.join(REPO, "build")

    if args.list:
        print_list(all_lanes, build_dir)
        return 0
    if not lanes:
        return usage_error("no lane selected")

    names = args.allocators or (["hz"] + list(allocators.PEERS) + [allocators.SYSTEM])
    if args.outdir:
        outdir = args.outdir
    else:
        outdir = os.path.join(build_dir, "bench-results",
                              "compare_" + datetime.datetime.now().strftime("%Y%m%d_%H%M%S"))
    if not args.dry_run and os.path.exists(os.path.join(outdir, "samples.csv")):
        return usage_error("%s already holds a comparison (samples.csv); choose another --outdir" % outdir)

    try:
        if not args.skip_build and not args.dry_run:
            run_build(build_dir)
        try:
            if args.allocators is None and not allocators.built_lines(build_dir):
                names = [n for n in names if n != "hz"]
                say("note: no hakozuna line is built in %s/lib; comparing the others only" % build_dir)
            allocs = allocators.resolve(names, build_dir)
        except allocators.AllocatorError as exc:
            return usage_error(str(exc))
        missing = [n for n, p in allocs.items() if p == "MISSING"]
        tools = sorted({t for lane in lanes for t in lane_tools(lane) if not shutil.which(t)})
        if (missing or tools) and not args.no_install and not args.dry_run:
            run_install(", ".join(missing + tools))
            allocs = allocators.resolve(names, build_dir)
            missing = [n for n, p in allocs.items() if p == "MISSING"]
            tools = sorted({t for lane in lanes for t in lane_tools(lane) if not shutil.which(t)})
        if missing and not args.dry_run:
            raise EnvError("allocator%s not installed: %s (linux/install_deps.sh installs them)"
                           % ("s" if len(missing) > 1 else "", ", ".join(missing)))
    except EnvError as exc:
        print("%s: %s" % (PROG, exc), file=sys.stderr)
        return 1

    notes = []
    runnable = []
    for lane in lanes:
        prog = lane_program(lane, build_dir)
        lack = [t for t in lane_tools(lane) if not shutil.which(t)]
        if not os.path.isfile(prog):
            notes.append("lane %s skipped: %s does not exist (not built?)" % (lane.name, prog))
        elif lack:
            notes.append("lane %s skipped: %s not installed" % (lane.name, ", ".join(lack)))
        else:
            runnable.append(lane)
    for n in notes:
        print("%s: warning: %s" % (PROG, n), file=sys.stderr)
    if not runnable:
        print("%s: none of the selected lanes can run (see the warnings above)" % PROG, file=sys.stderr)
        return 1

    base_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    runner = Runner(args, build_dir, allocs, outdir, base_env)
    jobs = runner.plan(runnable)
    runner.total = len(jobs)

    if args.dry_run:
        say("# %d runs; allocators: %s" % (len(jobs), ", ".join("%s=%s" % (n, p or "(none)") for n, p in allocs.items())))
        for line in command_lines(runnable, runner):
            say(line)
        return 0

    os.makedirs(os.path.join(outdir, "logs"), exist_ok=True)
    meta = machine_meta(build_dir)
    meta.update({
        "started": now(), "runs": args.runs, "threads": args.threads, "timeout": args.timeout,
        "allocators": list(allocs), "lanes": [l.name for l in runnable],
        "command": "%s %s" % (os.environ.get("HZ_BENCH_ENTRY_PATH") or PROG, shlex.join(argv)),
        "commands": command_lines(runnable, runner), "notes": notes, "lanes_file": lanes_file,
    })
    info = {}
    for name, path in allocs.items():
        pk = allocators.package_of(path)
        info[name] = {"path": path, "package": "%s %s" % pk if pk else
                      ("built from this repository" if allocators.is_hz(name) else None)}
    meta["allocator_info"] = info
    meta["packages"] = package_versions(["libc6", "redis-server", "redis-tools", "valgrind"])
    if "tcmalloc" in allocs and allocs["tcmalloc"] and "minimal" in os.path.basename(allocs["tcmalloc"]):
        notes.append("tcmalloc is gperftools' libtcmalloc_minimal.so.4 (no heap profiler/checker hooks).")
    if any(lane.kind == "script" and "redis" in lane.name for lane in runnable):
        notes.append("redis lane: Debian's redis-server is linked with jemalloc; its glibc column "
                     "preloads libc.so.6 so that glibc malloc wins (bench/redis_lane.sh).")
    if any(t > meta["cores"] for t in args.threads):
        notes.append("thread counts above the %d usable cores are oversubscribed." % meta["cores"])

    def save_meta():
        with open(os.path.join(outdir, "meta.json"), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1, sort_keys=True)

    save_meta()
    say("== %d runs: %d lanes, threads %s, %d runs each (callgrind lanes: 1), allocators %s "
        "interleaved; output: %s" % (len(jobs), len(runnable), ",".join(map(str, args.threads)), args.runs,
                                     " ".join(allocs), outdir))
    runner.csv = report.CsvWriter(os.path.join(outdir, "samples.csv"))
    t0 = time.monotonic()
    interrupted = False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    # SIGTERM/SIGHUP like Ctrl-C: stop the current run's process group,
    # write the summary of what was measured.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        for job in jobs:
            if job[0] == "callgrind":
                runner.run_callgrind(job[1], job[2], job[3])
            else:
                runner.run_bench(*job[1:])
    except KeyboardInterrupt:
        interrupted = True
        say("\ninterrupted: writing the summary of the runs so far")
    finally:
        runner.csv.close()
    meta["finished"] = now()
    meta["elapsed_s"] = round(time.monotonic() - t0, 1)
    meta["loadavg_end"] = " ".join(_read("/proc/loadavg").split()[:3])
    meta["interrupted"] = interrupted
    save_meta()
    report.write_all(outdir, runner.samples, meta)
    say()
    say(report.tables(runner.samples, meta))
    say("%d runs in %.0f s. Written: %s/summary.md, samples.csv, chart.svg, chart_rss.svg, logs/"
        % (runner.done, meta["elapsed_s"], outdir))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

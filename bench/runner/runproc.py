"""Run one benchmark process: timeout, exit status, child max RSS.

The child runs in its own process group, so a timeout kills whatever it
started (threads, redis-server under bench/redis_lane.sh gets SIGTERM first so
its trap can stop the server). The max RSS is the kernel's figure for the
child (wait4 rusage, the same number /usr/bin/time -f %M prints).
"""

import os
import signal
import subprocess
import threading
import time


class RunOutcome:
    __slots__ = ("returncode", "timed_out", "wall", "maxrss_kb", "stdout", "stderr")

    def __init__(self, returncode, timed_out, wall, maxrss_kb, stdout, stderr):
        self.returncode = returncode
        self.timed_out = timed_out
        self.wall = wall
        self.maxrss_kb = maxrss_kb
        self.stdout = stdout
        self.stderr = stderr


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv, env=None, timeout=120.0, stdout_path=None, stderr_path=None, grace=5.0, cwd=None):
    """Run argv; return a RunOutcome.

    returncode is negative for a signal (subprocess convention). On timeout
    the process group gets SIGTERM, then SIGKILL after `grace` seconds.
    stdout/stderr are written to the given files (and returned as text).
    """
    out_f = open(stdout_path, "w+b") if stdout_path else _tmpfile()
    err_f = open(stderr_path, "w+b") if stderr_path else _tmpfile()
    try:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f,
                                    start_new_session=True, cwd=cwd)
        except OSError as exc:
            err_f.write(("cannot start %s: %s\n" % (argv[0], exc)).encode())
            return RunOutcome(127, False, 0.0, None, "", "cannot start %s: %s" % (argv[0], exc))
        timed_out = threading.Event()
        finished = threading.Event()

        def on_timeout():
            if finished.is_set():
                return
            timed_out.set()
            _killpg(proc.pid, signal.SIGTERM)
            if not finished.wait(grace):
                _killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            while True:
                try:
                    _pid, status, rusage = os.wait4(proc.pid, 0)
                    break
                except InterruptedError:
                    continue
        except BaseException:
            # KeyboardInterrupt: leave nothing running behind us.
            _killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            finished.set()
            timer.cancel()
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        # Stray grandchildren (a daemon the program left behind) must not
        # outlive the run.
        _killpg(proc.pid, signal.SIGKILL)
        out_f.seek(0)
        err_f.seek(0)
        stdout = out_f.read().decode("utf-8", "replace")
        stderr = err_f.read().decode("utf-8", "replace")
        return RunOutcome(proc.returncode, timed_out.is_set(), wall, rusage.ru_maxrss, stdout, stderr)
    finally:
        out_f.close()
        err_f.close()


def _tmpfile():
    import tempfile
    return tempfile.TemporaryFile()

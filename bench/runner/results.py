"""RESULT lines, run outcomes and the statistics of the comparison.

Every benchmark program (and bench/redis_lane.sh) prints, as its last
RESULT line,

  RESULT bench=<name> ops=<N> seconds=<float> ops_per_s=<float>
         peak_rss_kb=<int> post_rss_kb=<int> [extra key=value ...]

This module turns such output into a dict, classifies how a run ended
(ok / CRASH(SIGxxx) / TIMEOUT / FAIL(exit N) / NORESULT) and computes the
figures of the report: median, min, max and the ratio of a hakozuna line to
the best peer allocator.
"""

import math
import re
import signal

# Keys every RESULT line must carry, with the type they must parse as.
REQUIRED = (
    ("bench", str),
    ("ops", int),
    ("seconds", float),
    ("ops_per_s", float),
    ("peak_rss_kb", int),
    ("post_rss_kb", int),
)
REQUIRED_KEYS = tuple(k for k, _ in REQUIRED)
# -1 = unknown (bench/README.md: printed when /proc is unavailable) -> None.
UNKNOWN_OK = ("peak_rss_kb", "post_rss_kb")

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class ResultLineError(ValueError):
    """A RESULT line is present but malformed."""


def _num(text):
    """int when the text is an integer, else float; ValueError otherwise."""
    try:
        return int(text, 10)
    except ValueError:
        value = float(text)
        if math.isnan(value):
            raise ValueError("nan") from None
        return value


def parse_result_line(line):
    """Parse one 'RESULT k=v ...' line into a dict.

    Required keys are converted (ints/floats); extra keys become numbers when
    they look like numbers, otherwise stay strings; an RSS of -1 (unknown)
    becomes None (a trailing '%' is
    dropped, so remote_pct_actual=89.5% reads as 89.5). Raises
    ResultLineError when the line is not a RESULT line, a token is not
    key=value, a key repeats, or a required key is missing or not a number.
    """
    tokens = line.strip().split()
    if not tokens or tokens[0] != "RESULT":
        raise ResultLineError("not a RESULT line: %r" % line[:80])
    out = {}
    for tok in tokens[1:]:
        key, sep, value = tok.partition("=")
        if not sep or not _KEY_RE.match(key) or value == "":
            raise ResultLineError("bad token %r (expected key=value)" % tok)
        if key in out:
            raise ResultLineError("key %r appears twice" % key)
        out[key] = value
    for key, typ in REQUIRED:
        if key not in out:
            raise ResultLineError("missing key %r" % key)
        if typ is str:
            continue
        try:
            value = _num(out[key])
        except ValueError:
            raise ResultLineError("key %s=%r is not a number" % (key, out[key])) from None
        if typ is int:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ResultLineError("key %s=%r is not an integer" % (key, out[key]))
                value = int(value)
        else:
            value = float(value)
        if value < 0:
            if key in UNKNOWN_OK and value == -1:
                value = None      # the program could not read /proc
            else:
                raise ResultLineError("key %s=%r is negative" % (key, out[key]))
        out[key] = value
    for key, value in list(out.items()):
        if key in REQUIRED_KEYS:
            continue
        text = value[:-1] if value.endswith("%") else value
        try:
            out[key] = _num(text)
        except ValueError:
            pass
    return out


def find_result(text):
    """The last well-formed RESULT line of a program's output, as a dict.

    Returns (dict, None) or (None, reason) where reason says why there is
    none: no RESULT line at all, or the parse error of the last one.
    """
    last_error = None
    for line in reversed(text.splitlines()):
        if line.startswith("RESULT ") or line.strip() == "RESULT":
            try:
                return parse_result_line(line), None
            except ResultLineError as exc:
                # The last RESULT line decides; an earlier one is no substitute.
                last_error = str(exc)
                break
    if last_error:
        return None, "malformed RESULT line: " + last_error
    return None, "no RESULT line"


def extras(result):
    """The extra key=value pairs of a parsed RESULT line (not the required ones)."""
    return {k: v for k, v in result.items() if k not in REQUIRED_KEYS}


# ----------------------------------------------------------------- outcomes

OK = "ok"
TIMEOUT = "TIMEOUT"
NORESULT = "NORESULT"


def signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "SIG%d" % signum


def classify(returncode, timed_out, result):
    """The status of a run: 'ok', 'TIMEOUT', 'CRASH(SIGSEGV)', 'FAIL(exit 3)'
    or 'NORESULT'.

    returncode follows subprocess: negative = killed by that signal. A shell
    that reports a signalled child as 128+N (bench/redis_lane.sh does not,
    but `sh -c` would) is also read as a crash when N is a real signal.
    """
    if timed_out:
        return TIMEOUT
    if returncode is not None and returncode < 0:
        return "CRASH(%s)" % signal_name(-returncode)
    if returncode is not None and returncode > 128 and returncode - 128 in _CRASH_SIGNALS:
        return "CRASH(%s)" % signal_name(returncode - 128)
    if returncode:
        return "FAIL(exit %d)" % returncode
    if result is None:
        return NORESULT
    return OK


_CRASH_SIGNALS = {int(s) for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT,
                                   signal.SIGILL, signal.SIGFPE, signal.SIGKILL,
                                   signal.SIGTRAP, signal.SIGSYS)}


# --------------------------------------------------------------- statistics

def median(values):
    """Median of a non-empty sequence (mean of the two middle values for an
    even count). ValueError on an empty sequence."""
    vals = sorted(values)
    n = len(vals)
    if n == 0:
        raise ValueError("median of no values")
    mid = n // 2
    if n % 2:
        return vals[mid]
    return (vals[mid - 1] + vals[mid]) / 2


def summarize(values):
    """dict(median, min, max, n) of the values, or None when there are none."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def best_peer(medians, peers, higher_is_better=True):
    """(name, value) of the best peer among those with a figure, or None.

    medians: {allocator: median or None}; peers: the names that count as
    peers (mimalloc, tcmalloc, jemalloc). Ties go to the first in `peers`.
    """
    best = None
    for name in peers:
        value = medians.get(name)
        if value is None:
            continue
        if best is None or (value > best[1] if higher_is_better else value < best[1]):
            best = (name, value)
    return best


def ratio(value, reference):
    """value / reference, or None when either is missing or reference is 0."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


# --------------------------------------------------------------- formatting

def fmt_rate(value):
    """Operations per second, short: 1234 -> '1.23k', 5.6e7 -> '56.0M'."""
    if value is None:
        return "-"
    a = abs(value)
    if a >= 1e9:
        return "%.2fG" % (value / 1e9)
    if a >= 1e6:
        return "%.1fM" % (value / 1e6) if a >= 1e8 else "%.2fM" % (value / 1e6)
    if a >= 1e3:
        return "%.1fk" % (value / 1e3) if a >= 1e5 else "%.2fk" % (value / 1e3)
    return "%.0f" % value


def fmt_kb(kb):
    """RSS in KiB, shown in MiB above 10 MiB, else KiB."""
    if kb is None:
        return "-"
    if kb >= 10 * 1024:
        return "%.0fM" % (kb / 1024) if kb >= 1000 * 1024 else "%.1fM" % (kb / 1024)
    return "%dK" % round(kb)


def fmt_ratio(value):
    if value is None:
        return "-"
    return "%.2fx" % value


def fmt_number(value):
    """A generic figure (instructions per pair, percentages)."""
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return "%d" % value
    if abs(value) >= 10:
        return "%.1f" % value
    return "%.2f" % value

"""The lane table (bench/runner/lanes.conf).

One lane per line, whitespace-separated columns:

  name  kind  program  threads  quick  default  args...

  name     lane name used with --lanes (letters, digits, '_', '-')
  kind     bench     a program in <build>/bin, run with LD_PRELOAD=<allocator>
           script    a script under the repository root, given the allocator
                     as the {LIB} argument (it preloads only what it starts)
           callgrind instruction counts under valgrind (see callgrind.py)
  program  file name in <build>/bin (bench, callgrind) or a path relative to
           the repository root (script)
  threads  T  = the lane runs once per --threads value, {T} in args is it
           N  = fixed thread count (the lane ignores --threads)
  quick    yes/no: part of --quick
  default  yes/no: part of the default lane set (without --lanes)
  args     the arguments; {T} = thread count, {LIB} = allocator DSO path
           ('glibc' for the system allocator). For callgrind lanes:
           size list and two iteration counts, e.g. sizes=16,64 iters=1000,2000

'#' starts a comment; blank lines are ignored.
"""

import os
import re

KINDS = ("bench", "script", "callgrind")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z]+)\}")
PLACEHOLDERS = ("T", "LIB")

DEFAULT_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lanes.conf")


class LaneConfError(ValueError):
    pass


class Lane:
    __slots__ = ("name", "kind", "program", "threads", "quick", "default", "args", "lineno")

    def __init__(self, name, kind, program, threads, quick, default, args, lineno=0):
        self.name = name
        self.kind = kind
        self.program = program
        self.threads = threads      # None = follows --threads, else a fixed int
        self.quick = quick
        self.default = default
        self.args = list(args)
        self.lineno = lineno

    def thread_counts(self, requested):
        """The thread counts this lane runs at, given the --threads list."""
        if self.threads is None:
            return list(requested)
        return [self.threads]

    def expand(self, threads, lib="glibc"):
        """The argument list with {T} and {LIB} filled in."""
        values = {"T": str(threads), "LIB": lib}
        return [_PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], a) for a in self.args]

    def callgrind_params(self):
        """(sizes, (iters_a, iters_b)) of a callgrind lane."""
        params = {}
        for a in self.args:
            key, sep, value = a.partition("=")
            if not sep:
                raise LaneConfError("%s: callgrind argument %r is not key=value" % (self.name, a))
            params[key] = value
        try:
            sizes = [int(s) for s in params["sizes"].split(",")]
            iters = [int(s) for s in params["iters"].split(",")]
        except (KeyError, ValueError):
            raise LaneConfError("%s: callgrind lane needs sizes=A,B,.. iters=N1,N2" % self.name) from None
        if len(iters) != 2 or iters[0] <= 0 or iters[1] <= iters[0]:
            raise LaneConfError("%s: iters must be two counts N1 < N2" % self.name)
        if not sizes or min(sizes) <= 0:
            raise LaneConfError("%s: sizes must be positive" % self.name)
        return sizes, tuple(iters)

    def __repr__(self):
        return "Lane(%s)" % self.name


def _yesno(text, what, lineno):
    if text in ("yes", "y", "1", "true"):
        return True
    if text in ("no", "n", "0", "false"):
        return False
    raise LaneConfError("line %d: %s must be yes or no, not %r" % (lineno, what, text))


def parse_lanes(text):
    """Parse lanes.conf text into a list of Lane (in file order)."""
    lanes = []
    seen = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cols = line.split()
        if len(cols) < 6:
            raise LaneConfError("line %d: expected name kind program threads quick default args..., got %r"
                                % (lineno, line))
        name, kind, program, threads, quick, default = cols[:6]
        args = cols[6:]
        if not _NAME_RE.match(name):
            raise LaneConfError("line %d: bad lane name %r" % (lineno, name))
        if name in seen:
            raise LaneConfError("line %d: lane %r defined twice" % (lineno, name))
        if kind not in KINDS:
            raise LaneConfError("line %d: kind must be one of %s, not %r" % (lineno, ", ".join(KINDS), kind))
        if threads == "T":
            nthreads = None
        else:
            try:
                nthreads = int(threads)
            except ValueError:
                nthreads = 0
            if nthreads <= 0:
                raise LaneConfError("line %d: threads must be T or a positive count, not %r" % (lineno, threads))
        for a in args:
            for ph in _PLACEHOLDER_RE.findall(a):
                if ph not in PLACEHOLDERS:
                    raise LaneConfError("line %d: unknown placeholder {%s}" % (lineno, ph))
        if nthreads is not None and any("{T}" in a for a in args):
            raise LaneConfError("line %d: {T} in a lane with a fixed thread count" % lineno)
        lane = Lane(name, kind, program, nthreads, _yesno(quick, "quick", lineno),
                    _yesno(default, "default", lineno), args, lineno)
        if kind == "callgrind":
            lane.callgrind_params()
        lanes.append(lane)
        seen.add(name)
    if not lanes:
        raise LaneConfError("no lanes defined")
    return lanes


def load_lanes(path=DEFAULT_CONF):
    with open(path, encoding="utf-8") as fh:
        try:
            return parse_lanes(fh.read())
        except LaneConfError as exc:
            raise LaneConfError("%s: %s" % (path, exc)) from None


def select_lanes(lanes, names=None, quick=False):
    """The lanes to run, in table order.

    names: the --lanes list (None = the default or quick set). The words
    'all', 'default' and 'quick' name those sets. Unknown names raise
    LaneConfError listing what exists.
    """
    by_name = {lane.name: lane for lane in lanes}
    if names is None:
        return [lane for lane in lanes if (lane.quick if quick else lane.default)]
    wanted = set()
    unknown = []
    for n in names:
        if n == "all":
            wanted.update(by_name)
        elif n == "default":
            wanted.update(l.name for l in lanes if l.default)
        elif n == "quick":
            wanted.update(l.name for l in lanes if l.quick)
        elif n in by_name:
            wanted.add(n)
        else:
            unknown.append(n)
    if unknown:
        raise LaneConfError("unknown lane%s: %s (known: %s; or all, default, quick)"
                            % ("s" if len(unknown) > 1 else "", ", ".join(unknown),
                               " ".join(by_name)))
    return [lane for lane in lanes if lane.name in wanted]

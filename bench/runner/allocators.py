"""Which allocators the comparison knows and where their DSOs are.

  glibc     the system allocator, no LD_PRELOAD ('system' is accepted too)
  mimalloc  libmimalloc.so.2        (Debian libmimalloc2.0)
  tcmalloc  libtcmalloc_minimal.so.4 (Debian libtcmalloc-minimal4, gperftools);
            libtcmalloc.so.4 only when the minimal one is missing
  jemalloc  libjemalloc.so.2        (Debian libjemalloc2)
  hzN       <build>/lib/libhzN.so   every line the build produced

MIMALLOC_SO, TCMALLOC_SO, JEMALLOC_SO in the environment override the paths.
"""

import glob
import os
import platform
import re
import subprocess

PEERS = ("mimalloc", "tcmalloc", "jemalloc")
SYSTEM = "glibc"
ALIASES = {"system": SYSTEM, "libc": SYSTEM}
_HZ_RE = re.compile(r"^hz[0-9]+[a-z0-9_]*$")

# name -> (env override, candidate file names in preference order, Debian package)
PEER_FILES = {
    "mimalloc": ("MIMALLOC_SO", ["libmimalloc.so.2"], "libmimalloc2.0"),
    "tcmalloc": ("TCMALLOC_SO", ["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"], "libtcmalloc-minimal4"),
    "jemalloc": ("JEMALLOC_SO", ["libjemalloc.so.2"], "libjemalloc2"),
}


class AllocatorError(ValueError):
    pass


def is_hz(name):
    return bool(_HZ_RE.match(name))


def _hz_key(name):
    m = re.match(r"^hz([0-9]+)(.*)$", name)
    return (int(m.group(1)), m.group(2)) if m else (1 << 30, name)


def lib_dirs():
    machine = platform.machine()
    triplet = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(machine, machine + "-linux-gnu")
    return ["/usr/lib/" + triplet, "/lib/" + triplet, "/usr/lib64", "/usr/lib", "/usr/local/lib"]


def find_peer(name, environ=None, dirs=None):
    """The DSO path of a peer allocator, or None when it is not installed."""
    environ = os.environ if environ is None else environ
    env_var, files, _pkg = PEER_FILES[name]
    override = environ.get(env_var)
    if override:
        return override if os.path.isfile(override) else None
    for d in (dirs or lib_dirs()):
        for f in files:
            path = os.path.join(d, f)
            if os.path.isfile(path):
                return path
    return None


def built_lines(build_dir):
    """{line: path} of every <build>/lib/libhz*.so, e.g. {'hz3': '.../libhz3.so'}."""
    out = {}
    for path in glob.glob(os.path.join(build_dir, "lib", "libhz*.so")):
        name = os.path.basename(path)[3:-3]
        if is_hz(name):
            out[name] = path
    return dict(sorted(out.items(), key=lambda kv: _hz_key(kv[0])))


def parse_allocator_list(text):
    """Split and check a --allocators value (before anything is built).

    Returns the canonical names in the given order, duplicates dropped.
    Raises AllocatorError on an empty list or an unknown name. 'hzN' names
    are accepted here; whether the line was built is checked later.
    """
    names = [n.strip() for n in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise AllocatorError("--allocators needs a comma-separated list, e.g. glibc,hz3,mimalloc (got %r)" % text)
    out = []
    unknown = []
    for n in names:
        canon = ALIASES.get(n.lower(), n.lower())
        if canon in PEERS or canon == SYSTEM or is_hz(canon) or canon == "hz":
            if canon not in out:
                out.append(canon)
        else:
            unknown.append(n)
    if unknown:
        raise AllocatorError("unknown allocator%s: %s (known: glibc, mimalloc, tcmalloc, jemalloc, "
                             "hz = every built hakozuna line, or hzN)"
                             % ("s" if len(unknown) > 1 else "", ", ".join(unknown)))
    return out


def default_allocators(build_dir):
    return list(built_lines(build_dir)) + list(PEERS) + [SYSTEM]


def resolve(names, build_dir, environ=None):
    """{name: dso path or None (glibc)} in the order given; 'hz' expands to
    every built line.

    Raises AllocatorError for a hakozuna line that was not built. Peers that
    are not installed map to the string 'MISSING' so that the caller can
    install them and resolve again.
    """
    lines = built_lines(build_dir)
    out = {}
    for n in names:
        if n == SYSTEM:
            out[n] = None
        elif n == "hz":
            if not lines:
                raise AllocatorError("no hakozuna line is built in %s/lib (libhz*.so)" % build_dir)
            for line, path in lines.items():
                out.setdefault(line, path)
        elif is_hz(n):
            if n not in lines:
                raise AllocatorError("allocator %s: %s/lib/lib%s.so was not built (built: %s)"
                                     % (n, build_dir, n, " ".join(lines) or "none"))
            out[n] = lines[n]
        else:
            out[n] = find_peer(n, environ) or "MISSING"
    return out


def package_of(path):
    """(package, version) owning a file, via dpkg-query; None when unknown."""
    if not path:
        path = _libc_path()
    if not path:
        return None
    real = os.path.realpath(path)
    for candidate in (real, path, "/usr" + real if not real.startswith("/usr/") else real[4:]):
        try:
            out = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode == 0 and out.stdout:
            pkg = out.stdout.split(":", 1)[0].split(",")[0].strip()
            if " " in pkg:
                continue
            ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                                 text=True, timeout=20)
            if ver.returncode == 0:
                return pkg, ver.stdout.strip()
    return None


def _libc_path():
    for d in lib_dirs():
        p = os.path.join(d, "libc.so.6")
        if os.path.exists(p):
            return p
    return None


def libc_path():
    return _libc_path()

#!/usr/bin/env bash
# python3 under LD_PRELOAD: dicts/lists/strings of many sizes, json round
# trips, sorting, 4 allocating threads, fork and a subprocess; every section
# prints a digest that must equal the plain run's.
# usage: tests/programs/python.sh <path-to-allocator.so>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hz_init "$@"

PY=
for c in /usr/bin/python3 "$(command -v python3 || true)"; do
  if [[ -n "$c" && -x "$c" ]]; then PY=$c; break; fi
done
if [[ -z "$PY" ]]; then
  hz_skip python3 "python3 not installed (linux/install_deps.sh)"
  hz_finish
fi

cat >work.py <<'EOF'
import gc, hashlib, json, os, random, re, subprocess, sys, threading
from collections import Counter, OrderedDict, defaultdict, deque

def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]

def out(name, obj):
    print(f"{name}: {digest(obj)}", flush=True)

rng = random.Random(12345)

# Strings of many sizes (1 B .. 4 MiB), built several ways.
strs = []
for e in range(23):
    n = 1 << e
    s = "".join(chr(97 + (i * 7 + e) % 26) for i in range(min(n, 4096)))
    s = (s * (n // len(s) + 1))[:n]
    strs.append(s)
    strs.append(s.upper()[: n // 2])
    strs.append(s.replace("a", "xyz"))
acc = ""
for i in range(20000):
    acc += str(i)               # realloc-style growth
ba = bytearray()
for i in range(200000):
    ba += bytes((i % 251,)) * (i % 7)
out("strings", [len(s) for s in strs] + [hashlib.sha256(s.encode()).hexdigest() for s in strs]
    + [acc[-50:], len(acc), hashlib.sha256(ba).hexdigest()])

# Dicts of many sizes, with churn (insert, delete, reinsert).
dicts = []
for n in [0, 1, 5, 8, 9, 100, 1000, 10000, 100000, 300000]:
    d = {f"k{i}": i * i for i in range(n)}
    for i in range(0, n, 3):
        del d[f"k{i}"]
    for i in range(0, n, 6):
        d[("t", i)] = [i] * (i % 5)
    dicts.append(sorted((repr(k), repr(v)) for k, v in d.items())[:: max(1, n // 50)])
    dicts.append(len(d))
dd = defaultdict(list)
for i in range(200000):
    dd[i % 977].append(i)
c = Counter(rng.randrange(5000) for _ in range(300000))
od = OrderedDict((i, str(i)) for i in range(50000))
for i in range(0, 50000, 2):
    od.move_to_end(i)
out("dicts", [dicts, sorted((k, sum(v)) for k, v in dd.items()), c.most_common(20),
              list(od.items())[:100]])

# Lists, tuples, sets, deques of many sizes.
lists = []
for n in [0, 1, 3, 17, 255, 4096, 65536, 1 << 20]:
    l = list(range(n))
    l2 = [x * 3 % 1001 for x in l]
    l.extend(l2)
    del l[::4]
    lists.append((len(l), sum(l), len(set(l2)), tuple(l[:10])))
nested = [[[j] * (j % 13) for j in range(i % 50)] for i in range(5000)]
dq = deque(maxlen=1000)
for i in range(500000):
    dq.append((i, str(i)))
out("lists", [lists, sum(len(x) for x in nested), list(dq)[:5], list(dq)[-5:]])

# JSON round trips of a nested structure (many small objects).
def make(depth, width):
    if depth == 0:
        return rng.choice([rng.random(), rng.randrange(-10**9, 10**9),
                           "s" * rng.randrange(0, 300), None, True, "\u00e9\u4e2d"])
    if depth % 2:
        return {f"key{i}_{depth}": make(depth - 1, width) for i in range(width)}
    return [make(depth - 1, width) for _ in range(width)]
doc = make(6, 6)
text = json.dumps(doc, sort_keys=True)
for _ in range(4):
    doc2 = json.loads(text)
    text2 = json.dumps(doc2, sort_keys=True, indent=1)
    doc = json.loads(text2)
    assert doc == doc2
out("json", [len(text), hashlib.sha256(text.encode()).hexdigest(),
             hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()])

# Sorting: ints, floats, strings, tuples, with key functions.
ints = [rng.randrange(-10**12, 10**12) for _ in range(100000)]
words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randrange(1, 20)))
         for _ in range(100000)]
recs = [(w, i % 100, -i) for i, w in enumerate(words)]
out("sort", [sorted(ints)[::1000], sorted(words)[::500],
             sorted(recs, key=lambda r: (r[1], r[0]))[::700],
             sorted(words, key=len, reverse=True)[:50]])

# Regexes over a large text.
big = "\n".join(f"user{i}@host{i % 97}.example id={i * 7919 % 100003} " + "x" * (i % 40)
                for i in range(100000))
found = re.findall(r"user(\d+)@host(\d+)\.example id=(\d+)", big)
subbed = re.sub(r"x{10,}", lambda m: str(len(m.group())), big)
out("regex", [len(found), found[::1000], hashlib.sha256(subbed.encode()).hexdigest()])

# Four threads doing allocation work (results collected by index).
def worker(tid, res):
    r = random.Random(tid)
    total = []
    keep = {}
    for it in range(150):
        d = {}
        for j in range(400):
            k = r.randrange(10000)
            d[k] = "v" * r.randrange(0, 200) + str(j)
        l = sorted(d.items())
        s = json.dumps(l)
        keep[it % 17] = s               # frees the previous one
        total.append((len(d), len(s), hashlib.md5(s.encode()).hexdigest()[:8]))
        if it % 10 == 0:
            big = bytearray(r.randrange(1, 4) << 20)  # large blocks
            big[-1] = it % 256
            total.append(sum(big[-1:]))
    res[tid] = total
res = [None] * 4
ths = [threading.Thread(target=worker, args=(t, res)) for t in range(4)]
for t in ths:
    t.start()
for t in ths:
    t.join()
out("threads", res)

# Objects handed between threads (freed by a thread other than the allocator).
import queue
q = queue.Queue(maxsize=64)
got = []
def producer():
    for i in range(40000):
        q.put(["p" * (i % 300), i, {i: str(i)}])
    q.put(None)
def consumer():
    n = 0
    while True:
        x = q.get()
        if x is None:
            break
        n += len(x[0]) + x[1]
    got.append(n)
pt = threading.Thread(target=producer); ct = threading.Thread(target=consumer)
pt.start(); ct.start(); pt.join(); ct.join()
out("handoff", got)

# fork() while two threads are allocating; the child allocates and reports.
stop = threading.Event()
def churn():
    x = []
    while not stop.is_set():
        x.append("c" * 100)
        if len(x) > 1000:
            x = []
bg = [threading.Thread(target=churn) for _ in range(2)]
for t in bg:
    t.start()
fork_results = []
for k in range(3):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        d = {i: "z" * (i % 50) for i in range(20000 + k)}
        os.write(wfd, digest(sorted(d.items())).encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    fork_results.append((data.decode(), status))
stop.set()
for t in bg:
    t.join()
out("fork", fork_results)

# A child interpreter (inherits LD_PRELOAD in the preloaded run).
p = subprocess.run([sys.executable, "-c",
                    "import json; print(len(json.dumps([list(range(i)) for i in range(600)])))"],
                   capture_output=True, text=True)
out("subprocess", [p.returncode, p.stdout])

gc.collect()
print("done", flush=True)
EOF

hz_compare python-workload -- env PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 "$PY" work.py
hz_compare python-stdlib -- env PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 "$PY" -c '
import collections, decimal, fractions, hashlib, itertools, statistics, textwrap, zlib
x = [decimal.Decimal(i) / 7 for i in range(20000)]
f = sum(fractions.Fraction(1, i) for i in range(1, 400))
z = zlib.compress(b"".join(str(i).encode() for i in range(200000)), 9)
print(hashlib.sha256(repr((sum(x), f, len(z), zlib.decompress(z)[-20:],
      statistics.median(range(10001)), textwrap.fill("word " * 5000)[-40:],
      list(itertools.islice(itertools.permutations(range(9)), 1000, 1003)))).encode()).hexdigest())
'
hz_finish

#!/usr/bin/env python3
"""Checks an HZ_STATS=json report against what stats_workload did.

usage: check_stats.py EXPECT.json STATS.json LABEL
Prints one "ok ..." or "FAIL ..." line per check and "RESULT ok|fail"."""
import json
import sys

BOUNDS = [64, 256, 1024, 4096, 16384, 65536, 262144]  # common/hz_stats.h HZ_STAT_BAND_TABLE
# Bands no allocation of libc or the loader reaches in this program: counts
# there are the workload's own, so live must be exact.
EXACT = {16384, 65536, 262144, 0}


def band_of(size):
    for b in BOUNDS:
        if size <= b:
            return b
    return 0  # large (max_size 0)


def main():
    expect = json.load(open(sys.argv[1]))
    text = open(sys.argv[2]).read()
    label = sys.argv[3]
    results = []

    def check(cond, what):
        results.append(cond)
        print(("ok " if cond else "FAIL ") + label + ": " + what)

    try:
        report = json.loads(text)["hakozuna"]
    except Exception as e:  # noqa: BLE001
        print("FAIL %s: the report is not one JSON object (%s): %r" % (label, e, text[:300]))
        print("RESULT fail")
        return
    bands = {b["max_size"]: b for b in report["bands"]}
    check(len(report["bands"]) == 8 and set(bands) == set(BOUNDS) | {0}, "eight bands")
    names = {64: "<= 64 B", 256: "<= 256 B", 1024: "<= 1 KiB", 4096: "<= 4 KiB", 16384: "<= 16 KiB",
             65536: "<= 64 KiB", 262144: "<= 256 KiB", 0: "large"}
    for b in report["bands"]:
        check(b["band"] == names.get(b["max_size"]),
              "band name %r for max_size %d (a label built wrong once printed stack bytes)" % (b["band"], b["max_size"]))
    want = {}
    for i, size in enumerate(expect["sizes"]):
        w = want.setdefault(band_of(size), {"allocs": 0, "frees": 0, "live": 0, "peak": 0})
        for key in ("allocs", "frees", "live"):
            w[key] += expect[key][i]
        w["peak"] = max(w["peak"], expect["peak"][i])
    for key, w in sorted(want.items(), key=lambda kv: kv[0] or 1 << 62):
        b = bands[key]
        name = b["band"]
        check(b["allocs"] >= w["allocs"], "%s: allocs %d >= %d" % (name, b["allocs"], w["allocs"]))
        check(b["frees"] >= w["frees"], "%s: frees %d >= %d" % (name, b["frees"], w["frees"]))
        check(b["allocs"] - b["frees"] == b["live"], "%s: live = allocs - frees" % name)
        if key in EXACT:
            check(b["live"] == w["live"], "%s: live %d == %d (exact)" % (name, b["live"], w["live"]))
            # Sampled at refills and flushes (exact for large blocks): at
            # least half the true peak is seen in these bands.
            check(b["peak_live"] >= w["peak"] // 2, "%s: peak %d >= %d" % (name, b["peak_live"], w["peak"] // 2))
        else:
            check(b["live"] >= w["live"], "%s: live %d >= %d" % (name, b["live"], w["live"]))
        smallest = min(s for s in expect["sizes"] if band_of(s) == key)
        if key in EXACT:
            check(b["live_bytes"] >= b["live"] * smallest,
                  "%s: live bytes %d cover %d blocks of >= %d" % (name, b["live_bytes"], b["live"], smallest))
    large = bands[0]
    check(large["peak_live"] >= want[0]["peak"], "large: peak %d >= %d (exact)" % (large["peak_live"], want[0]["peak"]))
    check(large["live_bytes"] >= (1 << 20) * 2 + (3 << 20), "large: live bytes %d" % large["live_bytes"])
    for b in report["bands"] + [dict(report["total"], band="total")]:
        check(b["peak_live"] >= b["live"] and b["peak_bytes"] >= b["live_bytes"],
              "%s: peak >= live (%d >= %d)" % (b["band"], b["peak_live"], b["live"]))
    total = report["total"]
    check(total["allocs"] == sum(b["allocs"] for b in report["bands"]), "total allocs is the sum of the bands")
    check(report["threads"]["seen"] >= 2, "threads seen %d >= 2" % report["threads"]["seen"])
    mem = report["memory"]
    check(mem["mapped_now"] >= mem["committed_now"] > 0, "mapped now >= committed now > 0")
    check(mem["mapped_total"] >= mem["mapped_now"], "mapped in total >= mapped now")
    check(report["remote_frees"]["received"] <= report["remote_frees"]["sent"], "remote received <= sent")
    check(report["counters"]["os_mapped"] > 0, "counters kept")
    print("RESULT " + ("ok" if all(results) else "fail"))


main()

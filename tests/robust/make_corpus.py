#!/usr/bin/env python3
"""Writes the fuzz corpus seeds (tests/robust/corpus/seed-*) for fuzz_alloc.c.

Each seed is a small hand-written program in fuzz_alloc's input encoding, so
the fuzzer starts from inputs that already reach every operation and size
band. Rerun after changing the encoding:  python3 tests/robust/make_corpus.py

Encoding (fuzz_alloc.c, run_op): one opcode byte (code % 20), then:
  0-2 malloc      slot size          11 cross-thread free   slot
  3   calloc      slot size n        12 helper malloc       slot size
  4-5 realloc     slot size          13 helper exit         gate (<64 exits)
  6   realloc(p,0) slot              14 malloc_trim         gate (<32 trims)
  7-8 free        slot               15 must-fail call      which [slot]
  9   free_sized  slot               16 posix_memalign      slot lg size
  10  usable size slot               17 aligned_alloc       slot lg size
                                     18 memalign            slot lg size [odd]
                                     19 valloc/pvalloc      slot lg size pick
size = 3 bytes: selector, value (u16 little endian); see size_in().
"""
import os
import struct
import sys

MALLOC, CALLOC, REALLOC, REALLOC0, FREE, FREE_SIZED, USABLE = 0, 3, 4, 6, 7, 9, 10
XFREE, HMALLOC, HEXIT, TRIM, MUSTFAIL = 11, 12, 13, 14, 15
POSIX_MEMALIGN, ALIGNED_ALLOC, MEMALIGN, VPVALLOC = 16, 17, 18, 19
K = 1024
M = 1024 * 1024


def size(n):
    """Encodes a size; picks the nearest representable value."""
    if n < 256:
        return bytes([0x00]) + struct.pack("<H", n)
    if n < 4096:
        return bytes([0x50]) + struct.pack("<H", n)
    if n <= 5 * 65535 and n < 256 * K:
        return bytes([0xA0]) + struct.pack("<H", n // 5)
    if n < 4 * M - 64 * K:
        return bytes([0xE0]) + struct.pack("<H", min(65535, max(0, (n - 256 * K) // 28)))
    return bytes([0xFC]) + struct.pack("<H", min(65535, (n - (4 * M - 64 * K)) // 32))


def op(code, *parts):
    out = bytes([code])
    for p in parts:
        out += p if isinstance(p, bytes) else bytes([p])
    return out


def malloc(slot, n):
    return op(MALLOC, slot, size(n))


def seeds():
    s = {}
    bands = [0, 1, 15, 16, 17, 48, 256, 1000, 2048, 4096, 5000, 65536, 200 * K,
             256 * K, 256 * K + 16, 1 * M, 4 * M + 4 * K]
    s["bands"] = b"".join(malloc(i, n) for i, n in enumerate(bands)) + \
        b"".join(op(USABLE, i) + op(FREE, i) for i in range(len(bands)))
    # realloc growth chain through every band, then shrink back
    chain = [16, 100, 1000, 5000, 70000, 300 * K, 2 * M, 5 * M, 1 * M, 200 * K, 3000, 24]
    s["realloc-chain"] = malloc(0, 8) + b"".join(op(REALLOC, 0, size(n)) for n in chain) + \
        op(REALLOC0, 0) + op(REALLOC, 1, size(64))
    s["calloc"] = b"".join(op(CALLOC, i, size(n), 1 + i % 4)
                           for i, n in enumerate([0, 24, 4000, 100000, 600 * K, 5 * M]))
    al = b""
    for i, lg in enumerate([0, 3, 4, 5, 6, 8, 12, 13, 16, 17, 21, 22]):
        al += op(POSIX_MEMALIGN, i, lg, size(100 + i * 300))
        al += op(ALIGNED_ALLOC, 16 + i, lg, size(1 << lg if lg < 20 else 100))
        al += op(MEMALIGN, 32 + i, lg, size(70000 + i), 1)
    al += op(VPVALLOC, 50, 0, size(5000), 1) + op(VPVALLOC, 51, 0, size(0), 0)
    s["aligned"] = al + b"".join(op(FREE_SIZED, i) for i in range(52))
    # cross-thread traffic: helper frees ours, we free the helper's, helper exits
    x = b""
    for i in range(40):
        x += malloc(i, [24, 512, 3000, 70000, 400 * K][i % 5])
    for i in range(0, 40, 2):
        x += op(XFREE, i)
    for i in range(40, 60):
        x += op(HMALLOC, i, size([32, 700, 9000, 300 * K][i % 4]))
    x += op(HEXIT, 0)
    for i in range(40, 60):
        x += op(FREE, i)
    x += op(TRIM, 0)
    s["cross-thread"] = x
    # cache overflow: many frees of one class, then reuse
    c = b"".join(malloc(i, 48) for i in range(64)) + b"".join(op(FREE, i) for i in range(64))
    c += b"".join(malloc(i, 48) for i in range(64)) + op(TRIM, 0)
    s["one-class"] = c
    s["must-fail"] = b"".join(op(MUSTFAIL, w, 0) for w in range(8)) + malloc(0, 100) + \
        op(MUSTFAIL, 4, 0) + op(MUSTFAIL, 5, 0)
    return s


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
        print(f"corpus/seed-{name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

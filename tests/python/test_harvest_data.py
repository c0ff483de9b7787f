#!/usr/bin/python3
"""`crosstrace harvest --data DIR --out STORE/` killed for real, then resumed.

Usage (as ctest runs it):
    /usr/bin/python3 tests/python/test_harvest_data.py --binary B --fixtures DIR --source SRC --tmp TMP

1. A dataset of many small PNGs (PIL) with one prompt for all is harvested from the llava_hf
   fixture in one uninterrupted run: the reference store.
2. The same harvest is killed with SIGKILL while it runs (once store.json lists a few inputs).
   What it leaves must be a valid store: store.json parses, lists a prefix of the inputs with
   contiguous row ranges, and every shard it lists exists with the listed size and zlib CRC-32
   (computed here). A rerun of the same command exits 0 and the store's files (dot-named temporary
   files a kill can leave aside) equal the reference byte for byte.
3. The same with SIGINT: the run stops after the input in flight with exit status 130 and a message;
   the rerun completes it, equal to the reference.
4. Compaction (--compact-inputs 8, every run here): SIGKILL again and again, each time just as
   store.json lists a multiple of 8 inputs (the flush that closes a group, right before or during
   its merge) plus a random few milliseconds. After every kill the store must be valid as in 2
   (files it does not list, merge leftovers included, are allowed); the last rerun must equal the
   reference byte for byte, with no leftover file at all.
One line per check; exit status 1 on any failure.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib

import numpy as np
from PIL import Image

FAILURES = []
HOOKS = "lm.layers.0.output,lm.layers.1.output"
N_IMAGES = 160
GROUP = 8  # --compact-inputs


def check(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else " (" + detail.strip()[-300:] + ")"))
    if not ok:
        FAILURES.append(what)


def store_files(store):
    """name -> bytes of the store's files, leaving out dot-named temporaries."""
    out = {}
    for name in sorted(os.listdir(store)):
        if not name.startswith("."):
            with open(os.path.join(store, name), "rb") as f:
                out[name] = f.read()
    return out


def read_manifest(store):
    try:
        with open(os.path.join(store, "store.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def check_valid_prefix(store, reference, label):
    """The store a kill left: valid, and a prefix of the reference's inputs."""
    m = read_manifest(store)
    check(m is not None, label + ": store.json parses after the kill")
    if m is None:
        return 0
    ref = read_manifest(reference)
    k = len(m.get("inputs", []))
    check(0 < k < N_IMAGES, label + ": the kill landed mid-run (%d of %d inputs listed)" % (k, N_IMAGES))
    check(m["inputs"] == ref["inputs"][:k], label + ": the listed inputs are the reference's first %d" % k)
    check(m["rows"] == sum(i["rows"] for i in m["inputs"]), label + ": rows = the listed inputs' rows")
    shards = [s for h in m["hooks"] for s in h["shards"]] + m["input_ids"]["shards"]
    bad = []
    for s in shards:
        path = os.path.join(store, s["file"])
        data = open(path, "rb").read() if os.path.exists(path) else None
        if data is None or len(data) != s["bytes"] or "%08x" % zlib.crc32(data) != s["crc32"]:
            bad.append(s["file"])
    check(not bad, label + ": every listed shard exists with its size and crc32 (bad: %s)" % bad[:3])
    return k


def harvest_args(binary, fixtures, data, store):
    return [binary, "harvest", os.path.join(fixtures, "llava_hf"), "--hooks", HOOKS, "--data", data,
            "--out", store, "--threads", "1", "--compact-inputs", str(GROUP)]


def run_and_stop(args, store, sig, at=3, delay=0.0):
    """Starts the harvest, waits until store.json lists `at` inputs (and `delay` seconds more), sends
    `sig`; returns (rc, stderr)."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline:
        m = read_manifest(store)
        if m is not None and len(m.get("inputs", [])) >= at:
            time.sleep(delay)
            p.send_signal(sig)
            break
        time.sleep(0.0005)
    _, err = p.communicate(timeout=120)
    return p.returncode, err


def unlisted_files(store):
    """The store's files that store.json does not list (leftovers of a kill)."""
    m = read_manifest(store)
    listed = {"store.json"}
    for s in [s for h in m["hooks"] for s in h["shards"]] + m["input_ids"]["shards"]:
        listed.add(s["file"])
    return sorted(set(os.listdir(store)) - listed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.tmp, ignore_errors=True)
    os.makedirs(a.tmp)
    data = os.path.join(a.tmp, "data")
    os.makedirs(data)
    rng = np.random.RandomState(7)
    for i in range(N_IMAGES):
        Image.fromarray(rng.randint(0, 256, size=(96 + i % 5, 128, 3), dtype=np.uint8)).save(
            os.path.join(data, "im%03d.png" % i))
    with open(os.path.join(data, "prompts.txt"), "w") as f:
        f.write("what is in this picture?\n")

    reference = os.path.join(a.tmp, "reference")
    r = subprocess.run(harvest_args(a.binary, a.fixtures, data, reference), capture_output=True, text=True)
    check(r.returncode == 0, "uninterrupted harvest exits 0", r.stderr)
    ref_manifest = read_manifest(reference)
    check(ref_manifest is not None and len(ref_manifest["inputs"]) == N_IMAGES and ref_manifest["complete"],
          "the reference store lists all %d inputs and is complete" % N_IMAGES)
    check("ETA" in r.stderr, "progress with an ETA on stderr")
    want = store_files(reference)

    for label, sig, want_rc in (("SIGKILL", signal.SIGKILL, -signal.SIGKILL), ("SIGINT", signal.SIGINT, 130)):
        store = os.path.join(a.tmp, "store_" + label)
        rc, err = run_and_stop(harvest_args(a.binary, a.fixtures, data, store), store, sig)
        check(rc == want_rc, "%s: exit status %s (want %s)" % (label, rc, want_rc), err)
        if sig == signal.SIGINT:
            check("interrupted" in err and "rerun" in err, "SIGINT: stderr says it was interrupted and how to continue")
            check(read_manifest(store) is not None and not read_manifest(store)["complete"],
                  "SIGINT: the store is left marked incomplete")
        k = check_valid_prefix(store, reference, label)
        r = subprocess.run(harvest_args(a.binary, a.fixtures, data, store) + ["--json"], capture_output=True, text=True)
        check(r.returncode == 0, "%s: the rerun exits 0" % label, r.stderr)
        if r.returncode == 0:
            doc = json.loads(r.stdout)
            check(doc["inputs_skipped"] == k and doc["inputs_added"] == N_IMAGES - k,
                  "%s: the rerun skips the %d listed inputs and adds the rest" % (label, k))
        got = store_files(store)
        check(got == want, "%s: the resumed store equals the uninterrupted one byte for byte (%d files)" % (label, len(want)))

    # 4. Repeated kills at group boundaries.
    store = os.path.join(a.tmp, "store_kills")
    rnd = random.Random(11)
    kills = with_leftovers = 0
    for at in range(GROUP, N_IMAGES, 3 * GROUP):
        rc, err = run_and_stop(harvest_args(a.binary, a.fixtures, data, store), store, signal.SIGKILL, at,
                               rnd.uniform(0.0, 0.004))
        if rc != -signal.SIGKILL:
            check(rc == 0, "kill at %d inputs: the run ended by itself with exit 0" % at, err)
            break
        kills += 1
        m = read_manifest(store)
        ok = m is not None and m["inputs"] == ref_manifest["inputs"][:len(m["inputs"])]
        check(ok, "kill at %d inputs: store.json parses and lists a prefix of the inputs" % at)
        if not ok:
            break
        bad = []
        for s in [s for h in m["hooks"] for s in h["shards"]] + m["input_ids"]["shards"]:
            path = os.path.join(store, s["file"])
            data_bytes = open(path, "rb").read() if os.path.exists(path) else None
            if data_bytes is None or len(data_bytes) != s["bytes"] or "%08x" % zlib.crc32(data_bytes) != s["crc32"]:
                bad.append(s["file"])
        check(not bad, "kill at %d inputs (%d listed, %d shards per hook): every listed shard is intact (bad: %s)"
              % (at, len(m["inputs"]), len(m["hooks"][0]["shards"]), bad[:3]))
        with_leftovers += 1 if unlisted_files(store) else 0
    print("info %d kills, %d of them left unlisted files behind" % (kills, with_leftovers))
    check(kills >= 3, "several kills landed mid-run (%d)" % kills)
    r = subprocess.run(harvest_args(a.binary, a.fixtures, data, store), capture_output=True, text=True)
    check(r.returncode == 0, "after the kills: the rerun exits 0", r.stderr)
    m = read_manifest(store)
    check(len(m["hooks"][0]["shards"]) == (N_IMAGES + GROUP - 1) // GROUP,
          "after the kills: %d inputs in %d shards per hook (groups of %d)" % (N_IMAGES, len(m["hooks"][0]["shards"]), GROUP))
    check(unlisted_files(store) == [], "after the kills: no leftover file (%s)" % unlisted_files(store)[:3])
    check(sorted(os.listdir(store)) == sorted(want) and store_files(store) == want,
          "after the kills: the store equals the uninterrupted one byte for byte")

    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()

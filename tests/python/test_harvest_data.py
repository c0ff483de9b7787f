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
One line per check; exit status 1 on any failure.
"""

import argparse
import json
import os
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
            "--out", store, "--threads", "1"]


def run_and_stop(args, store, sig):
    """Starts the harvest, waits until store.json lists 3 inputs, sends `sig`; returns (rc, stderr)."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline:
        m = read_manifest(store)
        if m is not None and len(m.get("inputs", [])) >= 3:
            p.send_signal(sig)
            break
        time.sleep(0.002)
    _, err = p.communicate(timeout=120)
    return p.returncode, err


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

    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()

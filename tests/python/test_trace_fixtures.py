#!/usr/bin/python3
"""`crosstrace trace --json` on the fixtures whose lineage tools/make_fixtures.py builds in on purpose.

Usage (as ctest runs it, after tools/make_fixtures.py):
    /usr/bin/python3 tests/python/test_trace_fixtures.py --binary B --fixtures DIR --source SRC --tmp TMP

Ground truth (planted by the fixture generator, not derived from crosstrace):
- llava_hf vs clip_vision: vision towers identical -> dependent; nothing else comparable.
- llava_hf vs llama: language model identical -> dependent.
- llava_hf, clip_vision, llama together: 3 pairs, clip_vision vs llama has no comparable component.
- llava_hf vs llava_hf_sharded_bf16: every component dependent.
- llava_hf vs llava_hf_newkeys: different random weights -> independent everywhere.
- llama vs tools/camouflage_llama.py's copy (residual + hidden permutations, signed per-unit
  rescaling; the tool checks logits within 1e-4): dependent.
- mplug_finetuned vs bert: text encoder dependent (skipped while `inspect` cannot read .pth/.bin).
Every document is validated against CONTRACTS.md section 5. One line per check; exit 1 on failure.
"""

import argparse
import json
import math
import os
import subprocess
import sys

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def is_log10(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v <= 0


def validate(doc, n_models, label):
    """CONTRACTS.md section 5."""
    check(isinstance(doc.get("models"), list) and len(doc["models"]) == n_models, f"{label}: models[{n_models}]")
    for m in doc["models"]:
        check(isinstance(m.get("path"), str) and isinstance(m.get("family"), str), f"{label}: model path/family")
    pairs = doc.get("pairs")
    check(isinstance(pairs, list) and len(pairs) == n_models * (n_models - 1) // 2, f"{label}: one entry per pair")
    for p in pairs:
        check(isinstance(p["a"], int) and isinstance(p["b"], int) and 0 <= p["a"] < p["b"] < n_models, f"{label}: pair indices")
        check(p["verdict"] in ("dependent", "independent", "inconclusive"), f"{label}: pair verdict")
        check(p["log10_p"] is None or is_log10(p["log10_p"]), f"{label}: pair log10_p")
        check(isinstance(p["tests"], dict), f"{label}: tests is an object")
        for name, t in p["tests"].items():
            check(t["log10_p"] is None or is_log10(t["log10_p"]), f"{label}: tests.{name}.log10_p")
            check(isinstance(t["per_block"], list) and all(v is None or is_log10(v) for v in t["per_block"]),
                  f"{label}: tests.{name}.per_block")
        for c in p["components"]:
            check(isinstance(c["a"], str) and isinstance(c["b"], str), f"{label}: component names")
            check(c["verdict"] in ("dependent", "independent", "inconclusive"), f"{label}: component verdict")
            check(c["log10_p"] is None or is_log10(c["log10_p"]), f"{label}: component log10_p")
            ok = all(isinstance(e, list) and len(e) == 3 and isinstance(e[0], int) and isinstance(e[1], int)
                     and is_log10(e[2]) for e in c["block_map"])
            check(ok, f"{label}: block_map entries [i_a, i_b, log10_p]")


def run(binary, models, label, extra=()):
    r = subprocess.run([binary, "trace", *models, "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(r.returncode == 0, f"{label}: exit 0 (stderr: {r.stderr.decode()[-200:].strip()})")
    if r.returncode != 0:
        return None
    doc = json.loads(r.stdout)
    validate(doc, len(models), label)
    return doc


def components(pair):
    return {(c["a"], c["b"]): c for c in pair["components"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    if not os.path.exists(a.binary) or not os.path.isdir(a.fixtures):
        print("missing binary or fixtures", file=sys.stderr)
        return 2
    os.makedirs(a.tmp, exist_ok=True)
    fx = lambda n: os.path.join(a.fixtures, n)
    dep, ind = -6.0, -2.0

    doc = run(a.binary, [fx("llava_hf"), fx("clip_vision")], "llava_hf~clip_vision")
    if doc:
        p = doc["pairs"][0]
        c = components(p)
        check(list(c) == [("vision_encoder", "vision_encoder")], "llava_hf~clip_vision: only the vision towers compared")
        v = c.get(("vision_encoder", "vision_encoder"))
        check(v and v["verdict"] == "dependent" and v["log10_p"] < dep, "llava_hf~clip_vision: vision tower dependent")
        check(v and [e[:2] for e in v["block_map"]] == [[0, 0], [1, 1]], "llava_hf~clip_vision: block map 0->0, 1->1")
        check(p["verdict"] == "dependent", "llava_hf~clip_vision: pair dependent")
        check("phi_match" in p["tests"] and len(p["tests"]["phi_match"]["per_block"]) == 2, "llava_hf~clip_vision: phi_match per block")

    doc = run(a.binary, [fx("llava_hf"), fx("llama")], "llava_hf~llama")
    if doc:
        p = doc["pairs"][0]
        c = components(p)
        check(list(c) == [("language_model", "language_model")], "llava_hf~llama: only the language models compared")
        lm = c.get(("language_model", "language_model"))
        check(lm and lm["verdict"] == "dependent" and lm["log10_p"] < dep, "llava_hf~llama: language model dependent")
        check(p["verdict"] == "dependent", "llava_hf~llama: pair dependent")

    doc = run(a.binary, [fx("llava_hf"), fx("clip_vision"), fx("llama")], "matrix")
    if doc:
        verdicts = {(p["a"], p["b"]): p["verdict"] for p in doc["pairs"]}
        check(verdicts == {(0, 1): "dependent", (0, 2): "dependent", (1, 2): "inconclusive"},
              f"matrix: verdicts {verdicts}")
        p12 = [p for p in doc["pairs"] if (p["a"], p["b"]) == (1, 2)][0]
        check(p12["components"] == [] and p12["log10_p"] is None and p12["notes"], "matrix: clip_vision~llama has a note, no test")
        m = doc.get("verdict_matrix")
        check(m and m[0][1] == m[1][0] == "dependent" and m[1][2] == "inconclusive" and m[0][0] is None, "matrix: verdict_matrix")

    doc = run(a.binary, [fx("llava_hf"), fx("llava_hf_sharded_bf16")], "llava_hf~bf16")
    if doc:
        p = doc["pairs"][0]
        c = components(p)
        check(set(c) == {("vision_encoder", "vision_encoder"), ("language_model", "language_model")}, "llava_hf~bf16: both towers compared")
        check(all(x["verdict"] == "dependent" for x in c.values()), "llava_hf~bf16: dependent everywhere")

    doc = run(a.binary, [fx("llava_hf"), fx("llava_hf_newkeys")], "llava_hf~newkeys")
    if doc:
        p = doc["pairs"][0]
        c = components(p)
        check(len(c) == 2 and all(x["verdict"] == "independent" and x["log10_p"] > ind for x in c.values()),
              "llava_hf~newkeys: independent everywhere " + str({k[0]: x["log10_p"] for k, x in c.items()}))
        check(all(x["block_map"] == [] for x in c.values()), "llava_hf~newkeys: no block matched")
        check(p["verdict"] == "independent", "llava_hf~newkeys: pair independent")

    # Camouflage: the tool exits 1 when the logits moved by more than 1e-4.
    cam = os.path.join(a.tmp, "llama_camouflaged")
    r = subprocess.run(["/usr/bin/python3", os.path.join(a.source, "tools", "camouflage_llama.py"),
                        "--model", fx("llama"), "--out", cam], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    print(r.stdout.decode().strip())
    check(r.returncode == 0, "camouflage: logits preserved within 1e-4")
    doc = run(a.binary, [fx("llama"), cam], "llama~camouflaged")
    if doc:
        p = doc["pairs"][0]
        lm = components(p).get(("language_model", "language_model"))
        check(lm and lm["verdict"] == "dependent", "llama~camouflaged: language model still dependent")
        check(lm and lm["residual_alignment"] == "permuted", "llama~camouflaged: residual permutation found")
        check(lm and lm["tests"]["phi_match"]["log10_p"] < dep, "llama~camouflaged: phi_match detects")

    # Thread count and determinism.
    d1 = run(a.binary, [fx("llava_hf"), fx("llama")], "threads1", ("--threads", "1", "--seed", "5"))
    d2 = run(a.binary, [fx("llava_hf"), fx("llama")], "threads2", ("--threads", "2", "--seed", "5"))
    check(d1 is not None and d1 == d2, "same seed, 1 vs 2 threads: identical documents")

    # mPLUG vs bert needs the PyTorch reader.
    probe = subprocess.run([a.binary, "inspect", fx("mplug_finetuned"), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    probe_b = subprocess.run([a.binary, "inspect", fx("bert"), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if probe.returncode != 0 or probe_b.returncode != 0:
        print("skip mplug~bert: `inspect` cannot read the .pth/.bin fixtures yet ("
              + (probe.stderr or probe_b.stderr).decode().strip() + ")")
    else:
        doc = run(a.binary, [fx("mplug_finetuned"), fx("bert")], "mplug~bert")
        if doc:
            c = components(doc["pairs"][0])
            te = c.get(("text_encoder", "text_encoder"))
            check(te and te["verdict"] == "dependent", "mplug~bert: text encoder dependent")
            check(te and [e[:2] for e in te["block_map"]] == [[0, 0], [1, 1]], "mplug~bert: mPLUG text layers 0,1 -> bert 0,1")
            others = [x for k, x in c.items() if k != ("text_encoder", "text_encoder")]
            check(all(x["verdict"] != "dependent" for x in others), "mplug~bert: fusion and decoder not dependent")

    # Bad input: exit 2 with one line.
    for args, label in (([fx("llama")], "one model"), ([fx("llama"), os.path.join(a.tmp, "missing")], "missing model")):
        r = subprocess.run([a.binary, "trace", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = r.stderr.decode().strip()
        check(r.returncode == 2 and err.count("\n") == 0 and err, f"bad input ({label}): exit 2, one line: {err}")

    print(f"{len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Camouflage acceptance (specs/model-tracing.md 5.3 and 12 D12-D13): every output-preserving
transform of tools/camouflage_llama.py (T1 residual permutation, T2 unit permutations, T5 norm
folding with arbitrary varied gains, T6 with c > 0 and c < 0, per-unit signed rescaling), each alone
and all together, applied to a fine-tune-like perturbation (weights + 10 % noise) of
- a realistic-width LLaMA written by the tool (d 512, FFN 1376, 4 layers, vocab 1024), and
- the tiny `llama` fixture.
For each copy the tool's own plain-torch forward must give the fine-tune's logits within 1e-4
relative, and `crosstrace trace original copy --json` must call the language model dependent:
log10 p < -10 at the realistic width, the dependent verdict (< -6) at the fixture's toy width.
Ground truth is planted here (the copies are derived from the original by construction).

Usage (as ctest runs it): /usr/bin/python3 tests/python/test_camouflage.py --binary B --fixtures DIR
    --source SRC --tmp TMP
One line per check; exit 1 on any failure.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def load_tool(source):
    spec = importlib.util.spec_from_file_location("camouflage_llama", os.path.join(source, "tools", "camouflage_llama.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def trace(binary, a, b):
    r = subprocess.run([binary, "trace", a, b, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return None, r.stderr.decode()[-200:]
    doc = json.loads(r.stdout)
    lm = [c for c in doc["pairs"][0]["components"] if c["a"] == "language_model" and c["b"] == "language_model"]
    return (lm[0] if lm else None), ""


def run_suite(tool, binary, base_dir, work, label, seed, bound):
    with open(os.path.join(base_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    layers = cfg["num_hidden_layers"]
    base = tool.read_safetensors(os.path.join(base_dir, "model.safetensors"))
    ft = tool.finetune(base, 0.1, np.random.RandomState(seed))
    ids = torch.from_numpy(np.random.RandomState(seed + 1).randint(0, cfg["vocab_size"], size=48))
    with torch.no_grad():
        ref = tool.forward(ft, cfg, ids)
    variants = [(t,) for t in tool.ALL_TRANSFORMS] + [tool.ALL_TRANSFORMS]
    for k, transforms in enumerate(variants):
        name = "all" if len(transforms) > 1 else transforms[0]
        cam = tool.camouflage(ft, layers, np.random.RandomState(seed + 10 + k), transforms)
        with torch.no_grad():
            out = tool.forward(cam, cfg, ids)
        rel = float((out - ref).abs().max()) / float(ref.abs().max())
        moved = max(float(np.abs(cam[n] - ft[n]).max()) for n in ft)
        check(rel <= 1e-4 and moved > 0.01, f"{label} {name}: logits within 1e-4 relative ({rel:.2e}), weights moved {moved:.3f}")
        d = os.path.join(work, f"{label}_{name}")
        os.makedirs(d, exist_ok=True)
        tool.write_safetensors(os.path.join(d, "model.safetensors"), cam)
        shutil.copy(os.path.join(base_dir, "config.json"), os.path.join(d, "config.json"))
        lm, err = trace(binary, base_dir, d)
        if lm is None:
            check(False, f"{label} {name}: trace ran and compared the language models {err}")
            continue
        tests = {t: round(v["log10_p"], 1) for t, v in lm["tests"].items()} if isinstance(lm["tests"], dict) else \
            {t["name"]: round(t["log10_p"], 1) for t in lm["tests"]}
        check(lm["verdict"] == "dependent" and lm["log10_p"] < bound,
              f"{label} {name}: dependent, log10 p {lm['log10_p']:.1f} < {bound} (tests {tests}, residual {lm['residual_alignment']})")
        shutil.rmtree(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    tool = load_tool(a.source)
    shutil.rmtree(a.tmp, ignore_errors=True)
    os.makedirs(a.tmp)
    wide = os.path.join(a.tmp, "wide_base")
    tool.make_base(wide, 512, 1376, 4, 8, 1024, np.random.RandomState(3))
    run_suite(tool, a.binary, wide, a.tmp, "d512", 100, -10.0)
    run_suite(tool, a.binary, os.path.join(a.fixtures, "llama"), a.tmp, "fixture", 200, -6.0)
    shutil.rmtree(a.tmp, ignore_errors=True)
    print(f"{len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())

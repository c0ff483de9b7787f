#!/usr/bin/python3
"""End-to-end check of `crosstrace crosscoder` against independent numpy computations.

Usage (as ctest runs it):
    /usr/bin/python3 tests/python/test_crosscoder_cli.py --binary B --fixtures DIR --source SRC --tmp TMP

1. `crosscoder planted` writes a planted paired dataset (A.npy, B.npy, concepts_*.npy, truth.json).
2. `crosscoder train` on it; `crosscoder analyze --json --source ...`.
3. Each planted concept is matched here, with numpy, to the latent whose decoder (read from
   crosscoder.safetensors by the small safetensors parser below, not by crosstrace) has the highest
   cosine with it; the bin analyze reports for that latent must be the concept's kind (shared /
   A-only / B-only) for >= 70% of the shared and >= 75% of the exclusive concepts (CI-scale floors:
   2,500 steps x 512 rows leave ~10% of latents dead and reach ~0.75; see planted_test.cpp), and analyze's r
   must equal r computed here from the decoder norms.
4. `crosscoder export --format dictionary_learning`: names and shapes as documented, and the
   weights equal the checkpoint's weights with the norm scales folded in, computed here.
5. An SAE (one source) is trained and exported to SAELens; cfg.json and tensor shapes are checked,
   and encoding held-out rows here with JumpReLU (pre = x W_enc + b_enc, keep pre > threshold) gives
   a mean L0 within 25% of k and reconstructs the rows with FVE >= 0.8.
One line per check; exit status 1 on any failure.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}
FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def read_safetensors(path):
    """Minimal safetensors reader: u64 header length, JSON header, little-endian data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(blob[base + b:base + e], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"])
    return out


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--fixtures")
    ap.add_argument("--source")
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    tmp = os.path.join(a.tmp, str(os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    data, out = os.path.join(tmp, "data"), os.path.join(tmp, "cc")

    r = run(a.binary, "crosscoder", "planted", "--out", data, "--rows", "400000", "--concepts", "64", "--dim", "16",
            "--seed", "5", "--k-true", "3", "--exclusive-frac", "0.0625")
    check(r.returncode == 0, "planted exit 0")
    truth = json.load(open(os.path.join(data, "truth.json")))
    src = ["--source", "A=" + os.path.join(data, "A.npy"), "--source", "B=" + os.path.join(data, "B.npy")]
    r = run(a.binary, "crosscoder", "train", *src, "--out", out, "--dict-size", "64", "--k", "3", "--k-init", "12",
            "--steps", "2500", "--batch-size", "512", "--lr", "0.01", "--seed", "1", "--threads", "1", "--json")
    check(r.returncode == 0, "train exit 0")
    r = run(a.binary, "crosscoder", "analyze", out, *src, "--rows", "50000", "--json")
    check(r.returncode == 0, "analyze exit 0")
    an = json.loads(r.stdout)
    print("analyze: fve %s, l0 %s, dead %.3f, bins %s" % (an["fve"], an["l0"], an["dead_fraction"], an["bin_counts"]))
    check(min(an["fve"].values()) >= 0.85, "FVE per source >= 0.85")
    check(len(an["latents"]) == 64 and all("top" in l for l in an["latents"]), "per-latent entries with top rows")
    check("latent_scaling" in an, "latent scaling present")

    w = read_safetensors(os.path.join(out, "crosscoder.safetensors"))
    dec_a, dec_b = w["decoder.0.weight"].astype(np.float64), w["decoder.1.weight"].astype(np.float64)
    na, nb = np.linalg.norm(dec_a, axis=1), np.linalg.norm(dec_b, axis=1)
    r_here = nb / (na + nb)
    r_cli = np.array([l["r"] for l in an["latents"]])
    check(np.allclose(r_here, r_cli, atol=1e-6), "analyze r equals |d_B| / (|d_A| + |d_B|) from the file")
    ca = np.load(os.path.join(data, "concepts_A.npy")).astype(np.float64)
    cb = np.load(os.path.join(data, "concepts_B.npy")).astype(np.float64)
    cos_a = (ca @ dec_a.T) / np.outer(np.linalg.norm(ca, axis=1), na + 1e-30)
    cos_b = (cb @ dec_b.T) / np.outer(np.linalg.norm(cb, axis=1), nb + 1e-30)
    right = {"shared": [0, 0], "A-only": [0, 0], "B-only": [0, 0]}
    for i, kind in enumerate(truth["kind"]):
        score = np.minimum(cos_a[i], cos_b[i]) if kind == "shared" else (cos_a[i] if kind == "A-only" else cos_b[i])
        j = int(np.argmax(score))
        right[kind][1] += 1
        right[kind][0] += int(score[j] > 0.8 and an["latents"][j]["bin"] == kind)
    print("recovered and binned:", right)
    check(right["shared"][0] >= 0.7 * right["shared"][1], "shared concepts recovered and binned shared (>= 70%)")
    for kind in ("A-only", "B-only"):
        check(right[kind][0] >= 0.75 * right[kind][1], kind + " concepts recovered and binned (>= 75%)")

    # dictionary_learning export.
    dl = os.path.join(tmp, "dl")
    r = run(a.binary, "crosscoder", "export", out, "--format", "dictionary_learning", "--out", dl)
    check(r.returncode == 0, "export dictionary_learning exit 0")
    e = read_safetensors(os.path.join(dl, "model.safetensors"))
    cfg = json.load(open(os.path.join(out, "cfg.json")))
    s = [src_["norm_scale"] for src_ in cfg["sources"]]
    check(sorted(e) == ["decoder.bias", "decoder.weight", "encoder.bias", "encoder.weight", "k", "threshold"],
          "dictionary_learning tensor names")
    check(e["encoder.weight"].shape == (2, 16, 64) and e["decoder.weight"].shape == (2, 64, 16)
          and e["decoder.bias"].shape == (2, 16) and e["encoder.bias"].shape == (64,), "dictionary_learning shapes")
    ok = True
    for m in range(2):
        ok &= np.allclose(e["encoder.weight"][m], w["encoder.%d.weight" % m] * s[m], rtol=1e-6, atol=1e-7)
        ok &= np.allclose(e["decoder.weight"][m], w["decoder.%d.weight" % m] / s[m], rtol=1e-6, atol=1e-7)
        ok &= np.allclose(e["decoder.bias"][m], w["decoder.%d.bias" % m] / s[m], rtol=1e-6, atol=1e-7)
    check(ok, "dictionary_learning weights are the checkpoint's with norm scales folded")
    check(int(e["k"]) == 3, "dictionary_learning k")

    # SAE (one source) -> SAELens.
    sae = os.path.join(tmp, "sae")
    r = run(a.binary, "crosscoder", "train", "--source", "A=" + os.path.join(data, "A.npy"), "--out", sae,
            "--dict-size", "64", "--k", "3", "--k-init", "12", "--steps", "2500", "--batch-size", "512", "--lr", "0.01",
            "--seed", "2", "--threads", "1")
    check(r.returncode == 0, "SAE train exit 0")
    sl = os.path.join(tmp, "saelens")
    r = run(a.binary, "crosscoder", "export", sae, "--format", "saelens", "--out", sl)
    check(r.returncode == 0, "export saelens exit 0")
    scfg = json.load(open(os.path.join(sl, "cfg.json")))
    t = read_safetensors(os.path.join(sl, "sae_weights.safetensors"))
    check(scfg["architecture"] == "jumprelu" and scfg["d_in"] == 16 and scfg["d_sae"] == 64, "SAELens cfg.json")
    check(sorted(t) == ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"], "SAELens tensor names")
    check(t["W_enc"].shape == (16, 64) and t["W_dec"].shape == (64, 16) and t["threshold"].shape == (64,),
          "SAELens shapes")
    x = np.load(os.path.join(data, "A.npy"))[300000:320000].astype(np.float64)
    pre = x @ t["W_enc"] + t["b_enc"]
    f = np.where(pre > t["threshold"], pre, 0.0)
    xh = f @ t["W_dec"] + t["b_dec"]
    l0 = float((f > 0).sum(axis=1).mean())
    fve = 1 - ((x - xh) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    print("SAELens JumpReLU in numpy: L0 %.3f, FVE %.4f" % (l0, fve))
    check(abs(l0 - 3) <= 0.25 * 3, "JumpReLU L0 within 25% of k")
    check(fve >= 0.8, "JumpReLU FVE >= 0.8 on raw rows")

    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

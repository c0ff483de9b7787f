#!/usr/bin/python3
"""Checks `crosstrace inspect MODEL --json` parameter accounting against an independent Python count.

Usage (as ctest runs it, after tools/make_fixtures.py):
    /usr/bin/python3 tests/python/test_inspect_counts.py --binary B --fixtures DIR --source SRC --tmp TMP
    /usr/bin/python3 tests/python/test_inspect_counts.py --fixtures DIR --python-only   # table only

For every fixture listed in DIR/manifest.json this script loads the tensors itself (safetensors
headers parsed with json, shard indexes resolved, .bin/.pth through torch.load with the state dict
found under model/module/state_dict), assigns each tensor to a component with its own copy of the
component rules (CONTRACTS.md `inspect --json`; the rules are restated in bucket_* below), then runs
`B inspect PATH --json` (PATH = the fixture directory; for mPLUG also the single .pth file, the .pth
alone in TMP without config files, and a copy whose config_bert.json says fusion_layers 2) and checks:
exit status 0, format, family, total_parameters, tensor_count, dtypes (parameters per dtype over all
tensors), the set of non-empty component names, each component's parameters and tensors, and the
ignored parameters and tensors.  One line per check; exit status 1 on any mismatch, 2 on bad usage
(missing binary or fixtures).

Counting conventions: total_parameters is the sum of numel over every tensor entry in the checkpoint,
ignored ones included; a tensor stored under two names (tied weights) counts under both names.
"""

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import torch

TORCH_DTYPE = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


# --------------------------------------------------------------------------------------------
# Independent tensor loading: name -> (dtype, shape, numel)

def numel(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        out[name] = (info["dtype"], list(info["shape"]), numel(info["shape"]))
    return out


def read_torch(path):
    obj = torch.load(path, map_location="cpu")
    sd = obj
    if isinstance(obj, dict):
        for key in ("model", "module", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                sd = obj[key]
                break
    out = {}
    for name, t in sd.items():
        if isinstance(t, torch.Tensor):
            out[name] = (TORCH_DTYPE.get(t.dtype, str(t.dtype)), list(t.shape), t.numel())
    return out


def resolve_checkpoint(path):
    """(format, [checkpoint files]) for a fixture directory or a single file."""
    if os.path.isfile(path):
        if path.endswith(".safetensors"):
            return "safetensors", [path]
        return "pytorch-zip", [path]
    def p(*a):
        return os.path.join(path, *a)
    for index, fmt in (("model.safetensors.index.json", "safetensors-sharded"),
                       ("pytorch_model.bin.index.json", "pytorch-zip-sharded")):
        if os.path.isfile(p(index)):
            with open(p(index)) as f:
                wm = json.load(f)["weight_map"]
            return fmt, [p(s) for s in sorted(set(wm.values()))]
    if os.path.isfile(p("model.safetensors")):
        return "safetensors", [p("model.safetensors")]
    if os.path.isfile(p("pytorch_model.bin")):
        return "pytorch-zip", [p("pytorch_model.bin")]
    singles = sorted(f for f in os.listdir(path) if f.endswith((".pth", ".pt", ".bin", ".safetensors")))
    if len(singles) == 1:
        return resolve_checkpoint(p(singles[0]))
    raise RuntimeError(f"{path}: cannot find a checkpoint")


def load_tensors(path):
    fmt, files = resolve_checkpoint(path)
    tensors = {}
    for f in files:
        part = read_safetensors(f) if f.endswith(".safetensors") else read_torch(f)
        dup = set(part) & set(tensors)
        if dup:
            raise RuntimeError(f"{f}: tensors repeated across shards: {sorted(dup)[:3]}")
        tensors.update(part)
    index = None
    if fmt.endswith("-sharded"):
        index = os.path.join(path, "model.safetensors.index.json" if fmt.startswith("safetensors")
                             else "pytorch_model.bin.index.json")
        with open(index) as fh:
            wm = json.load(fh)["weight_map"]
        if set(wm) != set(tensors):
            raise RuntimeError(f"{index}: weight_map and shard contents differ")
    return fmt, files, tensors


# --------------------------------------------------------------------------------------------
# Independent component rules (name -> component, None = ignored)

def is_buffer(name):
    return name.endswith("position_ids") or name.endswith("rotary_emb.inv_freq")


def first_prefix(name, table):
    for prefix, comp in table:
        if name.startswith(prefix):
            return comp
    return None


def bucket_llava(name, ctx):
    hf_new = (("model.vision_tower.", "vision_tower."),
              ("model.multi_modal_projector.", "multi_modal_projector."),
              ("model.language_model.", "language_model.model."),
              ("lm_head.", "language_model.lm_head."))
    if ctx["llava_hf"]:
        for new, old in hf_new:
            if name.startswith(new):
                name = old + name[len(new):]
                break
        return first_prefix(name, (("vision_tower.", "vision_encoder"),
                                   ("multi_modal_projector.", "projector"),
                                   ("language_model.model.", "language_model"),
                                   ("language_model.lm_head.", "lm_head")))
    return first_prefix(name, (("model.mm_projector.", "projector"),
                               ("model.vision_tower.", "vision_encoder"),
                               ("model.", "language_model"),
                               ("lm_head.", "lm_head")))


def bucket_clip(name, ctx):
    if name == "logit_scale":
        return "heads"
    return first_prefix(name, (("vision_model.", "vision_encoder"), ("text_model.", "text_encoder"),
                               ("visual_projection.", "heads"), ("text_projection.", "heads")))


def bucket_llama(name, ctx):
    return first_prefix(name, (("model.", "language_model"), ("lm_head.", "lm_head")))


def bucket_bert(name, ctx):
    if name.startswith("bert."):
        name = name[len("bert."):]
    return first_prefix(name, (("embeddings.", "text_encoder"), ("encoder.", "text_encoder"),
                               ("pooler.", "heads"), ("cls.", "heads")))


def mplug_normalise(name):
    if ("fusion" in name or "bert" in name) and "decode" not in name:
        name = name.replace("fusion.", "").replace("bert.", "")
    return name


FUSION_LAYER = re.compile(r"^fusion_encoder\.encoder\.layer\.(\d+)\.")


def bucket_mplug(name, ctx):
    name = mplug_normalise(name)
    if name.split(".")[0].endswith("_m"):
        return None
    if name == "visual_encoder.visual.proj":
        return None
    if name.startswith("visual_encoder.") and not name.startswith("visual_encoder.visual."):
        return None
    if name.startswith("fusion_encoder.embeddings."):
        return None
    m = FUSION_LAYER.match(name)
    if m and int(m.group(1)) < ctx["fusion_modules"] - ctx["fusion_layers"]:
        return None
    return first_prefix(name, (("visual_encoder.visual.", "vision_encoder"),
                               ("visn_fc.", "projector"), ("visn_layer_norm.", "projector"),
                               ("text_encoder.", "text_encoder"),
                               ("fusion_encoder.encoder.layer.", "fusion"),
                               ("text_decoder.bert.", "decoder"),
                               ("text_decoder.cls.", "lm_head")))


BUCKETS = {"llava": bucket_llava, "clip": bucket_clip, "clip_vision": bucket_clip,
           "llama": bucket_llama, "bert": bucket_bert, "mplug": bucket_mplug}


def model_dir(path):
    return path if os.path.isdir(path) else os.path.dirname(path)


def make_context(family, path, tensors):
    ctx = {}
    if family == "llava":
        ctx["llava_hf"] = any(n.startswith(("vision_tower.", "multi_modal_projector.", "language_model.",
                                            "model.vision_tower.", "model.multi_modal_projector.",
                                            "model.language_model."))
                              for n in tensors)
    if family == "mplug":
        layers = {int(m.group(1)) for m in (FUSION_LAYER.match(mplug_normalise(n)) for n in tensors) if m}
        ctx["fusion_modules"] = len(layers)
        cfg = os.path.join(model_dir(path), "config_bert.json")
        if os.path.isfile(cfg):
            with open(cfg) as f:
                ctx["fusion_layers"] = int(json.load(f)["fusion_layers"])
            ctx["fusion_layers_from"] = "config_bert.json"
        else:
            ctx["fusion_layers"] = len(layers) // 2
            ctx["fusion_layers_from"] = "half the modules"
    return ctx


def python_counts(family, path):
    fmt, files, tensors = load_tensors(path)
    ctx = make_context(family, path, tensors)
    rule = BUCKETS[family]
    comps, ignored, dtypes = {}, {"parameters": 0, "tensors": 0, "names": []}, {}
    total = 0
    for name, (dt, shape, n) in tensors.items():
        total += n
        dtypes[dt] = dtypes.get(dt, 0) + n
        comp = None if is_buffer(name) else rule(name, ctx)
        if comp is None:
            ignored["parameters"] += n
            ignored["tensors"] += 1
            ignored["names"].append(name)
        else:
            c = comps.setdefault(comp, {"parameters": 0, "tensors": 0})
            c["parameters"] += n
            c["tensors"] += 1
    return {"format": fmt, "files": files, "total_parameters": total, "tensor_count": len(tensors),
            "dtypes": dtypes, "components": comps, "ignored": ignored, "context": ctx}


def print_table(label, family, counts):
    print(f"--- {label} (family {family}, {counts['format']}, "
          f"{', '.join(os.path.basename(f) for f in counts['files'])})")
    extra = {k: v for k, v in counts["context"].items() if k != "llava_hf"}
    if extra:
        print(f"    context: {extra}")
    for name in sorted(counts["components"]):
        c = counts["components"][name]
        print(f"    {name:16s} {c['parameters']:>10d} params {c['tensors']:>5d} tensors")
    ig = counts["ignored"]
    print(f"    {'(ignored)':16s} {ig['parameters']:>10d} params {ig['tensors']:>5d} tensors")
    print(f"    {'(total)':16s} {counts['total_parameters']:>10d} params {counts['tensor_count']:>5d} tensors"
          f"  dtypes {json.dumps(counts['dtypes'], sort_keys=True)}")


# --------------------------------------------------------------------------------------------
# Checks against the binary

class Checker:
    def __init__(self):
        self.failures = 0
        self.checks = 0

    def eq(self, label, what, expected, got):
        self.checks += 1
        if expected == got:
            print(f"PASS {label}: {what} = {json.dumps(got, sort_keys=True)}")
        else:
            self.failures += 1
            print(f"FAIL {label}: {what}: expected {json.dumps(expected, sort_keys=True)}, "
                  f"got {json.dumps(got, sort_keys=True)}")

    def fail(self, label, msg):
        self.checks += 1
        self.failures += 1
        print(f"FAIL {label}: {msg}")


def run_inspect(binary, path):
    r = subprocess.run([binary, "inspect", path, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def check_one(chk, binary, label, family, path, counts):
    rc, out, err = run_inspect(binary, path)
    chk.eq(label, "exit status", 0, rc)
    if rc != 0:
        print(f"     stderr: {err.strip()[:500]}")
        return
    try:
        js = json.loads(out)
    except ValueError as e:
        chk.fail(label, f"stdout is not JSON ({e}): {out[:200]!r}")
        return
    chk.eq(label, "format", counts["format"], js.get("format"))
    chk.eq(label, "family", family, js.get("family"))
    chk.eq(label, "total_parameters", counts["total_parameters"], js.get("total_parameters"))
    chk.eq(label, "tensor_count", counts["tensor_count"], js.get("tensor_count"))
    chk.eq(label, "dtypes", counts["dtypes"], js.get("dtypes"))
    got_comps = {}
    empty = []
    for c in js.get("components") or []:
        if c.get("parameters", 0) == 0 and c.get("tensors", 0) == 0:
            empty.append(c.get("name"))  # tolerated: an empty component says nothing wrong
            continue
        got_comps[c.get("name")] = c
    if empty:
        print(f"NOTE {label}: empty components listed (not counted): {empty}")
    chk.eq(label, "component names", sorted(counts["components"]), sorted(got_comps, key=str))
    for name, c in sorted(counts["components"].items()):
        g = got_comps.get(name)
        if g is None:
            chk.fail(label, f"component {name} missing")
            continue
        chk.eq(label, f"{name}.parameters", c["parameters"], g.get("parameters"))
        chk.eq(label, f"{name}.tensors", c["tensors"], g.get("tensors"))
    ig = js.get("ignored") or {}
    chk.eq(label, "ignored.parameters", counts["ignored"]["parameters"], ig.get("parameters"))
    chk.eq(label, "ignored.tensors", counts["ignored"]["tensors"], ig.get("tensors"))


def main():
    ap = argparse.ArgumentParser(description="inspect --json parameter accounting vs Python")
    ap.add_argument("--binary", help="crosstrace executable")
    ap.add_argument("--fixtures", required=True, help="directory written by tools/make_fixtures.py")
    ap.add_argument("--source", help="source tree (unused; accepted for the ctest convention)")
    ap.add_argument("--tmp", help="scratch directory for derived fixtures")
    ap.add_argument("--python-only", action="store_true", help="print the Python tables, do not run the binary")
    args = ap.parse_args()

    manifest_path = os.path.join(args.fixtures, "manifest.json")
    if not os.path.isfile(manifest_path):
        print(f"FAIL: {manifest_path} not found (run tools/make_fixtures.py --out {args.fixtures} first)")
        return 2
    if not args.python_only:
        if not args.binary or not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
            print(f"FAIL: crosstrace binary not found or not executable: {args.binary!r}")
            return 2
        if not args.tmp:
            print("FAIL: --tmp is required when running the binary")
            return 2
    with open(manifest_path) as f:
        manifest = json.load(f)

    # (label, family, path) triples: each fixture directory, mPLUG .pth files too, and two derived
    # mPLUG cases in TMP (bare .pth without config files; config_bert.json with fusion_layers 2).
    cases = []
    for fx in manifest["fixtures"]:
        d = os.path.join(args.fixtures, fx["dir"])
        cases.append((fx["name"], fx["family"], d, fx))
        if fx.get("checkpoint"):
            cases.append((f"{fx['name']}/{fx['checkpoint']}", fx["family"], os.path.join(d, fx["checkpoint"]), None))
    if args.tmp:
        src = next((fx for fx in manifest["fixtures"] if fx["name"] == "mplug_finetuned"), None)
        if src is not None:
            bare = os.path.join(args.tmp, "mplug_bare")
            fl2 = os.path.join(args.tmp, "mplug_fusion_layers_2")
            for d in (bare, fl2):
                if os.path.isdir(d):
                    shutil.rmtree(d)
            os.makedirs(bare)
            shutil.copy(os.path.join(args.fixtures, src["dir"], src["checkpoint"]), bare)
            cases.append(("mplug_bare/" + src["checkpoint"], "mplug", os.path.join(bare, src["checkpoint"]), None))
            shutil.copytree(os.path.join(args.fixtures, src["dir"]), fl2)
            with open(os.path.join(fl2, "config_bert.json")) as f:
                cfg = json.load(f)
            cfg["fusion_layers"] = 2
            with open(os.path.join(fl2, "config_bert.json"), "w") as f:
                json.dump(cfg, f, indent=2)
            cases.append(("mplug_fusion_layers_2", "mplug", fl2, None))

    chk = Checker()
    for label, family, path, fx in cases:
        try:
            counts = python_counts(family, path)
        except Exception as e:  # a broken fixture is a failure of this test, not a crash
            chk.fail(label, f"python side could not load {path}: {e}")
            continue
        print_table(label, family, counts)
        if fx is not None:  # the manifest and the independent resolution must agree on the files
            listed = sorted(f for f in fx["files"] if not f.endswith(".index.json"))
            chk.eq(label, "manifest files", listed, sorted(os.path.basename(f) for f in counts["files"]))
        if not args.python_only:
            check_one(chk, args.binary, label, family, path, counts)

    print(f"{chk.checks - chk.failures}/{chk.checks} checks passed")
    return 1 if chk.failures else 0


if __name__ == "__main__":
    sys.exit(main())

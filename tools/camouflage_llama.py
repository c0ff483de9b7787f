#!/usr/bin/python3
"""Write output-preserving camouflaged copies of a LLaMA checkpoint (tests only).

Usage:
  /usr/bin/python3 tools/camouflage_llama.py --model DIR --out DIR [--seed S]
      [--transforms LIST] [--finetune REL] [--base-out DIR]
  /usr/bin/python3 tools/camouflage_llama.py --make-base DIR [--d 512 --ffn 1376 --layers 4
      --heads 8 --vocab 2048] [--seed S]

DIR holds config.json + model.safetensors (F32, LlamaForCausalLM keys, as the `llama` fixture).
--make-base writes a randomly initialised LLaMA of the given shape there (N(0, 0.02) matrices,
RMSNorm gains 1) and exits.

--finetune REL first turns the model into a fine-tune-like copy: every weight gets Gaussian noise of
REL times its tensor's standard deviation (RMSNorm gains: REL x 0.1 around their values); with
--base-out that un-camouflaged fine-tune is written too. The transforms are then applied to it, and
the logit check compares the fine-tune with its camouflaged copy.

--transforms is a comma list (default residual,units,scale_unit), "all" meaning every one below.
The names follow specs/model-tracing.md 3.4 and 5.3:
- residual   (T1) one permutation of the residual coordinates: columns of embed_tokens, q/k/v,
             gate/up and lm_head; rows of o_proj and down_proj; entries of every RMSNorm gain;
- units      (T2) a hidden-unit permutation per MLP: rows of gate/up, columns of down;
- normfold   (T5) every RMSNorm gain (input, post-attention, final) replaced by an arbitrary varied
             non-zero vector g' (|g'| in [0.3, 3], a third negative), the ratio g / g' folded into the
             columns of the following projections (q/k/v, gate/up, lm_head):
             W diag(g) RMSNorm(x) = (W diag(g / g')) diag(g') RMSNorm(x);
- scale_pos  (T6, c > 0) per block one c in [0.5, 2]: up times c, down divided by c;
- scale_neg  (T6, c < 0) the same with c in [-2, -0.5];
- scale_unit per-unit rescaling: up row j times c_j, down column j divided by c_j
             (|c_j| in [0.5, 2], half of them negative).
They are applied in the order listed above. Then a plain-torch LLaMA forward (RMSNorm, RoPE
attention, SwiGLU) on random token ids checks the logits: max |diff| / max |logit| must be at most
1e-4 (printed); exit status 1 when it is not. The output directory gets model.safetensors and
config.json.
"""

import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{path}: {name} is {info['dtype']}, expected F32"
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(info["shape"]).copy()
    return out


def write_safetensors(path, sd):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for n in sorted(sd):
        raw = np.ascontiguousarray(sd[n], dtype="<f4").tobytes()
        header[n] = {"dtype": "F32", "shape": list(sd[n].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


ALL_TRANSFORMS = ("residual", "units", "normfold", "scale_pos", "scale_neg", "scale_unit")
NORM_TARGETS = {  # RMSNorm gain -> the projections whose input it scales
    "input_layernorm.weight": ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"),
    "post_attention_layernorm.weight": ("mlp.gate_proj.weight", "mlp.up_proj.weight"),
}


def permute_residual(sd, rs):
    d = sd["model.embed_tokens.weight"].shape[1]
    res = rs.permutation(d)  # new coordinate k = old coordinate res[k]
    out = {}
    for k, v in sd.items():
        if k in ("model.embed_tokens.weight", "lm_head.weight") or any(
                k.endswith(s) for s in ("q_proj.weight", "k_proj.weight", "v_proj.weight",
                                        "gate_proj.weight", "up_proj.weight")):
            out[k] = v[:, res]
        elif k.endswith("o_proj.weight") or k.endswith("down_proj.weight"):
            out[k] = v[res, :]
        elif k.endswith("layernorm.weight") or k == "model.norm.weight":
            out[k] = v[res]
        else:
            out[k] = v.copy()
    return out


def fold_norms(sd, layers, rs):
    out = dict(sd)

    def new_gain(n):
        return (np.exp(rs.uniform(np.log(0.3), np.log(3.0), n)) * np.where(rs.rand(n) < 1 / 3, -1.0, 1.0))

    def fold(gain_key, targets):
        g = sd[gain_key].astype(np.float64)
        g2 = new_gain(g.shape[0])
        out[gain_key] = g2.astype(np.float32)
        for t in targets:
            out[t] = (sd[t].astype(np.float64) * (g / g2)[None, :]).astype(np.float32)

    for i in range(layers):
        p = f"model.layers.{i}."
        for gain, targets in NORM_TARGETS.items():
            fold(p + gain, [p + t for t in targets])
    fold("model.norm.weight", ["lm_head.weight"])
    return out


def scale_mlp(sd, layers, rs, kind):
    out = dict(sd)
    for i in range(layers):
        p = f"model.layers.{i}.mlp."
        h = out[p + "up_proj.weight"].shape[0]
        if kind == "scale_unit":
            c = rs.uniform(0.5, 2.0, h) * np.where(rs.rand(h) < 0.5, -1.0, 1.0)
        else:
            c = np.full(h, rs.uniform(0.5, 2.0) * (1.0 if kind == "scale_pos" else -1.0))
        out[p + "up_proj.weight"] = (out[p + "up_proj.weight"].astype(np.float64) * c[:, None]).astype(np.float32)
        out[p + "down_proj.weight"] = (out[p + "down_proj.weight"].astype(np.float64) / c[None, :]).astype(np.float32)
    return out


def permute_units(sd, layers, rs):
    out = dict(sd)
    for i in range(layers):
        p = f"model.layers.{i}.mlp."
        hid = rs.permutation(out[p + "up_proj.weight"].shape[0])
        out[p + "gate_proj.weight"] = out[p + "gate_proj.weight"][hid, :]
        out[p + "up_proj.weight"] = out[p + "up_proj.weight"][hid, :]
        out[p + "down_proj.weight"] = out[p + "down_proj.weight"][:, hid]
    return out


def camouflage(sd, layers, rs, transforms=("residual", "units", "scale_unit")):
    out = dict(sd)
    for t in ALL_TRANSFORMS:  # fixed order, whatever the order of the request
        if t not in transforms:
            continue
        if t == "residual":
            out = permute_residual(out, rs)
        elif t == "units":
            out = permute_units(out, layers, rs)
        elif t == "normfold":
            out = fold_norms(out, layers, rs)
        else:
            out = scale_mlp(out, layers, rs, t)
    return out


def finetune(sd, rel, rs):
    out = {}
    for k, v in sd.items():
        std = 0.1 if k.endswith("norm.weight") else float(v.std())
        out[k] = (v + rs.normal(0.0, rel * std, v.shape)).astype(np.float32)
    return out


def make_base(out_dir, d, ffn, layers, heads, vocab, rs):
    sd = {"model.embed_tokens.weight": rs.normal(0, 0.02, (vocab, d)),
          "lm_head.weight": rs.normal(0, 0.02, (vocab, d)), "model.norm.weight": np.ones(d)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for n in ("q", "k", "v", "o"):
            sd[p + f"self_attn.{n}_proj.weight"] = rs.normal(0, 0.02, (d, d))
        sd[p + "mlp.gate_proj.weight"] = rs.normal(0, 0.02, (ffn, d))
        sd[p + "mlp.up_proj.weight"] = rs.normal(0, 0.02, (ffn, d))
        sd[p + "mlp.down_proj.weight"] = rs.normal(0, 0.02, (d, ffn))
        sd[p + "input_layernorm.weight"] = np.ones(d)
        sd[p + "post_attention_layernorm.weight"] = np.ones(d)
    cfg = {"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
           "hidden_size": d, "initializer_range": 0.02, "intermediate_size": ffn, "max_position_embeddings": 2048,
           "model_type": "llama", "num_attention_heads": heads, "num_hidden_layers": layers,
           "num_key_value_heads": heads, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
           "tie_word_embeddings": False, "torch_dtype": "float32", "vocab_size": vocab}
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), {k: v.astype(np.float32) for k, v in sd.items()})
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=1)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, theta):  # x [heads, T, hd], HF rotate-half convention
    hd, t = x.shape[-1], x.shape[-2]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.outer(torch.arange(t, dtype=torch.float64), inv)
    emb = torch.cat([ang, ang], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def forward(sd, cfg, ids):
    w = {k: torch.from_numpy(v) for k, v in sd.items()}
    eps, theta = cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 10000.0)
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    x = w["model.embed_tokens.weight"][ids]  # [T, d]
    t, d = x.shape
    hd = d // nh
    mask = torch.full((t, t), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        hn = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (hn @ w[p + "self_attn.q_proj.weight"].T).view(t, nh, hd).transpose(0, 1)
        k = (hn @ w[p + "self_attn.k_proj.weight"].T).view(t, nkv, hd).transpose(0, 1)
        v = (hn @ w[p + "self_attn.v_proj.weight"].T).view(t, nkv, hd).transpose(0, 1)
        q, k = rope(q, theta), rope(k, theta)
        k = k.repeat_interleave(nh // nkv, dim=0)
        v = v.repeat_interleave(nh // nkv, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5 + mask, dim=-1)
        x = x + (att @ v).transpose(0, 1).reshape(t, d) @ w[p + "self_attn.o_proj.weight"].T
        hn = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = hn @ w[p + "mlp.gate_proj.weight"].T
        u = hn @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    return rms_norm(x, w["model.norm.weight"], eps) @ w["lm_head.weight"].T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--transforms", default="residual,units,scale_unit")
    ap.add_argument("--finetune", type=float, default=0.0)
    ap.add_argument("--base-out")
    ap.add_argument("--make-base")
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--ffn", type=int, default=1376)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=2048)
    args = ap.parse_args()
    rs = np.random.RandomState(args.seed)
    if args.make_base:
        make_base(args.make_base, args.d, args.ffn, args.layers, args.heads, args.vocab, rs)
        return 0
    if not args.model or not args.out:
        ap.error("--model and --out are required (or --make-base)")
    transforms = ALL_TRANSFORMS if args.transforms == "all" else tuple(args.transforms.split(","))
    unknown = [t for t in transforms if t not in ALL_TRANSFORMS]
    if unknown:
        ap.error(f"unknown transform(s) {unknown}; known: {', '.join(ALL_TRANSFORMS)}")
    with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    sd = read_safetensors(os.path.join(args.model, "model.safetensors"))
    if args.finetune > 0:
        sd = finetune(sd, args.finetune, rs)
        if args.base_out:
            os.makedirs(args.base_out, exist_ok=True)
            write_safetensors(os.path.join(args.base_out, "model.safetensors"), sd)
            shutil.copy(os.path.join(args.model, "config.json"), os.path.join(args.base_out, "config.json"))
    cam = camouflage(sd, cfg["num_hidden_layers"], rs, transforms)
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), cam)
    shutil.copy(os.path.join(args.model, "config.json"), os.path.join(args.out, "config.json"))
    ids = torch.from_numpy(rs.randint(0, cfg["vocab_size"], size=64))
    with torch.no_grad():
        a, b = forward(sd, cfg, ids), forward(cam, cfg, ids)
    diff = float((a - b).abs().max())
    rel = diff / float(a.abs().max())
    changed = max(float(np.abs(cam[k] - sd[k]).max()) for k in sd)
    print(f"camouflage [{','.join(transforms)}]: logits max |diff| = {diff:.3e} (relative {rel:.3e}, "
          f"max |logit| {float(a.abs().max()):.3f}); weights changed by up to {changed:.3f}")
    return 0 if rel <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())

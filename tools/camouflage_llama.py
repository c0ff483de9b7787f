#!/usr/bin/python3
"""Write an output-preserving camouflaged copy of a tiny LLaMA checkpoint (tests only).

Usage: /usr/bin/python3 tools/camouflage_llama.py --model DIR --out DIR [--seed S]

DIR holds config.json + model.safetensors (F32, LlamaForCausalLM keys, as the `llama` fixture).
Applied (specs/model-tracing.md 3.4 and 5.3):
- T1: one permutation of the residual coordinates: columns of embed_tokens, q/k/v, gate/up and
  lm_head; rows of o_proj and down_proj; entries of every RMSNorm gain;
- T2: a hidden-unit permutation per MLP: rows of gate/up, columns of down;
- per-unit rescaling with both signs: up row j times c_j, down column j divided by c_j
  (|c_j| in [0.5, 2], half of them negative).
Then a plain-torch LLaMA forward (RMSNorm, RoPE attention, SwiGLU) on random token ids checks
that the logits agree within 1e-4 (max abs difference, printed); exit status 1 when they do not.
The output directory gets model.safetensors and config.json.
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


def camouflage(sd, layers, rs):
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
    for i in range(layers):
        p = f"model.layers.{i}.mlp."
        h = out[p + "up_proj.weight"].shape[0]
        hid = rs.permutation(h)
        scale = rs.uniform(0.5, 2.0, h) * np.where(rs.rand(h) < 0.5, -1.0, 1.0)
        out[p + "gate_proj.weight"] = out[p + "gate_proj.weight"][hid, :]
        out[p + "up_proj.weight"] = (out[p + "up_proj.weight"][hid, :] * scale[:, None]).astype(np.float32)
        out[p + "down_proj.weight"] = (out[p + "down_proj.weight"][:, hid] / scale[None, :]).astype(np.float32)
    return out


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
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    sd = read_safetensors(os.path.join(args.model, "model.safetensors"))
    rs = np.random.RandomState(args.seed)
    cam = camouflage(sd, cfg["num_hidden_layers"], rs)
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), cam)
    shutil.copy(os.path.join(args.model, "config.json"), os.path.join(args.out, "config.json"))
    ids = torch.from_numpy(rs.randint(0, cfg["vocab_size"], size=64))
    with torch.no_grad():
        a, b = forward(sd, cfg, ids), forward(cam, cfg, ids)
    diff = float((a - b).abs().max())
    rel = diff / float(a.abs().max())
    changed = float(np.abs(cam["model.layers.0.mlp.up_proj.weight"] - sd["model.layers.0.mlp.up_proj.weight"]).max())
    print(f"camouflage: logits max |diff| = {diff:.3e} (relative {rel:.3e}, max |logit| {float(a.abs().max()):.3f}); "
          f"layer-0 up weights changed by up to {changed:.3f}")
    return 0 if diff <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""PyTorch reference dumps for the crosstrace forward passes (tests only; the product never runs Python).

Usage: /usr/bin/python3 tools/torch_reference.py --fixtures DIR --out DIR [--models a,b,...]

An implementation of the Hugging Face semantics written in plain torch (transformers is not used or
needed): CLIPVisionModel, LlamaForCausalLM and LlavaForConditionalGeneration, in float32, over the
tiny fixtures of tools/make_fixtures.py. Checkpoints are parsed by hand (safetensors header + raw
data, sharded through model.safetensors.index.json; BF16/F16 widened to float32).

It writes OUT/<fixture>.safetensors holding, as float32 unless noted:
- every hook tensor named as in CONTRACTS.md section 2 ([tokens, dim], no batch dimension);
- input.pixels [3, S, S] (seeded normal values) and input.ids (I64, the prompt as the C++ side
  receives it, one <image> id for LLaVA, not yet expanded);
- generated (I64): greedy token ids, max 8 new tokens, stopping at (and keeping) EOS 2, computed by
  re-running the whole sequence each step (no KV cache), so the C++ cache is checked independently.

Library use (tests/python/test_run_llava.py): llava(sd, cfg, pixels, ids, max_new, eos) runs any
llava-hf state dict on given pixels and ids; llava_original_as_hf(dir, tower_dir) maps an original
(liuhaotian) checkpoint plus its separate CLIP tower onto those keys and that config.

Deliberate independence from the C++ code: the patch embedding is a conv2d, attention uses explicit
masks and repeat_interleave for grouped-query heads, RoPE uses the cos/sin table HF builds, and the
LLaVA feature layer is picked by Python negative indexing of the full hidden-state list.
"""

import argparse
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

MAX_NEW_TOKENS = 8
EOS = 2
PIXEL_SEED = 1234
LLAMA_IDS = [1, 5, 17, 100, 250, 33, 7, 99, 200, 3, 42, 311]
# llava prompt: BOS, "text", one image id (replaced below), more text.
LLAVA_TEXT_BEFORE = [1, 10, 20, 30]
LLAVA_TEXT_AFTER = [13, 40, 50, 60, 70, 80]

ST_NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "BF16": np.int16}


# ------------------------------------------------------------------------------------------------
# Checkpoint reading

def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw[base + b:base + e], dtype=ST_NP[info["dtype"]]).reshape(info["shape"])
        t = torch.from_numpy(arr.copy())
        if info["dtype"] == "BF16":
            t = t.view(torch.bfloat16)
        out[name] = t.float() if t.is_floating_point() else t
    return out


def read_model(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        sd = {}
        for fn in files:
            sd.update(read_safetensors(os.path.join(d, fn)))
        return sd
    return read_safetensors(os.path.join(d, "model.safetensors"))


def new_to_old_llava_key(k):
    for a, b in (("model.language_model.", "language_model.model."), ("model.vision_tower.", "vision_tower."),
                 ("model.multi_modal_projector.", "multi_modal_projector."), ("lm_head.", "language_model.lm_head.")):
        if k.startswith(a):
            return b + k[len(a):]
    return k


# ------------------------------------------------------------------------------------------------
# CLIP vision (HF CLIPVisionTransformer)

def clip_defaults(cfg):
    c = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
             image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5)
    c.update({k: v for k, v in cfg.items() if k in c})
    return c


def clip_vision(sd, p, c, pixels, hooks, n_layers=None, post_ln=True):
    """Returns the list of hidden states (HF hidden_states) and fills hooks."""
    W, heads, eps = c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"]
    hd = W // heads
    x = F.conv2d(pixels[None], sd[p + "embeddings.patch_embedding.weight"], stride=c["patch_size"])
    x = x.flatten(2).transpose(1, 2)[0]                              # [g*g, W]
    x = torch.cat([sd[p + "embeddings.class_embedding"][None], x], 0)
    x = x + sd[p + "embeddings.position_embedding.weight"]
    hooks["vision.embeddings"] = x
    x = F.layer_norm(x, (W,), sd[p + "pre_layrnorm.weight"], sd[p + "pre_layrnorm.bias"], eps)
    hooks["vision.pre_ln"] = x
    hidden = [x]
    L = c["num_hidden_layers"]
    for i in range(L):
        q = f"{p}encoder.layers.{i}."
        h = F.layer_norm(x, (W,), sd[q + "layer_norm1.weight"], sd[q + "layer_norm1.bias"], eps)
        qs = F.linear(h, sd[q + "self_attn.q_proj.weight"], sd[q + "self_attn.q_proj.bias"]) * hd ** -0.5
        ks = F.linear(h, sd[q + "self_attn.k_proj.weight"], sd[q + "self_attn.k_proj.bias"])
        vs = F.linear(h, sd[q + "self_attn.v_proj.weight"], sd[q + "self_attn.v_proj.bias"])
        n = x.shape[0]
        qs, ks, vs = (t.view(n, heads, hd).transpose(0, 1) for t in (qs, ks, vs))
        att = torch.softmax(qs @ ks.transpose(1, 2), dim=-1, dtype=torch.float32)
        a = (att @ vs).transpose(0, 1).reshape(n, W)
        o = F.linear(a, sd[q + "self_attn.out_proj.weight"], sd[q + "self_attn.out_proj.bias"])
        x = x + o
        h = F.layer_norm(x, (W,), sd[q + "layer_norm2.weight"], sd[q + "layer_norm2.bias"], eps)
        m = F.linear(h, sd[q + "mlp.fc1.weight"], sd[q + "mlp.fc1.bias"])
        m = m * torch.sigmoid(1.702 * m) if c["hidden_act"] == "quick_gelu" else F.gelu(m)
        mo = F.linear(m, sd[q + "mlp.fc2.weight"], sd[q + "mlp.fc2.bias"])
        x = x + mo
        hidden.append(x)
        if n_layers is None or i < n_layers:
            hooks[f"vision.layers.{i}.attn_out"] = o
            hooks[f"vision.layers.{i}.mlp_act"] = m
            hooks[f"vision.layers.{i}.mlp_out"] = mo
            hooks[f"vision.layers.{i}.output"] = x
    if post_ln:
        hooks["vision.post_ln"] = F.layer_norm(x, (W,), sd[p + "post_layernorm.weight"], sd[p + "post_layernorm.bias"], eps)
    return hidden


# ------------------------------------------------------------------------------------------------
# LLaMA (HF LlamaForCausalLM)

def llama_defaults(cfg):
    c = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=None, rms_norm_eps=1e-6, rope_theta=10000.0)
    c.update({k: v for k, v in cfg.items() if k in c})
    if c["num_key_value_heads"] is None:
        c["num_key_value_heads"] = c["num_attention_heads"]
    return c


def rms_norm(x, w, eps):
    var = x.float().pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def llama(sd, p, head, c, x, hooks):
    """x: [T, d] input embeddings; returns logits [T, V] and fills hooks."""
    T, d = x.shape
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    hd = d // H
    eps = c["rms_norm_eps"]
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = torch.arange(T).float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos()[None], emb.sin()[None]                      # [1, T, hd]
    mask = torch.full((T, T), float("-inf")).triu(1)
    hooks["lm.embeddings"] = x
    for i in range(c["num_hidden_layers"]):
        q = f"{p}layers.{i}."
        h = rms_norm(x, sd[q + "input_layernorm.weight"], eps)
        qs = F.linear(h, sd[q + "self_attn.q_proj.weight"]).view(T, H, hd).transpose(0, 1)
        ks = F.linear(h, sd[q + "self_attn.k_proj.weight"]).view(T, KV, hd).transpose(0, 1)
        vs = F.linear(h, sd[q + "self_attn.v_proj.weight"]).view(T, KV, hd).transpose(0, 1)
        qs = qs * cos + rotate_half(qs) * sin
        ks = ks * cos + rotate_half(ks) * sin
        ks = ks.repeat_interleave(H // KV, dim=0)
        vs = vs.repeat_interleave(H // KV, dim=0)
        scores = qs @ ks.transpose(1, 2) / math.sqrt(hd) + mask
        att = torch.softmax(scores, dim=-1, dtype=torch.float32)
        a = (att @ vs).transpose(0, 1).reshape(T, H * hd)
        o = F.linear(a, sd[q + "self_attn.o_proj.weight"])
        x = x + o
        h = rms_norm(x, sd[q + "post_attention_layernorm.weight"], eps)
        g = F.linear(h, sd[q + "mlp.gate_proj.weight"])
        u = F.linear(h, sd[q + "mlp.up_proj.weight"])
        mo = F.linear(F.silu(g) * u, sd[q + "mlp.down_proj.weight"])
        x = x + mo
        hooks[f"lm.layers.{i}.attn_out"] = o
        hooks[f"lm.layers.{i}.mlp_gate"] = g
        hooks[f"lm.layers.{i}.mlp_up"] = u
        hooks[f"lm.layers.{i}.mlp_out"] = mo
        hooks[f"lm.layers.{i}.output"] = x
    x = rms_norm(x, sd[p + "norm.weight"], eps)
    hooks["lm.norm"] = x
    logits = F.linear(x, sd[head])
    hooks["lm.logits"] = logits
    return logits


def greedy(embed_fn, forward_fn, prompt_x, max_new=MAX_NEW_TOKENS, eos=(EOS,)):
    """Greedy decoding without a cache: the whole sequence is re-run each step."""
    out, x = [], prompt_x
    for _ in range(max_new):
        tok = int(torch.argmax(forward_fn(x)[-1]))
        out.append(tok)
        if tok in eos or len(out) == max_new:
            break
        x = torch.cat([x, embed_fn(tok)[None]], 0)
    return out


# ------------------------------------------------------------------------------------------------
# Fixtures

def seeded_pixels(size):
    return torch.from_numpy(np.random.RandomState(PIXEL_SEED).standard_normal((3, size, size)).astype(np.float32))


def run_clip(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    c = clip_defaults(cfg)
    sd = read_model(d)
    pixels = seeded_pixels(c["image_size"])
    hooks = {}
    clip_vision(sd, "vision_model.", c, pixels, hooks)
    return hooks, pixels, None, None


def run_llama(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    c = llama_defaults(cfg)
    sd = read_model(d)
    emb = sd["model.embed_tokens.weight"]
    ids = torch.tensor(LLAMA_IDS)
    hooks = {}
    llama(sd, "model.", "lm_head.weight", c, emb[ids], hooks)
    gen = greedy(lambda t: emb[t], lambda x: llama(sd, "model.", "lm_head.weight", c, x, {}), emb[ids])
    return hooks, None, LLAMA_IDS, gen


def run_llava(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    sd = {new_to_old_llava_key(k): v for k, v in read_model(d).items()}
    pixels = seeded_pixels(clip_defaults(cfg["vision_config"])["image_size"])
    ids = LLAVA_TEXT_BEFORE + [cfg.get("image_token_index", 32000)] + LLAVA_TEXT_AFTER
    hooks, gen, _ = llava(sd, cfg, pixels, ids)
    return hooks, pixels, ids, gen


def read_torch_model(d):
    """pytorch_model.bin, or the shards listed by pytorch_model.bin.index.json, as float32."""
    idx = os.path.join(d, "pytorch_model.bin.index.json")
    files = ["pytorch_model.bin"]
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    sd = {}
    for fn in files:
        sd.update(torch.load(os.path.join(d, fn), map_location="cpu"))
    return {k: v.float() for k, v in sd.items()}


def llava_original_as_hf(d, tower):
    """An original (liuhaotian) LLaVA directory plus its CLIP tower directory, renamed to the llava-hf
    keys and config of run_llava by the spec's mapping table (vlm-architectures.md 3.2)."""
    cfg = json.load(open(os.path.join(d, "config.json")))
    sd = {}
    for k, v in read_torch_model(d).items():
        if k.endswith("rotary_emb.inv_freq"):
            continue
        if k.startswith("model.mm_projector.0."):
            sd["multi_modal_projector.linear_1." + k.split(".")[-1]] = v
        elif k.startswith("model.mm_projector.2."):
            sd["multi_modal_projector.linear_2." + k.split(".")[-1]] = v
        elif k.startswith("model."):
            sd["language_model." + k] = v
        elif k == "lm_head.weight":
            sd["language_model.lm_head.weight"] = v
    tcfg = json.load(open(os.path.join(tower, "config.json")))
    vision = tcfg["vision_config"] if tcfg.get("model_type") == "clip" else tcfg
    for k, v in read_model(tower).items():
        if k.startswith("vision_model."):
            sd["vision_tower." + k] = v
    text = {k: cfg[k] for k in llama_defaults({}) if k in cfg}
    hf = {"vision_config": vision, "text_config": text, "image_token_index": -200,
          "vision_feature_layer": cfg.get("mm_vision_select_layer", -2),
          "vision_feature_select_strategy": "default" if cfg.get("mm_vision_select_feature", "patch") == "patch" else "full"}
    return sd, hf


def llava(sd, cfg, pixels, ids, max_new=MAX_NEW_TOKENS, eos=(EOS,)):
    """llava-hf keys (old spelling) and config; ids hold one image id. Returns the hooks, the greedy
    tokens and the expanded ids (the image id once per image row)."""
    vc, tc = clip_defaults(cfg["vision_config"]), llama_defaults(cfg["text_config"])
    img = cfg.get("image_token_index", 32000)
    layer = cfg.get("vision_feature_layer", -2)
    hooks = {}
    L = vc["num_hidden_layers"]
    n_run = layer if layer >= 0 else L + 1 + layer
    hidden = clip_vision(sd, "vision_tower.vision_model.", vc, pixels, hooks, n_layers=n_run, post_ln=False)
    feats = hidden[layer]
    if cfg.get("vision_feature_select_strategy", "default") == "default":
        feats = feats[1:]
    mp = "multi_modal_projector."
    proj = F.linear(F.gelu(F.linear(feats, sd[mp + "linear_1.weight"], sd[mp + "linear_1.bias"])),
                    sd[mp + "linear_2.weight"], sd[mp + "linear_2.bias"])
    hooks["projector.output"] = proj
    at = ids.index(img)
    expanded = ids[:at] + [img] * proj.shape[0] + ids[at + 1:]
    emb = sd["language_model.model.embed_tokens.weight"]
    e = torch.tensor(expanded)
    x = emb[e.clamp(min=0, max=emb.shape[0] - 1)].clone()
    x[e == img] = proj                                           # in order, as HF masked_scatter
    p, head = "language_model.model.", "language_model.lm_head.weight"
    llama(sd, p, head, tc, x, hooks)
    gen = greedy(lambda t: emb[t], lambda y: llama(sd, p, head, tc, y, {}), x, max_new, eos)
    return hooks, gen, expanded


RUNNERS = {"clip_vision": run_clip, "llama": run_llama, "llava_hf": run_llava, "llava_hf_newkeys": run_llava,
           "llava_hf_sharded_bf16": run_llava}


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        arr = tensors[name]
        dt = "I64" if arr.dtype == np.int64 else "F32"
        raw = np.ascontiguousarray(arr, dtype="<i8" if dt == "I64" else "<f4").tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(RUNNERS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name in args.models.split(","):
        with torch.no_grad():
            hooks, pixels, ids, gen = RUNNERS[name](os.path.join(args.fixtures, name))
        out = {k: v.detach().float().contiguous().numpy() for k, v in hooks.items()}
        if pixels is not None:
            out["input.pixels"] = pixels.numpy()
        if ids is not None:
            out["input.ids"] = np.array(ids, dtype=np.int64)
        if gen is not None:
            out["generated"] = np.array(gen, dtype=np.int64)
        write_safetensors(os.path.join(args.out, name + ".safetensors"), out)
        print(f"{name}: {len(hooks)} hooks" + (f", generated {gen}" if gen is not None else ""))


if __name__ == "__main__":
    main()

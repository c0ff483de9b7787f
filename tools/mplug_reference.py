#!/usr/bin/python3
"""Plain-torch reference of the RELEASED mPLUG code's inference semantics (tests only).

Usage: /usr/bin/python3 tools/mplug_reference.py --fixture DIR --out FILE.safetensors
                                                 [--ids 101,...,102] [--pixels X.npy] [--bert]

Written from /work/shared/specs/vlm-architectures.md sections 1.1, 1.2 and 2, independently of the
C++ code: it loads the fixture's .pth with torch.load, applies the fine-tuning rename itself, reads
config.yaml with PyYAML and the BERT JSON, and runs, in float32:
- the CLIP visual encoder (conv2d patch embedding, explicit packed in_proj attention, quick_gelu,
  ln_post on every token), the positional table resized with F.interpolate(bilinear,
  align_corners=False) when image_res differs from it; visn_fc + LayerNorm(1e-12) when
  vision_width != hidden_size;
- the BERT text encoder with the transformers-4.8 extended mask (1 - m) * -10000;
- the fusion network (last fusion_layers modules; connected layer when j != 0 and j % stride == 0,
  with the extra V <- V + Y_v);
- the answer decoder the released way: the WHOLE alive sequence is re-run every step with the
  memory repeated per beam (no caches), causal mask folded into the additive -10000 mask;
- TextGenerator beam search (beam 5, alpha 0.6, [CLS] 101 / [SEP] 102, VQA max 10 / min 1,
  caption max 25 / min 8) including the non-top-[SEP] quirk;
- captioning (decoder cross-attends to V).

The dump holds every hook (CONTRACTS.md 2), input.pixels (seeded normal [3, res, res]), input.ids,
generated (I64, VQA answer ids without [CLS]), caption.generated (I64), and the caption's decoder
hooks under the prefix "caption.". Decoder hooks are teacher-forced: input [CLS] + answer[:-1].
With --bert the fixture is a standalone BERT (hub layout) and only text.* hooks are dumped.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import write_safetensors  # noqa: E402

PIXEL_SEED = 4321
BOS, EOS = 101, 102


def rename_finetuned(k):
    if ("fusion" in k or "bert" in k) and "decode" not in k:
        k = k.replace("fusion.", "").replace("bert.", "")
    return k


def load_state(path):
    obj = torch.load(path, map_location="cpu")
    sd = obj["model"] if "model" in obj else obj["module"]
    return {rename_finetuned(k): v.float() if v.is_floating_point() else v for k, v in sd.items()}


# ------------------------------------------------------------------------------------------------
# CLIP visual (OpenAI layout)

def resize_pos(pos, g_new):
    cls, grid = pos[:1], pos[1:]
    g_old = int(round(math.sqrt(grid.shape[0])))
    if g_old == g_new:
        return pos
    w = grid.shape[1]
    img = grid.reshape(1, g_old, g_old, w).permute(0, 3, 1, 2)
    img = F.interpolate(img, size=(g_new, g_new), mode="bilinear", align_corners=False)
    return torch.cat([cls, img.permute(0, 2, 3, 1).reshape(g_new * g_new, w)], 0)


def clip_visual(sd, p, pixels, heads, res, hooks):
    conv = sd[p + "conv1.weight"]
    W, P = conv.shape[0], conv.shape[2]
    x = F.conv2d(pixels[None], conv, stride=P)[0]                      # [W, g, g]
    g = x.shape[1]
    x = torch.cat([sd[p + "class_embedding"][None], x.reshape(W, g * g).t()], 0)
    x = x + resize_pos(sd[p + "positional_embedding"], g)
    hooks["vision.embeddings"] = x.clone()
    x = F.layer_norm(x, (W,), sd[p + "ln_pre.weight"], sd[p + "ln_pre.bias"], 1e-5)
    hooks["vision.pre_ln"] = x.clone()
    i = 0
    while f"{p}transformer.resblocks.{i}.ln_1.weight" in sd:
        q = f"{p}transformer.resblocks.{i}."
        h = F.layer_norm(x, (W,), sd[q + "ln_1.weight"], sd[q + "ln_1.bias"], 1e-5)
        qkv = F.linear(h, sd[q + "attn.in_proj_weight"], sd[q + "attn.in_proj_bias"])
        a = mha(qkv[:, :W], qkv[:, W:2 * W], qkv[:, 2 * W:], heads, None)
        o = F.linear(a, sd[q + "attn.out_proj.weight"], sd[q + "attn.out_proj.bias"])
        hooks[f"vision.layers.{i}.attn_out"] = o
        x = x + o
        h = F.layer_norm(x, (W,), sd[q + "ln_2.weight"], sd[q + "ln_2.bias"], 1e-5)
        m = F.linear(h, sd[q + "mlp.c_fc.weight"], sd[q + "mlp.c_fc.bias"])
        m = m * torch.sigmoid(1.702 * m)
        hooks[f"vision.layers.{i}.mlp_act"] = m
        o = F.linear(m, sd[q + "mlp.c_proj.weight"], sd[q + "mlp.c_proj.bias"])
        hooks[f"vision.layers.{i}.mlp_out"] = o
        x = x + o
        hooks[f"vision.layers.{i}.output"] = x.clone()
        i += 1
    x = F.layer_norm(x, (W,), sd[p + "ln_post.weight"], sd[p + "ln_post.bias"], 1e-5)
    hooks["vision.post_ln"] = x.clone()
    return x


def mha(q, k, v, heads, additive):
    """q [Lq, d], k/v [Lk, d]; additive [Lq, Lk] or None. Scores scaled by 1/sqrt(d_head)."""
    d = q.shape[1]
    hd = d // heads
    qh = q.reshape(-1, heads, hd).transpose(0, 1)
    kh = k.reshape(-1, heads, hd).transpose(0, 1)
    vh = v.reshape(-1, heads, hd).transpose(0, 1)
    s = qh @ kh.transpose(1, 2) / math.sqrt(hd)
    if additive is not None:
        s = s + additive[None]
    return (torch.softmax(s, -1) @ vh).transpose(0, 1).reshape(-1, d)


# ------------------------------------------------------------------------------------------------
# BERT (post-LN, transformers 4.8)

def ext_mask(m):
    """[Lq, Lk] 0/1 mask -> additive (1 - m) * -10000."""
    return (1.0 - m.float()) * -10000.0


def bert_attention(sd, p, c, x, kv, additive):
    d, eps = c["hidden_size"], c["layer_norm_eps"]
    q = F.linear(x, sd[p + "self.query.weight"], sd[p + "self.query.bias"])
    k = F.linear(kv, sd[p + "self.key.weight"], sd[p + "self.key.bias"])
    v = F.linear(kv, sd[p + "self.value.weight"], sd[p + "self.value.bias"])
    ctx = mha(q, k, v, c["num_attention_heads"], additive)
    o = F.linear(ctx, sd[p + "output.dense.weight"], sd[p + "output.dense.bias"])
    return F.layer_norm(o + x, (d,), sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"], eps)


def bert_layer(sd, p, c, x, self_mask, memory=None, mem_mask=None, hooks=None, name=None):
    d, eps = c["hidden_size"], c["layer_norm_eps"]
    a = bert_attention(sd, p + "attention.", c, x, x, ext_mask(self_mask))
    if memory is not None:
        a = bert_attention(sd, p + "crossattention.", c, a, memory, ext_mask(mem_mask))
    m = F.gelu(F.linear(a, sd[p + "intermediate.dense.weight"], sd[p + "intermediate.dense.bias"]))
    if hooks is not None and name is not None:
        hooks[name] = m
    o = F.linear(m, sd[p + "output.dense.weight"], sd[p + "output.dense.bias"])
    return F.layer_norm(o + a, (d,), sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"], eps)


def bert_embeddings(sd, p, c, ids):
    pos = torch.arange(len(ids))
    e = sd[p + "word_embeddings.weight"][ids] + sd[p + "position_embeddings.weight"][pos] + \
        sd[p + "token_type_embeddings.weight"][torch.zeros_like(ids)]
    return F.layer_norm(e, (c["hidden_size"],), sd[p + "LayerNorm.weight"], sd[p + "LayerNorm.bias"],
                        c["layer_norm_eps"])


def text_encoder(sd, p, c, ids, layers, hooks):
    x = bert_embeddings(sd, p + "embeddings.", c, ids)
    hooks["text.embeddings"] = x.clone()
    full = torch.ones(len(ids), len(ids))
    for i in range(layers):
        x = bert_layer(sd, f"{p}encoder.layer.{i}.", c, x, full, hooks=hooks, name=f"text.layers.{i}.mlp_act")
        hooks[f"text.layers.{i}.output"] = x.clone()
    return x


# ------------------------------------------------------------------------------------------------
# mPLUG

def fusion(sd, c, v, t, hooks):
    n_mod, n_run, stride = c["num_hidden_layers"], c["fusion_layers"], c["stride_layer"]
    start = n_mod - n_run
    for j in range(n_run):
        p = f"fusion_encoder.encoder.layer.{start + j}."
        if j != 0 and j % stride == 0:
            x = torch.cat([v, t], 0)
            y = bert_layer(sd, p, c, x, torch.ones(x.shape[0], x.shape[0]))
            yv, yt = y[:v.shape[0]], y[v.shape[0]:]
            t = yt
            v = v + yv
        else:
            t = bert_layer(sd, p, c, t, torch.ones(t.shape[0], t.shape[0]), v, torch.ones(t.shape[0], v.shape[0]))
        hooks[f"fusion.layers.{j}.text"] = t.clone()
        hooks[f"fusion.layers.{j}.image"] = v.clone()
    return v, t


def decoder_logits(sd, c, seqs, memory, hooks=None, prefix=""):
    """seqs: [B, T] ids; the whole sequence every call, memory repeated per row. -> [B, T, V]."""
    out = []
    n_layers = c["text_decode_layers"]
    T = seqs.shape[1]
    causal = torch.tril(torch.ones(T, T))
    mem_mask = torch.ones(T, memory.shape[0])
    for b in range(seqs.shape[0]):
        x = bert_embeddings(sd, "text_decoder.bert.embeddings.", c, seqs[b])
        for i in range(n_layers):
            x = bert_layer(sd, f"text_decoder.bert.encoder.layer.{i}.", c, x, causal, memory, mem_mask)
            if hooks is not None:
                hooks[f"{prefix}decoder.layers.{i}.output"] = x.clone()
        p = "text_decoder.cls.predictions."
        h = F.gelu(F.linear(x, sd[p + "transform.dense.weight"], sd[p + "transform.dense.bias"]))
        h = F.layer_norm(h, (c["hidden_size"],), sd[p + "transform.LayerNorm.weight"],
                         sd[p + "transform.LayerNorm.bias"], c["layer_norm_eps"])
        head = sd.get(p + "decoder.weight", sd["text_decoder.bert.embeddings.word_embeddings.weight"])
        logits = F.linear(h, head) + sd[p + "bias"]
        if hooks is not None:
            hooks[f"{prefix}decoder.logits"] = logits.clone()
        out.append(logits)
    return torch.stack(out, 0)


def beam_search(sd, c, memory, beam=5, max_len=10, min_len=1, alpha=0.6):
    alive = torch.full((beam, 1), BOS, dtype=torch.long)
    run = torch.tensor([0.0] + [float("-inf")] * (beam - 1))
    hyps = []
    for step in range(max_len):
        logits = decoder_logits(sd, c, alive, memory)[:, -1, :]
        V = logits.shape[-1]
        logp = torch.log(torch.softmax(logits, -1))
        if step < min_len:
            logp[:, EOS] = -1e20
        logp = logp + run[:, None]
        pen = ((5.0 + (step + 1)) / 6.0) ** alpha
        cur = (logp / pen).reshape(-1)
        top, idx = cur.topk(beam)
        run = top * pen
        parent, tok = torch.div(idx, V, rounding_mode="floor"), idx % V
        alive = torch.cat([alive[parent], tok[:, None]], 1)
        done = tok.eq(EOS)
        if step + 1 == max_len:
            done[:] = True
        if done[0]:
            done[:] = True
        for j in range(beam):
            if done[j]:
                hyps.append((float(top[j]), alive[j, 1:].tolist()))
        if done[0]:
            break
    best = sorted(hyps, key=lambda h: h[0], reverse=True)[0]
    return best[1], best[0]


def run_mplug(d, ids, pixels_npy=None):
    pth = [f for f in os.listdir(d) if f.endswith(".pth")][0]
    sd = load_state(os.path.join(d, pth))
    cfg = yaml.safe_load(open(os.path.join(d, "config.yaml")))
    c = json.load(open(os.path.join(d, os.path.basename(cfg.get("bert_config", "config_bert.json")))))
    res, vw = cfg["image_res"], cfg["vision_width"]
    heads = cfg.get("vision_heads", vw // 64)
    if pixels_npy:
        pixels = torch.from_numpy(np.load(pixels_npy).astype(np.float32))
    else:
        pixels = torch.from_numpy(np.random.RandomState(PIXEL_SEED).standard_normal((3, res, res)).astype(np.float32))
    hooks = {}
    v = clip_visual(sd, "visual_encoder.visual.", pixels, heads, res, hooks)
    if vw != c["hidden_size"]:
        v = F.layer_norm(F.linear(v, sd["visn_fc.weight"], sd["visn_fc.bias"]), (c["hidden_size"],),
                         sd["visn_layer_norm.weight"], sd["visn_layer_norm.bias"], 1e-12)
    hooks["vision.proj"] = v.clone()
    ids_t = torch.tensor(ids)
    t = text_encoder(sd, "text_encoder.", c, ids_t, c["text_encoder_layers"], hooks)
    v2, t2 = fusion(sd, c, v, t, hooks)
    memory = torch.cat([v2, t2], 0)
    answer, score = beam_search(sd, c, memory, max_len=10, min_len=1)
    decoder_logits(sd, c, torch.tensor([[BOS] + answer[:-1]]), memory, hooks)
    caption, cscore = beam_search(sd, c, v, max_len=25, min_len=8)
    decoder_logits(sd, c, torch.tensor([[BOS] + caption[:-1]]), v, hooks, prefix="caption.")
    out = {k: x.detach().float().contiguous().numpy() for k, x in hooks.items()}
    out["input.pixels"] = pixels.numpy()
    out["input.ids"] = np.array(ids, dtype=np.int64)
    out["generated"] = np.array(answer, dtype=np.int64)
    out["caption.generated"] = np.array(caption, dtype=np.int64)
    out["generated.score"] = np.array([score], dtype=np.float32)
    out["caption.generated.score"] = np.array([cscore], dtype=np.float32)
    return out


def run_bert(d, ids):
    sd = torch.load(os.path.join(d, "pytorch_model.bin"), map_location="cpu")
    norm = {}
    for k, v in sd.items():
        k = k[5:] if k.startswith("bert.") else k
        k = k[:-6] + ".weight" if k.endswith(".gamma") else k
        k = k[:-5] + ".bias" if k.endswith(".beta") else k
        norm[k] = v.float()
    c = json.load(open(os.path.join(d, "config.json")))
    hooks = {}
    text_encoder(norm, "", c, torch.tensor(ids), c["num_hidden_layers"], hooks)
    out = {k: x.detach().float().contiguous().numpy() for k, x in hooks.items()}
    out["input.ids"] = np.array(ids, dtype=np.int64)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ids", default="101,110,120,125,102")
    ap.add_argument("--bert", action="store_true")
    ap.add_argument("--pixels", default=None, help="an .npy [3, res, res] instead of seeded pixels")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ids = [int(s) for s in args.ids.split(",")]
    with torch.no_grad():
        out = run_bert(args.fixture, ids) if args.bert else run_mplug(args.fixture, ids, args.pixels)
    write_safetensors(args.out, out)
    print(f"{args.fixture}: answer {out.get('generated', np.array([])).tolist()} "
          f"caption {out.get('caption.generated', np.array([])).tolist()}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch baseline for bench/mplug_bench.cpp: mPLUG-base-shaped VQA on random weights, run with
tools/mplug_reference.py's released-code semantics (the decoder re-runs the whole prefix for every
beam and step, with the memory's cross-attention K/V recomputed each time), float32, torch threads
as given. Prints encode and beam-search seconds."""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mplug_reference as R  # noqa: E402

D, H, V, W, P, RES = 768, 3072, 30522, 768, 16, 384


def lin(sd, p, o, i, g):
    sd[p + "weight"] = torch.randn(o, i, generator=g) / i ** 0.5
    sd[p + "bias"] = torch.randn(o, generator=g) * 0.02


def ln(sd, p, n):
    sd[p + "weight"] = torch.ones(n)
    sd[p + "bias"] = torch.zeros(n)


def bert_layer(sd, p, g, cross):
    for a in (["attention."] + (["crossattention."] if cross else [])):
        for q in ("query", "key", "value"):
            lin(sd, p + a + "self." + q + ".", D, D, g)
        lin(sd, p + a + "output.dense.", D, D, g)
        ln(sd, p + a + "output.LayerNorm.", D)
    lin(sd, p + "intermediate.dense.", H, D, g)
    lin(sd, p + "output.dense.", D, H, g)
    ln(sd, p + "output.LayerNorm.", D)


def emb(sd, p, g):
    sd[p + "word_embeddings.weight"] = torch.randn(V, D, generator=g) * 0.02
    sd[p + "position_embeddings.weight"] = torch.randn(512, D, generator=g) * 0.02
    sd[p + "token_type_embeddings.weight"] = torch.randn(2, D, generator=g) * 0.02
    ln(sd, p + "LayerNorm.", D)


def build():
    g = torch.Generator().manual_seed(0)
    sd = {}
    v = "visual_encoder.visual."
    n = (RES // P) ** 2 + 1
    sd[v + "conv1.weight"] = torch.randn(W, 3, P, P, generator=g) / (3 * P * P) ** 0.5
    sd[v + "class_embedding"] = torch.randn(W, generator=g) * 0.02
    sd[v + "positional_embedding"] = torch.randn(n, W, generator=g) * 0.02
    ln(sd, v + "ln_pre.", W)
    ln(sd, v + "ln_post.", W)
    for i in range(12):
        p = f"{v}transformer.resblocks.{i}."
        ln(sd, p + "ln_1.", W)
        ln(sd, p + "ln_2.", W)
        sd[p + "attn.in_proj_weight"] = torch.randn(3 * W, W, generator=g) / W ** 0.5
        sd[p + "attn.in_proj_bias"] = torch.zeros(3 * W)
        lin(sd, p + "attn.out_proj.", W, W, g)
        lin(sd, p + "mlp.c_fc.", 4 * W, W, g)
        lin(sd, p + "mlp.c_proj.", W, 4 * W, g)
    emb(sd, "text_encoder.embeddings.", g)
    for i in range(6):
        bert_layer(sd, f"text_encoder.encoder.layer.{i}.", g, False)
    for i in range(6, 12):
        bert_layer(sd, f"fusion_encoder.encoder.layer.{i}.", g, True)
    emb(sd, "text_decoder.bert.embeddings.", g)
    for i in range(12):
        bert_layer(sd, f"text_decoder.bert.encoder.layer.{i}.", g, True)
    c = "text_decoder.cls.predictions."
    lin(sd, c + "transform.dense.", D, D, g)
    ln(sd, c + "transform.LayerNorm.", D)
    sd[c + "bias"] = torch.zeros(V)
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = {"hidden_size": D, "num_attention_heads": 12, "layer_norm_eps": 1e-12, "num_hidden_layers": 12,
         "fusion_layers": 6, "stride_layer": 3, "text_decode_layers": 12}
    with torch.no_grad():
        sd = build()
        pixels = torch.randn(3, RES, RES, generator=torch.Generator().manual_seed(1))
        ids = torch.tensor([101, 2054, 3609, 2003, 1996, 4937, 1029, 102])
        t0 = time.perf_counter()
        v = R.clip_visual(sd, "visual_encoder.visual.", pixels, 12, RES, {})
        t = R.text_encoder(sd, "text_encoder.", c, ids, 6, {})
        v2, t2 = R.fusion(sd, c, v, t, {})
        mem = torch.cat([v2, t2], 0)
        t1 = time.perf_counter()
        R.beam_search(sd, c, mem, beam=5, max_len=a.steps, min_len=a.steps)
        t2_ = time.perf_counter()
    print(f"  torch {torch.__version__}, {a.threads} threads: end to end {t2_ - t0:.2f} s "
          f"(encode {t1 - t0:.2f} s + beam search, released way, {t2_ - t1:.2f} s)")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes a LLaVA-1.5-7B-shaped llava-hf checkpoint with random bf16 weights (about 14.1 GB).

Real shapes and key names of llava-hf/llava-1.5-7b-hf (old spelling): CLIP ViT-L/14-336 vision
tower (24 layers), 2-layer GELU projector 1024 -> 4096 -> 4096, Vicuna-7B (32 layers, d 4096,
ff 11008, vocab 32064); config.json carries the same few fields as the published file, so the
loader must fill the rest from the HF class defaults. The tokenizer files are copied from a
fixture directory (build/tests/fixtures/llava_hf by default) with <image> and <pad> moved to the
real ids 32000 and 32001, so every id the tokenizer produces fits the 32064 vocabulary rows.

Weights: matrices and embeddings are random bf16 of magnitude [2^-6, 2^-5) with random signs
(sign and mantissa bits from numpy's PCG64), biases of magnitude [2^-10, 2^-9), norm weights 1.
For benchmarks and the 24 GB acceptance run only; never commit the output.

Usage: /usr/bin/python3 tools/make_llava7b_shaped.py --out /tmp/llava7b [--fixture DIR] [--layers L]
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

W, FF_V, HEADS_V, PATCH, IMAGE, LAYERS_V = 1024, 4096, 16, 14, 336, 24
D, FF, LAYERS, VOCAB = 4096, 11008, 32, 32064
IMAGE_TOKEN, PAD_TOKEN = 32000, 32001
MATRIX_EXP, BIAS_EXP = 121, 117  # bf16 exponent fields: 2^-6 and 2^-10


def tensors(lm_layers):
    """(name, shape, kind) in file order; kind is 'm' (random matrix), 'b' (bias) or '1' (ones)."""
    out = []
    vt = "vision_tower.vision_model."
    n_pos = (IMAGE // PATCH) ** 2 + 1
    out += [(vt + "embeddings.class_embedding", [W], "m"),
            (vt + "embeddings.patch_embedding.weight", [W, 3, PATCH, PATCH], "m"),
            (vt + "embeddings.position_embedding.weight", [n_pos, W], "m"),
            (vt + "pre_layrnorm.weight", [W], "1"), (vt + "pre_layrnorm.bias", [W], "b")]
    for i in range(LAYERS_V):
        p = f"{vt}encoder.layers.{i}."
        for m in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += [(p + f"self_attn.{m}.weight", [W, W], "m"), (p + f"self_attn.{m}.bias", [W], "b")]
        out += [(p + "layer_norm1.weight", [W], "1"), (p + "layer_norm1.bias", [W], "b"),
                (p + "mlp.fc1.weight", [FF_V, W], "m"), (p + "mlp.fc1.bias", [FF_V], "b"),
                (p + "mlp.fc2.weight", [W, FF_V], "m"), (p + "mlp.fc2.bias", [W], "b"),
                (p + "layer_norm2.weight", [W], "1"), (p + "layer_norm2.bias", [W], "b")]
    out += [(vt + "post_layernorm.weight", [W], "1"), (vt + "post_layernorm.bias", [W], "b")]
    out += [("multi_modal_projector.linear_1.weight", [D, W], "m"), ("multi_modal_projector.linear_1.bias", [D], "b"),
            ("multi_modal_projector.linear_2.weight", [D, D], "m"), ("multi_modal_projector.linear_2.bias", [D], "b")]
    lm = "language_model.model."
    out.append((lm + "embed_tokens.weight", [VOCAB, D], "m"))
    for i in range(lm_layers):
        p = f"{lm}layers.{i}."
        for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
            out.append((p + f"self_attn.{m}.weight", [D, D], "m"))
        out += [(p + "mlp.gate_proj.weight", [FF, D], "m"), (p + "mlp.up_proj.weight", [FF, D], "m"),
                (p + "mlp.down_proj.weight", [D, FF], "m"),
                (p + "input_layernorm.weight", [D], "1"), (p + "post_attention_layernorm.weight", [D], "1")]
    out += [(lm + "norm.weight", [D], "1"), ("language_model.lm_head.weight", [VOCAB, D], "m")]
    return out


def write_safetensors(path, specs, rng):
    header, off = {}, 0
    for name, shape, _ in specs:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    chunk = 1 << 26
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shape, kind in specs:
            n = int(np.prod(shape))
            for start in range(0, n, chunk):
                m = min(chunk, n - start)
                if kind == "1":
                    f.write(np.full(m, 0x3F80, dtype=np.uint16).tobytes())
                    continue
                bits = rng.integers(0, 1 << 16, size=m, dtype=np.uint16)
                exp = MATRIX_EXP if kind == "m" else BIAS_EXP
                f.write(((bits & 0x807F) | (exp << 7)).astype(np.uint16).tobytes())
    os.replace(path + ".tmp", path)
    return off


def config(lm_layers):
    text = {"_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"],
            "max_position_embeddings": 4096, "model_type": "llama", "rms_norm_eps": 1e-05,
            "torch_dtype": "bfloat16", "vocab_size": VOCAB}
    if lm_layers != LAYERS:
        text["num_hidden_layers"] = lm_layers
    return {
        "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100,
        "image_token_index": IMAGE_TOKEN, "model_type": "llava", "pad_token_id": PAD_TOKEN,
        "projector_hidden_act": "gelu", "text_config": text, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "transformers_version": "4.36.0.dev0",
        "vision_config": {"hidden_size": W, "image_size": IMAGE, "intermediate_size": FF_V,
                          "model_type": "clip_vision_model", "num_attention_heads": HEADS_V,
                          "num_hidden_layers": LAYERS_V, "patch_size": PATCH, "projection_dim": 768,
                          "vocab_size": 32000},
        "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": VOCAB,
    }


def copy_tokenizer(fixture, out):
    for f in ("tokenizer.model", "special_tokens_map.json", "generation_config.json", "preprocessor_config.json",
              "processor_config.json", "chat_template.json"):
        src = os.path.join(fixture, f)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(out, f))
    # The fixture's processor crops to its tiny tower; this tower is 336 (llava-hf's values).
    pre = os.path.join(out, "preprocessor_config.json")
    if os.path.exists(pre):
        with open(pre) as f:
            p = json.load(f)
        p["crop_size"] = {"height": 336, "width": 336}
        p["size"] = {"shortest_edge": 336}
        with open(pre, "w") as f:
            json.dump(p, f, indent=2)
    with open(os.path.join(out, "added_tokens.json"), "w") as f:
        json.dump({"<image>": IMAGE_TOKEN, "<pad>": PAD_TOKEN}, f, indent=2)
    with open(os.path.join(fixture, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    dec = cfg.get("added_tokens_decoder", {})
    moved = {}
    for k, v in dec.items():
        if v.get("content") == "<image>":
            k = str(IMAGE_TOKEN)
        elif v.get("content") == "<pad>":
            k = str(PAD_TOKEN)
        moved[k] = v
    cfg["added_tokens_decoder"] = moved
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    gen = os.path.join(out, "generation_config.json")
    if os.path.exists(gen):
        with open(gen) as f:
            g = json.load(f)
        g["pad_token_id"] = PAD_TOKEN
        with open(gen, "w") as f:
            json.dump(g, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixture", default=os.path.join(os.path.dirname(__file__), "..", "build", "tests", "fixtures",
                                                      "llava_hf"))
    ap.add_argument("--layers", type=int, default=LAYERS, help="language-model depth (32 = the real model)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    specs = tensors(a.layers)
    total = write_safetensors(os.path.join(a.out, "model.safetensors"), specs, np.random.default_rng(a.seed))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config(a.layers), f, indent=2)
    copy_tokenizer(a.fixture, a.out)
    print(f"wrote {a.out}: {len(specs)} tensors, {total / 1e9:.2f} GB of bf16 weights", file=sys.stderr)


if __name__ == "__main__":
    main()

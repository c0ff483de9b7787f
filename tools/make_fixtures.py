#!/usr/bin/python3
"""Generate tiny random checkpoints in the exact published layouts (tests only).

Usage: /usr/bin/python3 tools/make_fixtures.py --out DIR

Writes one sub-directory per fixture (see FIXTURES below and docs in
/work/shared/specs/vlm-architectures.md sections 1-3 and 5) plus DIR/manifest.json, which lists
each fixture's directory, expected family, format and checkpoint files.

Properties:
- Deterministic: fixed seeds, fixed tensor order, fixed zip/JSON layout; two runs give
  byte-identical files (check with sha256sum).  SentencePiece is trained with one thread on a
  generated corpus in a fixed relative path (the path is recorded inside the model proto).
- Idempotent: every fixture sub-directory this script owns is deleted and rewritten; nothing
  else under DIR is touched.
- Needs Debian's python3 (torch 1.13, numpy) and the `spm_train` CLI; no transformers,
  safetensors or tokenizers packages.

Weight lineage built in on purpose (for the lineage feature):
- clip_vision       == llava_hf's vision tower (same values).
- llama             == llava_hf's language model, first 320 vocab rows of embed/lm_head.
- llava_hf_sharded_bf16 == llava_hf cast to bf16.
- llava_original    == llava_hf's projector + language model (first 320 rows) cast to f16.
- mplug_finetuned   == mplug_pretrained + small noise (a "fine-tune"), pretrained-only keys dropped.
- mplug_* text_encoder layers 0..1 == bert layers 0..1 + small noise (mPLUG starts from BERT);
  every other mPLUG tensor is as generated from its own seed.
- llava_hf_newkeys and bert are independent.
Serialisation lives in fixture_writers.py, the tokenizer files in fixture_tokenizers.py.
"""

import argparse
import collections
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_tokenizers import (  # noqa: E402
    IMAGE_TOKEN, LLAVA_CHAT_TEMPLATE, PAD_TOKEN, train_spm, wordpiece_vocab, write_llama_tokenizer)
from fixture_writers import (  # noqa: E402
    write_safetensors, write_sharded_safetensors, to_torch_sd, torch_save, write_json, write_text)

# --------------------------------------------------------------------------------------------
# Tiny configurations (spec section 5, with sizes that are not multiples of 8 where the
# published tiny configs have them).

CLIP_V = dict(hidden=32, image=30, patch=2, ffn=37, layers=2, heads=4, projection=32)
CLIP_V_POS = (CLIP_V["image"] // CLIP_V["patch"]) ** 2 + 1  # 226

LM = dict(hidden=24, ffn=40, layers=2, heads=4, kv_heads=4, vocab=320, hf_vocab=336)
LM_GQA = dict(hidden=24, ffn=40, layers=2, heads=4, kv_heads=2, vocab=320, hf_vocab=336)

BERT = dict(hidden=32, layers=5, heads=4, ffn=37, vocab=1124, type_vocab=16, max_pos=512)

MPLUG_V = dict(width=48, layers=2, heads=4, patch=4, res=16, embed=20)
MPLUG_T = dict(width=16, layers=1, heads=2, vocab=50, context=8)  # unused CLIP text tower
MPLUG_B = dict(hidden=32, heads=4, ffn=37, vocab=130, max_pos=40, type_vocab=2,
               text_layers=2, fusion_modules=6, fusion_layers=3, stride=2, dec_layers=2)
# mplug_large: mPLUG-large-like schedule (stride == fusion_layers: no connected layer), and a
# config.yaml image_res (24) above the checkpoint's positional grid (16 / 4 = 4), so the table is
# resized bilinearly at load, as when a pretrained checkpoint runs at the task resolution.
MPLUG_B_LARGE = dict(MPLUG_B, stride=3)
MPLUG_LARGE_RES = 24
# mplug_base: vision width == BERT hidden (like mPLUG-base's 768 == 768), so no visn_fc.
MPLUG_V_BASE = dict(MPLUG_V, width=32)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

TRANSFORMERS_VERSION = "4.36.0.dev0"


# --------------------------------------------------------------------------------------------
# Random tensors

class Gen:
    """Deterministic float32 tensor source (numpy legacy RandomState is stable across versions)."""

    def __init__(self, seed):
        self.rs = np.random.RandomState(seed)

    def normal(self, shape, std):
        return (self.rs.standard_normal(shape) * std).astype(np.float32)

    def linear(self, out_f, in_f):
        return self.normal((out_f, in_f), 1.0 / np.sqrt(in_f))

    def bias(self, n):
        return self.normal((n,), 0.02)

    def norm_w(self, n):
        return (1.0 + self.rs.standard_normal(n) * 0.05).astype(np.float32)

    def norm_b(self, n):
        return self.normal((n,), 0.02)


def put_ln(sd, g, prefix, n, w="weight", b="bias"):
    sd[f"{prefix}.{w}"] = g.norm_w(n)
    sd[f"{prefix}.{b}"] = g.norm_b(n)


def put_linear(sd, g, prefix, out_f, in_f, bias=True):
    sd[f"{prefix}.weight"] = g.linear(out_f, in_f)
    if bias:
        sd[f"{prefix}.bias"] = g.bias(out_f)


# --------------------------------------------------------------------------------------------
# Model state dicts (numpy arrays; int64 buffers stay int64)

def hf_clip_vision(g, prefix, cfg, position_ids=True):
    w, f = cfg["hidden"], cfg["ffn"]
    n = (cfg["image"] // cfg["patch"]) ** 2 + 1
    sd = collections.OrderedDict()
    sd[f"{prefix}embeddings.class_embedding"] = g.normal((w,), 0.5)
    sd[f"{prefix}embeddings.patch_embedding.weight"] = g.normal((w, 3, cfg["patch"], cfg["patch"]),
                                                                1.0 / np.sqrt(3 * cfg["patch"] ** 2))
    sd[f"{prefix}embeddings.position_embedding.weight"] = g.normal((n, w), 0.1)
    if position_ids:
        sd[f"{prefix}embeddings.position_ids"] = np.arange(n, dtype=np.int64).reshape(1, n)
    put_ln(sd, g, f"{prefix}pre_layrnorm", w)
    for i in range(cfg["layers"]):
        p = f"{prefix}encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            put_linear(sd, g, f"{p}.self_attn.{proj}", w, w)
        put_ln(sd, g, f"{p}.layer_norm1", w)
        put_linear(sd, g, f"{p}.mlp.fc1", f, w)
        put_linear(sd, g, f"{p}.mlp.fc2", w, f)
        put_ln(sd, g, f"{p}.layer_norm2", w)
    put_ln(sd, g, f"{prefix}post_layernorm", w)
    return sd


def llama_layers(g, prefix, cfg, inv_freq=False):
    d, f = cfg["hidden"], cfg["ffn"]
    hd = d // cfg["heads"]
    kv = cfg["kv_heads"] * hd
    sd = collections.OrderedDict()
    for i in range(cfg["layers"]):
        p = f"{prefix}layers.{i}"
        put_linear(sd, g, f"{p}.self_attn.q_proj", d, d, bias=False)
        put_linear(sd, g, f"{p}.self_attn.k_proj", kv, d, bias=False)
        put_linear(sd, g, f"{p}.self_attn.v_proj", kv, d, bias=False)
        put_linear(sd, g, f"{p}.self_attn.o_proj", d, d, bias=False)
        if inv_freq:
            sd[f"{p}.self_attn.rotary_emb.inv_freq"] = rope_inv_freq(hd)
        put_linear(sd, g, f"{p}.mlp.gate_proj", f, d, bias=False)
        put_linear(sd, g, f"{p}.mlp.up_proj", f, d, bias=False)
        put_linear(sd, g, f"{p}.mlp.down_proj", d, f, bias=False)
        sd[f"{p}.input_layernorm.weight"] = g.norm_w(d)
        sd[f"{p}.post_attention_layernorm.weight"] = g.norm_w(d)
    return sd


def rope_inv_freq(head_dim, theta=10000.0):
    return (1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))).astype(np.float32)


def padded_embedding(g, real_rows, total_rows, d):
    """Rows [real_rows, total_rows) sampled from a Gaussian fitted to the real rows (as llava-hf)."""
    real = g.normal((real_rows, d), 0.5)
    mu = real.astype(np.float64).mean(axis=0)
    cov = np.cov(real.astype(np.float64), rowvar=False)
    chol = np.linalg.cholesky(cov + 1e-6 * np.eye(d))
    extra = (mu + g.rs.standard_normal((total_rows - real_rows, d)) @ chol.T).astype(np.float32)
    return np.concatenate([real, extra], axis=0)


def llava_hf_state(seed, lm_cfg, new_keys):
    """LlavaForConditionalGeneration state dict, old spelling unless new_keys."""
    g = Gen(seed)
    d, v, hv = lm_cfg["hidden"], lm_cfg["vocab"], lm_cfg["hf_vocab"]
    vt = "model.vision_tower." if new_keys else "vision_tower."
    mp = "model.multi_modal_projector." if new_keys else "multi_modal_projector."
    lmp = "model.language_model." if new_keys else "language_model.model."
    head = "lm_head.weight" if new_keys else "language_model.lm_head.weight"

    sd = collections.OrderedDict()
    sd.update(hf_clip_vision(g, vt + "vision_model.", CLIP_V, position_ids=not new_keys))
    put_linear(sd, g, mp + "linear_1", d, CLIP_V["hidden"])
    put_linear(sd, g, mp + "linear_2", d, d)
    sd[lmp + "embed_tokens.weight"] = padded_embedding(g, v, hv, d)
    sd.update(llama_layers(g, lmp, lm_cfg))
    sd[lmp + "norm.weight"] = g.norm_w(d)
    head_rows = g.linear(v, d)
    mu, sdv = head_rows.mean(axis=0), head_rows.std(axis=0)
    extra = (mu + g.rs.standard_normal((hv - v, d)) * sdv).astype(np.float32)
    sd[head] = np.concatenate([head_rows, extra], axis=0)
    return sd


def bert_encoder_layer(g, sd, p, cfg, cross=False, enc_width=None, w="weight", b="bias"):
    h, f = cfg["hidden"], cfg["ffn"]
    for q in ("query", "key", "value"):
        put_linear(sd, g, f"{p}.attention.self.{q}", h, h)
    put_linear(sd, g, f"{p}.attention.output.dense", h, h)
    put_ln(sd, g, f"{p}.attention.output.LayerNorm", h, w, b)
    if cross:
        put_linear(sd, g, f"{p}.crossattention.self.query", h, h)
        put_linear(sd, g, f"{p}.crossattention.self.key", h, enc_width)
        put_linear(sd, g, f"{p}.crossattention.self.value", h, enc_width)
        put_linear(sd, g, f"{p}.crossattention.output.dense", h, h)
        put_ln(sd, g, f"{p}.crossattention.output.LayerNorm", h, w, b)
    put_linear(sd, g, f"{p}.intermediate.dense", f, h)
    put_linear(sd, g, f"{p}.output.dense", h, f)
    put_ln(sd, g, f"{p}.output.LayerNorm", h, w, b)


def bert_embeddings(g, sd, p, cfg, position_ids, w="weight", b="bias"):
    h = cfg["hidden"]
    sd[f"{p}.word_embeddings.weight"] = g.normal((cfg["vocab"], h), 0.5)
    sd[f"{p}.position_embeddings.weight"] = g.normal((cfg["max_pos"], h), 0.1)
    sd[f"{p}.token_type_embeddings.weight"] = g.normal((cfg["type_vocab"], h), 0.1)
    put_ln(sd, g, f"{p}.LayerNorm", h, w, b)
    if position_ids:
        sd[f"{p}.position_ids"] = np.arange(cfg["max_pos"], dtype=np.int64).reshape(1, -1)


def bert_state(seed):
    """bert-base-uncased hub style: `bert.` prefix, LayerNorm gamma/beta, MLM + NSP heads."""
    g = Gen(seed)
    h = BERT["hidden"]
    sd = collections.OrderedDict()
    bert_embeddings(g, sd, "bert.embeddings", BERT, position_ids=False, w="gamma", b="beta")
    for i in range(BERT["layers"]):
        bert_encoder_layer(g, sd, f"bert.encoder.layer.{i}", BERT, w="gamma", b="beta")
    put_linear(sd, g, "bert.pooler.dense", h, h)
    sd["cls.predictions.bias"] = g.bias(BERT["vocab"])
    put_linear(sd, g, "cls.predictions.transform.dense", h, h)
    put_ln(sd, g, "cls.predictions.transform.LayerNorm", h, "gamma", "beta")
    sd["cls.predictions.decoder.weight"] = "bert.embeddings.word_embeddings.weight"  # tied
    put_linear(sd, g, "cls.seq_relationship", 2, h)
    return sd


def openai_resblock(g, sd, p, w):
    put_ln(sd, g, f"{p}.ln_1", w)
    sd[f"{p}.attn.in_proj_weight"] = g.linear(3 * w, w)
    sd[f"{p}.attn.in_proj_bias"] = g.bias(3 * w)
    put_linear(sd, g, f"{p}.attn.out_proj", w, w)
    put_ln(sd, g, f"{p}.ln_2", w)
    put_linear(sd, g, f"{p}.mlp.c_fc", 4 * w, w)
    put_linear(sd, g, f"{p}.mlp.c_proj", w, 4 * w)


def mplug_pretrained_state(seed, V=None, B=None):
    """mPLUG state dict in the PRETRAINED spelling (text_encoder.bert.*, fusion_encoder.fusion.*)."""
    g = Gen(seed)
    V, T, B = V or MPLUG_V, MPLUG_T, B or MPLUG_B
    w, h = V["width"], B["hidden"]
    n_tok = (V["res"] // V["patch"]) ** 2 + 1
    sd = collections.OrderedDict()
    # visual_encoder = whole OpenAI CLIP model (text tower present but unused)
    sd["visual_encoder.positional_embedding"] = g.normal((T["context"], T["width"]), 0.01)
    sd["visual_encoder.text_projection"] = g.linear(T["width"], V["embed"])
    sd["visual_encoder.logit_scale"] = np.array(np.log(1 / 0.07), dtype=np.float32)
    sd["visual_encoder.visual.class_embedding"] = g.normal((w,), 0.5)
    sd["visual_encoder.visual.positional_embedding"] = g.normal((n_tok, w), 0.1)
    sd["visual_encoder.visual.proj"] = g.linear(w, V["embed"])
    sd["visual_encoder.visual.conv1.weight"] = g.normal((w, 3, V["patch"], V["patch"]),
                                                        1.0 / np.sqrt(3 * V["patch"] ** 2))
    put_ln(sd, g, "visual_encoder.visual.ln_pre", w)
    for i in range(V["layers"]):
        openai_resblock(g, sd, f"visual_encoder.visual.transformer.resblocks.{i}", w)
    put_ln(sd, g, "visual_encoder.visual.ln_post", w)
    sd["visual_encoder.token_embedding.weight"] = g.normal((T["vocab"], T["width"]), 0.02)
    for i in range(T["layers"]):
        openai_resblock(g, sd, f"visual_encoder.transformer.resblocks.{i}", T["width"])
    put_ln(sd, g, "visual_encoder.ln_final", T["width"])
    # large-style visual projection into the BERT width (vision width != BERT hidden)
    if w != h:
        put_linear(sd, g, "visn_fc", h, w)
        put_ln(sd, g, "visn_layer_norm", h)
    # text encoder (BertModel, no pooler, no cross-attention)
    bert_embeddings(g, sd, "text_encoder.bert.embeddings", B, position_ids=True)
    for i in range(B["text_layers"]):
        bert_encoder_layer(g, sd, f"text_encoder.bert.encoder.layer.{i}", B)
    # fusion encoder: embeddings (unused) + num_hidden_layers modules, the last fusion_layers run
    bert_embeddings(g, sd, "fusion_encoder.fusion.embeddings", B, position_ids=True)
    for i in range(B["fusion_modules"]):
        bert_encoder_layer(g, sd, f"fusion_encoder.fusion.encoder.layer.{i}", B, cross=True, enc_width=h)
    # answer decoder (BertLMHeadModel)
    bert_embeddings(g, sd, "text_decoder.bert.embeddings", B, position_ids=True)
    for i in range(B["dec_layers"]):
        bert_encoder_layer(g, sd, f"text_decoder.bert.encoder.layer.{i}", B, cross=True, enc_width=h)
    sd["text_decoder.cls.predictions.bias"] = g.bias(B["vocab"])
    put_linear(sd, g, "text_decoder.cls.predictions.transform.dense", h, h)
    put_ln(sd, g, "text_decoder.cls.predictions.transform.LayerNorm", h)
    sd["text_decoder.cls.predictions.decoder.weight"] = "text_decoder.bert.embeddings.word_embeddings.weight"
    sd["text_decoder.cls.predictions.decoder.bias"] = "text_decoder.cls.predictions.bias"
    # momentum copies (a few)
    sd["visual_encoder_m.visual.conv1.weight"] = sd["visual_encoder.visual.conv1.weight"].copy()
    sd["text_encoder_m.bert.embeddings.word_embeddings.weight"] = \
        sd["text_encoder.bert.embeddings.word_embeddings.weight"].copy()
    # pretraining-only keys
    e = 16
    put_linear(sd, g, "vision_proj", e, h)
    put_linear(sd, g, "text_proj", e, h)
    put_linear(sd, g, "itm_head", 2, h)
    sd["temp"] = np.array(0.07, dtype=np.float32)
    sd["image_queue"] = g.normal((e, 8), 0.25)
    sd["text_queue"] = g.normal((e, 8), 0.25)
    sd["queue_ptr"] = np.zeros((1,), dtype=np.int64)
    return sd


def graft_bert_layers(pre, bert_sd, seed):
    """mPLUG's text encoder layers 0..text_layers-1 := bert's layers + small noise (in place)."""
    g = Gen(seed)
    for i in range(MPLUG_B["text_layers"]):
        src = f"bert.encoder.layer.{i}."
        for k, v in bert_sd.items():
            if not k.startswith(src) or isinstance(v, str):
                continue
            rest = k[len(src):]
            if rest.endswith(".gamma"):
                rest = rest[:-len("gamma")] + "weight"
            elif rest.endswith(".beta"):
                rest = rest[:-len("beta")] + "bias"
            nk = f"text_encoder.bert.encoder.layer.{i}.{rest}"
            assert nk in pre and pre[nk].shape == v.shape, nk
            pre[nk] = (v + g.normal(v.shape, 0.01 * float(np.std(v)) + 1e-4)).astype(np.float32)


PRETRAIN_ONLY = {"vision_proj", "text_proj", "itm_head", "temp", "image_queue", "text_queue", "queue_ptr"}


def mplug_finetune_key(k):
    """The fine-tuning scripts' rename (spec 2.6)."""
    if ("fusion" in k or "bert" in k) and "decode" not in k:
        return k.replace("fusion.", "").replace("bert.", "")
    return k


def mplug_finetuned_state(pre, seed):
    g = Gen(seed)
    sd = collections.OrderedDict()
    renamed = {}
    for k, v in pre.items():
        if k.split(".")[0] in PRETRAIN_ONLY:
            continue
        nk = mplug_finetune_key(k)
        renamed[k] = nk
        if isinstance(v, str):
            sd[nk] = v  # alias, resolved below
        elif v.dtype == np.float32 and v.ndim > 0 and not k.split(".")[0].endswith("_m"):
            sd[nk] = (v + g.normal(v.shape, 0.01 * float(np.std(v)) + 1e-4)).astype(np.float32)
        else:
            sd[nk] = v.copy()
    for k, v in sd.items():
        if isinstance(v, str):
            sd[k] = renamed[v]
    return sd


# --------------------------------------------------------------------------------------------
# Config files

def clip_vision_config_dict():
    return {
        "hidden_size": CLIP_V["hidden"],
        "image_size": CLIP_V["image"],
        "intermediate_size": CLIP_V["ffn"],
        "model_type": "clip_vision_model",
        "num_attention_heads": CLIP_V["heads"],
        "num_hidden_layers": CLIP_V["layers"],
        "patch_size": CLIP_V["patch"],
        "projection_dim": CLIP_V["projection"],
    }


def llava_hf_config(lm_cfg, new_keys):
    text = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": lm_cfg["hidden"],
        "intermediate_size": lm_cfg["ffn"],
        "max_position_embeddings": 4096,
        "model_type": "llama",
        "num_attention_heads": lm_cfg["heads"],
        "num_hidden_layers": lm_cfg["layers"],
        "num_key_value_heads": lm_cfg["kv_heads"],
        "rms_norm_eps": 1e-05,
        "torch_dtype": "float16",
        "vocab_size": lm_cfg["hf_vocab"],
    }
    vision = clip_vision_config_dict()
    vision["vocab_size"] = 32000  # llava-hf carries this irrelevant field
    cfg = {
        "architectures": ["LlavaForConditionalGeneration"],
        "ignore_index": -100,
        "image_token_index": IMAGE_TOKEN,
        "model_type": "llava",
        "pad_token_id": PAD_TOKEN,
        "projector_hidden_act": "gelu",
        "text_config": text,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
        "transformers_version": TRANSFORMERS_VERSION,
        "vision_config": vision,
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": lm_cfg["hf_vocab"],
    }
    if new_keys:  # newer saves (transformers >= 4.52)
        cfg["image_seq_length"] = (CLIP_V["image"] // CLIP_V["patch"]) ** 2
        cfg["multimodal_projector_bias"] = True
        cfg["transformers_version"] = "4.52.0"
        cfg["torch_dtype"] = "float32"
        del cfg["vocab_size"]
    return cfg


def write_llava_hf_side_files(d, spm_bytes, new_keys=False):
    write_llama_tokenizer(d, spm_bytes, llava_hf=True)
    write_json(os.path.join(d, "generation_config.json"),
               {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2,
                "pad_token_id": PAD_TOKEN, "transformers_version": TRANSFORMERS_VERSION})
    pre = preprocessor_config()
    pre["processor_class"] = "LlavaProcessor"
    write_json(os.path.join(d, "preprocessor_config.json"), pre)
    write_json(os.path.join(d, "processor_config.json"),
               {"image_token": "<image>", "patch_size": CLIP_V["patch"], "processor_class": "LlavaProcessor",
                "vision_feature_select_strategy": "default"})
    write_json(os.path.join(d, "chat_template.json"), {"chat_template": LLAVA_CHAT_TEMPLATE})


def preprocessor_config():
    return {
        "crop_size": {"height": CLIP_V["image"], "width": CLIP_V["image"]},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": CLIP_STD,
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": CLIP_V["image"]},
    }


def llama_config(vocab):
    return {
        "architectures": ["LlamaForCausalLM"],
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": LM["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": LM["ffn"],
        "max_position_embeddings": 4096,
        "model_type": "llama",
        "num_attention_heads": LM["heads"],
        "num_hidden_layers": LM["layers"],
        "num_key_value_heads": LM["kv_heads"],
        "pad_token_id": 0,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": vocab,
    }


def mplug_bert_config(B=None):
    B = B or MPLUG_B
    return {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": B["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": B["ffn"],
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": B["max_pos"],
        "model_type": "bert",
        "num_attention_heads": B["heads"],
        "num_hidden_layers": B["fusion_modules"],
        "pad_token_id": 0,
        "type_vocab_size": B["type_vocab"],
        "vocab_size": B["vocab"],
        "encoder_width": B["hidden"],
        "add_cross_attention": True,
        "text_encoder_layers": B["text_layers"],
        "fusion_layers": B["fusion_layers"],
        "text_decode_layers": B["dec_layers"],
        "stride_layer": B["stride"],
    }


MPLUG_YAML = """\
# mPLUG VQA config (tiny synthetic model; field names as in AliceMind's configs/vqa_mplug_*.yaml)
train_file: ['data/vqa_train.json']
test_file: ['data/vqa_test.json']
answer_list: 'data/answer_list.json'
vqa_root: 'images/'
bert_config: 'config_bert.json'

image_res: {res}
vision_width: {width}
vision_heads: {heads}  # crosstrace extension for tiny models (released configs: vision_width / 64)
use_checkpoint: true
clip_name: "tiny"
batch_size_train: 2
batch_size_test: 2
k_test: 8
alpha: 0.4
distill: true
warm_up: true
eos: '[SEP]'
bos: '[CLS]'
prompt: ''
add_ocr: false
add_object: false
min_length: 1
max_length: 10
beam_size: 5
text_encoder: 'bert-base-uncased'
text_decoder: 'bert-base-uncased'

optimizer: {{opt: adamW, lr1: 3e-5, lr2: 5e-6, weight_decay: 0.02}}
schedular: {{sched: cosine, lr: 3e-5, epochs: 8, min_lr: 1e-6, decay_rate: 1, warmup_lr: 1e-5, warmup_epochs: 4, cooldown_epochs: 0}}
"""


# --------------------------------------------------------------------------------------------
# Fixtures

def fresh_dir(out, name):
    d = os.path.join(out, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory (fixture sub-directories are overwritten)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    manifest = []

    def add(name, family, fmt, files, dtype, note, checkpoint=None):
        manifest.append({"name": name, "dir": name, "family": family, "format": fmt,
                         "files": files, "dtype": dtype, "note": note,
                         **({"checkpoint": checkpoint} if checkpoint else {})})

    spm = train_spm()

    # --- llava_hf (old spelling, f32, single file)
    llava = llava_hf_state(1001, LM, new_keys=False)
    d = fresh_dir(out, "llava_hf")
    write_safetensors(os.path.join(d, "model.safetensors"), llava, "f32")
    write_json(os.path.join(d, "config.json"), llava_hf_config(LM, new_keys=False))
    write_llava_hf_side_files(d, spm)
    add("llava_hf", "llava", "safetensors", ["model.safetensors"], "F32",
        "LlavaForConditionalGeneration, old key spelling")

    # --- llava_hf_newkeys (new spelling, GQA, f32)
    d = fresh_dir(out, "llava_hf_newkeys")
    write_safetensors(os.path.join(d, "model.safetensors"), llava_hf_state(1002, LM_GQA, new_keys=True), "f32")
    write_json(os.path.join(d, "config.json"), llava_hf_config(LM_GQA, new_keys=True))
    write_llava_hf_side_files(d, spm, new_keys=True)
    add("llava_hf_newkeys", "llava", "safetensors", ["model.safetensors"], "F32",
        "LlavaForConditionalGeneration, transformers>=4.52 key spelling, 4 heads / 2 kv heads")

    # --- llava_hf_sharded_bf16 (old spelling, bf16, 3 shards) == llava_hf in bf16
    d = fresh_dir(out, "llava_hf_sharded_bf16")
    files = write_sharded_safetensors(d, llava, "bf16", 3)
    cfg = llava_hf_config(LM, new_keys=False)
    cfg["torch_dtype"] = "bfloat16"
    write_json(os.path.join(d, "config.json"), cfg)
    write_llava_hf_side_files(d, spm)
    add("llava_hf_sharded_bf16", "llava", "safetensors-sharded", files, "BF16",
        "llava_hf cast to bf16, 3 shards + index")

    # --- llava_original (liuhaotian layout, f16, 2 torch shards) == llava_hf projector + LM
    V = LM["vocab"]
    orig = collections.OrderedDict()
    orig["model.embed_tokens.weight"] = llava["language_model.model.embed_tokens.weight"][:V]
    for k, v in llava.items():
        if k.startswith("language_model.model.layers."):
            nk = k[len("language_model."):]
            orig[nk] = v
            if nk.endswith(".self_attn.o_proj.weight"):
                orig[nk.replace("o_proj.weight", "rotary_emb.inv_freq")] = rope_inv_freq(LM["hidden"] // LM["heads"])
    orig["model.norm.weight"] = llava["language_model.model.norm.weight"]
    orig["model.mm_projector.0.weight"] = llava["multi_modal_projector.linear_1.weight"]
    orig["model.mm_projector.0.bias"] = llava["multi_modal_projector.linear_1.bias"]
    orig["model.mm_projector.2.weight"] = llava["multi_modal_projector.linear_2.weight"]
    orig["model.mm_projector.2.bias"] = llava["multi_modal_projector.linear_2.bias"]
    orig["lm_head.weight"] = llava["language_model.lm_head.weight"][:V]
    d = fresh_dir(out, "llava_original")
    names = list(orig)
    sizes = {n: (orig[n].size * (4 if n.endswith("inv_freq") else 2)) for n in names}
    # shard 1: embeddings + layer 0; shard 2: the rest (projector last, as in the published files)
    cut = next(i for i, n in enumerate(names) if n.startswith("model.layers.1."))
    groups = [names[:cut], names[cut:]]
    weight_map, files = {}, []
    for i, group in enumerate(groups):
        fname = f"pytorch_model-{i + 1:05d}-of-00002.bin"
        torch_save(os.path.join(d, fname), to_torch_sd({n: orig[n] for n in group}, "f16"))
        files.append(fname)
        weight_map.update({n: fname for n in group})
    write_json(os.path.join(d, "pytorch_model.bin.index.json"),
               {"metadata": {"total_size": sum(sizes.values())}, "weight_map": dict(sorted(weight_map.items()))})
    files.append("pytorch_model.bin.index.json")
    ocfg = llama_config(V)
    ocfg.update({
        "_name_or_path": "./checkpoints/llava-tiny-v1.5",
        "architectures": ["LlavaLlamaForCausalLM"],
        "model_type": "llava_llama",
        "freeze_mm_mlp_adapter": False,
        "image_aspect_ratio": "pad",
        "mm_hidden_size": CLIP_V["hidden"],
        "mm_patch_merge_type": "flat",
        "mm_projector_lr": None,
        "mm_projector_type": "mlp2x_gelu",
        "mm_use_im_patch_token": False,
        "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "mm_vision_tower": "openai/clip-vit-large-patch14-336",
        "tokenizer_model_max_length": 2048,
        "tokenizer_padding_side": "right",
        "torch_dtype": "float16",
        "tune_mm_mlp_adapter": False,
        "use_mm_proj": True,
    })
    write_json(os.path.join(d, "config.json"), ocfg)
    write_llama_tokenizer(d, spm, llava_hf=False)
    write_json(os.path.join(d, "generation_config.json"),
               {"bos_token_id": 1, "eos_token_id": 2, "max_length": 4096, "pad_token_id": 0,
                "transformers_version": "4.31.0"})
    add("llava_original", "llava", "pytorch-zip-sharded", files, "F16",
        "liuhaotian layout; no vision tower (loaded from mm_vision_tower); inv_freq buffers f32")

    # --- clip_vision == llava_hf's vision tower
    d = fresh_dir(out, "clip_vision")
    clip = collections.OrderedDict((k[len("vision_tower."):], v) for k, v in llava.items()
                                   if k.startswith("vision_tower."))
    write_safetensors(os.path.join(d, "model.safetensors"), clip, "f32")
    ccfg = clip_vision_config_dict()
    ccfg.update({"architectures": ["CLIPVisionModel"], "attention_dropout": 0.0, "dropout": 0.0,
                 "hidden_act": "quick_gelu", "initializer_factor": 1.0, "initializer_range": 0.02,
                 "layer_norm_eps": 1e-05, "num_channels": 3, "torch_dtype": "float32",
                 "transformers_version": TRANSFORMERS_VERSION})
    write_json(os.path.join(d, "config.json"), ccfg)
    write_json(os.path.join(d, "preprocessor_config.json"), preprocessor_config())
    add("clip_vision", "clip_vision", "safetensors", ["model.safetensors"], "F32",
        "CLIPVisionModel; identical values to llava_hf's vision tower")

    # --- llama == llava_hf's LM (first 320 rows)
    d = fresh_dir(out, "llama")
    lsd = collections.OrderedDict()
    for k, v in llava.items():
        if k.startswith("language_model.model."):
            lsd[k[len("language_model."):]] = v[:V] if k.endswith("embed_tokens.weight") else v
    lsd["lm_head.weight"] = llava["language_model.lm_head.weight"][:V]
    write_safetensors(os.path.join(d, "model.safetensors"), lsd, "f32")
    write_json(os.path.join(d, "config.json"), llama_config(V))
    write_llama_tokenizer(d, spm, llava_hf=False)
    write_json(os.path.join(d, "generation_config.json"),
               {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2,
                "transformers_version": TRANSFORMERS_VERSION})
    add("llama", "llama", "safetensors", ["model.safetensors"], "F32",
        "LlamaForCausalLM; identical to llava_hf's language model (first 320 vocab rows)")

    # --- bert (bert-base-uncased hub style)
    d = fresh_dir(out, "bert")
    bert_sd = bert_state(3001)
    torch_save(os.path.join(d, "pytorch_model.bin"), to_torch_sd(bert_sd, "f32"))
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1,
        "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": BERT["hidden"], "initializer_range": 0.02, "intermediate_size": BERT["ffn"],
        "layer_norm_eps": 1e-12, "max_position_embeddings": BERT["max_pos"], "model_type": "bert",
        "num_attention_heads": BERT["heads"], "num_hidden_layers": BERT["layers"], "pad_token_id": 0,
        "position_embedding_type": "absolute", "transformers_version": "4.6.0.dev0",
        "type_vocab_size": BERT["type_vocab"], "use_cache": True, "vocab_size": BERT["vocab"]})
    write_text(os.path.join(d, "vocab.txt"), wordpiece_vocab(BERT["vocab"]))
    write_json(os.path.join(d, "tokenizer_config.json"), {"do_lower_case": True, "model_max_length": 512})
    add("bert", "bert", "pytorch-zip", ["pytorch_model.bin"], "F32",
        "BertForMaskedLM hub style: bert. prefix, LayerNorm gamma/beta, tied decoder")

    # --- mPLUG pretrained and fine-tuned
    pre = mplug_pretrained_state(4001)
    graft_bert_layers(pre, bert_sd, 4003)
    fine = mplug_finetuned_state(pre, 4002)
    mvocab = wordpiece_vocab(MPLUG_B["vocab"])
    yaml_text = MPLUG_YAML.format(res=MPLUG_V["res"], width=MPLUG_V["width"], heads=MPLUG_V["heads"])
    for name, sd, key, note in (
            ("mplug_finetuned", fine, "model", "fine-tuned key spelling, state dict under 'model'"),
            ("mplug_pretrained", pre, "module", "pretrained key spelling (text_encoder.bert., "
                                                "fusion_encoder.fusion.), under 'module', pretraining-only keys")):
        d = fresh_dir(out, name)
        torch_save(os.path.join(d, "mplug_tiny.pth"), {key: to_torch_sd(sd, "f32")}, archive_name="archive")
        write_json(os.path.join(d, "config_bert.json"), mplug_bert_config(), sort_keys=False)
        write_text(os.path.join(d, "config.yaml"), yaml_text)
        write_text(os.path.join(d, "vocab.txt"), mvocab)
        add(name, "mplug", "pytorch-zip", ["mplug_tiny.pth"], "F32", note, checkpoint="mplug_tiny.pth")

    # --- mplug_large (large-like schedule, image_res above the stored grid) and mplug_base (no visn_fc)
    for name, seed, V, B, res, key, note in (
            ("mplug_large", 4101, MPLUG_V, MPLUG_B_LARGE, MPLUG_LARGE_RES, "model",
             "pretrained spelling; stride 3 == fusion_layers 3 (no connected layer, like mPLUG-large); "
             "config.yaml image_res 24 over a 4x4 positional grid (resized at load)"),
            ("mplug_base", 4201, MPLUG_V_BASE, MPLUG_B, MPLUG_V["res"], "module",
             "fine-tuned spelling; vision width == BERT hidden (no visn_fc, like mPLUG-base)")):
        sd = mplug_pretrained_state(seed, V, B)
        if name == "mplug_large":
            # favour [SEP] (102) so that beam search ends early and records [SEP] hypotheses
            sd["text_decoder.cls.predictions.bias"][102] += 8.0
        if name == "mplug_base":
            sd = mplug_finetuned_state(sd, seed + 1)
        d = fresh_dir(out, name)
        torch_save(os.path.join(d, "mplug_tiny.pth"), {key: to_torch_sd(sd, "f32")}, archive_name="archive")
        write_json(os.path.join(d, "config_bert.json"), mplug_bert_config(B), sort_keys=False)
        write_text(os.path.join(d, "config.yaml"), MPLUG_YAML.format(res=res, width=V["width"], heads=V["heads"]))
        write_text(os.path.join(d, "vocab.txt"), mvocab)
        add(name, "mplug", "pytorch-zip", ["mplug_tiny.pth"], "F32", note, checkpoint="mplug_tiny.pth")

    write_json(os.path.join(out, "manifest.json"), {"version": 1, "fixtures": manifest}, sort_keys=False)


if __name__ == "__main__":
    main()

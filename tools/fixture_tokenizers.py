"""Tokenizer files for tools/make_fixtures.py: a small sentencepiece model trained (with Debian's
spm_train) on a fixed pseudo-English corpus, the llava-hf / LLaMA tokenizer side files around it, and a
BERT WordPiece vocabulary, all deterministic."""
import os
import random
import subprocess
import sys
import tempfile

from fixture_writers import write_json, write_text

# The sentencepiece model's size; llava-hf adds <image> and <pad> right after it.
SPM_VOCAB = 320
IMAGE_TOKEN = 320
PAD_TOKEN = 321


WORDS = (
    "the a an and or but of to in on at by for with from over under near into onto about "
    "cat dog bird horse cow sheep fish man woman child boy girl person people player team "
    "red blue green yellow white black brown orange purple gray pink small large big tall "
    "short old young happy sad fast slow hot cold wet dry bright dark round square long "
    "is are was were has have had sits stands runs walks jumps eats drinks holds looks plays "
    "table chair bed car bus train bike boat plane road street tree grass sky cloud sun water "
    "beach field park room kitchen window door wall floor picture image photo screen sign "
    "what where who how many which color there this that these those one two three four five "
    "ball hat shirt shoe bag cup plate bowl pizza cake apple banana sandwich phone laptop book "
    "question answer describe show tell assistant user see seen looking playing running sitting"
).split()


def corpus_text():
    rnd = random.Random(20240501)
    lines = []
    for i in range(2500):
        n = rnd.randint(4, 14)
        ws = [rnd.choice(WORDS) for _ in range(n)]
        # lowercase, no digits: the alphabet must leave room for merges in 320 - 259 pieces
        s = " ".join(ws) + rnd.choice([".", ".", ".", "?", "!", ","])
        if rnd.random() < 0.2:
            s = "USER: " + s + " ASSISTANT:"
        lines.append(s)
    return "\n".join(lines) + "\n"


def train_spm():
    """Train the tiny LLaMA-style SentencePiece BPE model; returns its bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        write_text(os.path.join(tmp, "corpus.txt"), corpus_text())
        cmd = ["spm_train", "--input=corpus.txt", "--model_prefix=tokenizer", "--model_type=bpe",
               f"--vocab_size={SPM_VOCAB}", "--byte_fallback=true", "--bos_id=1", "--eos_id=2",
               "--unk_id=0", "--pad_id=-1", "--num_threads=1", "--input_sentence_size=0",
               "--shuffle_input_sentence=false", "--character_coverage=1.0",
               "--split_digits=true", "--allow_whitespace_only_pieces=true",
               "--remove_extra_whitespaces=false", "--normalization_rule_name=identity"]
        r = subprocess.run(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode("utf-8", "replace"))
            raise SystemExit("make_fixtures: spm_train failed")
        with open(os.path.join(tmp, "tokenizer.model"), "rb") as f:
            return f.read()


def added_token(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}


LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'].upper() + ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}"
    "{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}{{ '<image>\\n' }}{% endif %}{% endfor %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def write_llama_tokenizer(d, spm_bytes, llava_hf):
    with open(os.path.join(d, "tokenizer.model"), "wb") as f:
        f.write(spm_bytes)
    decoder = {"0": added_token("<unk>"), "1": added_token("<s>"), "2": added_token("</s>")}
    cfg = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": False,
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    special = {"bos_token": added_token("<s>"), "eos_token": added_token("</s>"),
               "unk_token": added_token("<unk>")}
    for s in special.values():
        del s["special"]
    if llava_hf:
        decoder[str(IMAGE_TOKEN)] = added_token("<image>")
        decoder[str(PAD_TOKEN)] = added_token("<pad>")
        cfg.update({"model_max_length": 1000000000000000019884624838656, "pad_token": "<pad>",
                    "padding_side": "left", "processor_class": "LlavaProcessor",
                    "trust_remote_code": False})
        special["pad_token"] = "<pad>"
        write_json(os.path.join(d, "added_tokens.json"), {"<image>": IMAGE_TOKEN, "<pad>": PAD_TOKEN})
    else:
        cfg.update({"model_max_length": 2048, "pad_token": None, "padding_side": "right"})
    cfg["added_tokens_decoder"] = decoder
    write_json(os.path.join(d, "tokenizer_config.json"), cfg)
    write_json(os.path.join(d, "special_tokens_map.json"), special)


def wordpiece_vocab(size):
    """A toy uncased WordPiece vocab.txt with [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103."""
    toks = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(toks) == 104
    tail = []
    tail += list("!\"#$%&'()*+,-./") + [str(i) for i in range(10)] + list(":;<=>?@[\\]^_`{|}~")
    tail += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tail += sorted(set(WORDS))
    tail += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)] + ["##" + str(i) for i in range(10)]
    tail += ["##" + s for s in ("s", "es", "ed", "ing", "er", "est", "ly", "ness", "ful", "less",
                                "tion", "ment", "able", "ish", "y", "ie", "en", "al")]
    cons, vows = "bcdfghjklmnprstvwz", "aeiou"
    syll = [c + v for c in cons for v in vows] + [c + v + e for c in cons for v in vows for e in "nrst"]
    seen = set(toks) | set()
    out = toks[:]
    for t in tail:
        if len(out) >= size:
            break
        if t not in seen:
            seen.add(t)
            out.append(t)
    for s in syll:
        for t in (s, "##" + s):
            if len(out) >= size:
                break
            if t not in seen:
                seen.add(t)
                out.append(t)
    assert len(out) == size, len(out)
    return "\n".join(out) + "\n"

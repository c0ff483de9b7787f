#!/usr/bin/python3
"""Reference ids for tests/models/tokenizer_llama_test.cpp from Debian's python3-sentencepiece.

Applies the llava-hf rule (vlm-architectures.md 3.4) by hand around the SentencePiece binding:
split out added tokens leftmost-longest, encode every non-empty text piece separately, BOS first.

    /usr/bin/python3 tools/make_fixtures.py --out /tmp/fx
    /usr/bin/python3 tools/llama_tokenizer_reference.py /tmp/fx/llava_hf
"""
import json
import os
import sys

import sentencepiece as spm

PROMPTS = [
    "USER: <image>\nWhat is the color of the ball? ASSISTANT:",
    "USER: <image>\nWhat's the content of the image?\nASSISTANT:",
    "the red car is fast",
    "  two leading spaces and trailing  ",
    "<image><image> between <pad> and </s><s>",
    "Unicode: café 東京 🙂 tab\there",
    "line1\nline2\n\n",
    "",
]


def encode(sp, cfg, text):
    """llava-hf rule: split out added tokens (longest match), encode each text piece separately with
    SentencePiece (each gets its own leading space marker), BOS once at the start."""
    added = {v["content"]: int(k) for k, v in cfg["added_tokens_decoder"].items()}
    ids = [sp.bos_id()] if cfg.get("add_bos_token", True) else []
    i = start = 0
    while i < len(text):
        hits = [t for t in added if text.startswith(t, i)]
        if not hits:
            i += 1
            continue
        tok = max(hits, key=len)
        if i > start:
            ids += sp.encode(text[start:i])
        ids.append(added[tok])
        i += len(tok)
        start = i
    if start < len(text):
        ids += sp.encode(text[start:])
    return ids


def main():
    d = sys.argv[1]
    sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
    with open(os.path.join(d, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    for text in PROMPTS:
        ids = encode(sp, cfg, text)
        plain = [t for t in ids if t < sp.get_piece_size()]
        esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\?' else "".join("\\%03o" % b for b in c.encode())
                      for c in text)
        print('    {"%s", {%s}, "%s"},' % (esc, ", ".join(map(str, ids)),
                                          "".join("\\%03o" % b if not 32 <= b < 127 or chr(b) in '"\\?' else chr(b)
                                                  for b in sp.decode(plain).encode())))


if __name__ == "__main__":
    main()

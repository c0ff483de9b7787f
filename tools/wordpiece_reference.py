#!/usr/bin/python3
"""Independent pure-Python reference of the BERT uncased WordPiece rules (BasicTokenizer +
WordpieceTokenizer semantics), for golden ids in tests/models/tokenizer_wordpiece_test.cpp.

It uses only the standard library (unicodedata for categories, NFD and str.lower), so it shares
no code or tables with the C++ tokenizer.

    /usr/bin/python3 tools/wordpiece_reference.py --write-vocab tests/data/wordpiece/vocab.txt
    /usr/bin/python3 tools/wordpiece_reference.py --vocab tests/data/wordpiece/vocab.txt [--cpp]

The second form prints, for each CASES string, its ids ([CLS] ... [SEP]); --cpp prints them as
C++ initialisers to paste into the test.
"""
import argparse
import unicodedata

CASES = [
    "Héllo Wörld naïve café",
    "what?!...",
    "Hello, world! It's 3.14 and 1,000 people.",
    "我爱北京天安门",
    "MiXeD CaSe WoRdS",
    "tabs\tand\nnewlines\r\n  spaces",
    "ctrl\x00chars\x07here\ufffd\u200b!",
    "unaffable xyzzyq",
    "ΟΔΟΣ Σ ΣΑ",
    "İstanbul ǅemal",
    "a" * 101 + " ok",
    "東京 한 한국 がぎ",
    "don't stop-believing (ok)",
    "\u00bfqu\u00e9? \u00abhola\u00bb \u2014 fin\u2026",
    "line\u2028sep para\u2029sep",
    "",
]

SPECIALS = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("hello world naive cafe what it the and people ok stop believing mixed case words tabs "
         "newlines spaces ctrl chars here un sep para line istanbul emal don qu hola fin tokyo "
         "οδος σα ς σ").split()
PIECES = ["##aff", "##able", "##s", "##ed", "##ing", "##ld", "##lo", "##e", "##00", "##0"]
CJK = list("我爱北京東") + ["ᄒ", "##ᅡ", "##ᆫ", "か", "##き"]


def build_vocab():
    toks = list(SPECIALS)
    toks += list("!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~")
    toks += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    toks += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    toks += ["14", "000", "¿", "«", "»", "—", "…"]
    for t in WORDS + PIECES + CJK:
        if t not in toks:
            toks.append(t)
    return toks


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    blocks = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
    return any(a <= cp <= b for a, b in blocks)


def basic(text):
    cleaned = []
    for ch in text:
        if ord(ch) in (0, 0xFFFD) or is_control(ch):
            continue
        if is_whitespace(ch):
            cleaned.append(" ")
        elif is_cjk(ord(ch)):
            cleaned.append(" %s " % ch)
        else:
            cleaned.append(ch)
    words = []
    for tok in "".join(cleaned).split():
        tok = unicodedata.normalize("NFD", tok.lower())
        tok = "".join(c for c in tok if unicodedata.category(c) != "Mn")
        cur = ""
        for ch in tok:
            if is_punct(ch):
                if cur:
                    words.append(cur)
                cur = ""
                words.append(ch)
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            sub = ("##" if start else "") + word[start:end]
            if sub in vocab:
                out.append(sub)
                break
            end -= 1
        else:
            return ["[UNK]"]
        start = end
    return out


def encode(text, vocab):
    pieces = [p for w in basic(text) for p in wordpiece(w, vocab)]
    return [vocab["[CLS]"]] + [vocab[p] for p in pieces] + [vocab["[SEP]"]]


def cpp_bytes(text):
    """UTF-8 bytes as a C++ string literal body; octal escapes cannot swallow following digits."""
    out = []
    for b in text.encode("utf-8"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else "\\%03o" % b)
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-vocab")
    ap.add_argument("--vocab")
    ap.add_argument("--cpp", action="store_true")
    args = ap.parse_args()
    if args.write_vocab:
        with open(args.write_vocab, "w", encoding="utf-8") as f:
            f.write("\n".join(build_vocab()) + "\n")
        return
    with open(args.vocab, encoding="utf-8") as f:
        toks = f.read().split("\n")[:-1]
    vocab = {t: i for i, t in enumerate(toks)}
    for text in CASES:
        ids = encode(text, vocab)
        if args.cpp:
            esc = cpp_bytes(text)
            print('    {"%s"sv, {%s}},' % (esc, ", ".join(map(str, ids))))
        else:
            print(repr(text), ids, [toks[i] for i in ids])


if __name__ == "__main__":
    main()

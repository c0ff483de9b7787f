#!/usr/bin/python3
"""Test images and PIL/numpy reference outputs for tests/models/image_test.cpp.

Uses Debian's python3-pil (9.4) and python3-numpy only: no transformers or torchvision, so the
HF CLIPImageProcessor, LLaVA expand2square and torchvision ToTensor/Normalize steps are done by
hand below, each as those libraries compute it.

    /usr/bin/python3 tools/image_reference.py --out DIR

writes DIR/images/* (PNG and JPEG files of every colour type), DIR/*.npy (expected outputs) and
DIR/manifest.json naming the cases.
"""
import argparse
import io
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
RESCALE = 0.00392156862745098


def pattern(w, h, seed):
    """Smooth gradients plus noise and a hard edge: exercises both filters and JPEG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1))
    g = (y * 255 // max(h - 1, 1))
    b = ((x + y) * 7) % 256
    img = np.stack([r, g, b], -1).astype(np.int32) + rng.integers(-40, 41, (h, w, 3))
    img[h // 3: h // 2, w // 4: w // 2] = [250, 10, 120]
    return np.clip(img, 0, 255).astype(np.uint8)


def png_chunk(tag, data):
    c = struct.pack(">I", len(data)) + tag + data
    return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def pack_row(samples, bit_depth):
    """samples: 1-D uint array for one row (all channels interleaved)."""
    if bit_depth == 16:
        return samples.astype(">u2").tobytes()
    if bit_depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        for j in range(per):
            v = int(samples[i + j]) if i + j < len(samples) else 0
            byte |= v << (8 - bit_depth * (j + 1))
        out.append(byte)
    return bytes(out)


def write_png(path, arr, color_type, bit_depth, interlace=False, plte=None, trns=None, ihdr_size=None):
    """A minimal PNG writer (filter 0 rows) for what PIL cannot write: 16-bit colour, 2/4-bit
    grey, interlacing. arr: [h, w, channels] or [h, w]."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w = arr.shape[:2]
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = arr[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for row in sub:
                raw += b"\x00" + pack_row(row.reshape(-1), bit_depth)
    else:
        for row in arr:
            raw += b"\x00" + pack_row(row.reshape(-1), bit_depth)
    iw, ih = ihdr_size or (w, h)
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", iw, ih, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    if plte is not None:
        data += png_chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).reshape(-1)))
    if trns is not None:
        data += png_chunk(b"tRNS", trns)
    data += png_chunk(b"IDAT", zlib.compress(bytes(raw)))
    data += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def make_images(d):
    os.makedirs(d, exist_ok=True)
    rgb = pattern(47, 31, 1)
    alpha = np.linspace(0, 255, 47 * 31).astype(np.uint8).reshape(31, 47)
    grey = rgb[:, :, 0]
    files = []

    def pil(name, im, **kw):
        im.save(os.path.join(d, name), **kw)
        files.append(name)

    def own(name, *a, **kw):
        write_png(os.path.join(d, name), *a, **kw)
        files.append(name)

    pil("rgb8.png", Image.fromarray(rgb))
    pil("rgba8.png", Image.fromarray(np.dstack([rgb, alpha]), "RGBA"))
    pil("grey8.png", Image.fromarray(grey))
    pil("greyalpha8.png", Image.fromarray(np.dstack([grey, alpha]), "LA"))
    pal = Image.fromarray(rgb).quantize(colors=37)
    pal.info["transparency"] = 3
    pil("palette8_trns.png", pal, transparency=3)
    pil("bilevel1.png", Image.fromarray(grey).convert("1"))
    g16 = (rgb[:, :, 0].astype(np.uint16) * 257)
    g16[:4] = rgb[:4, :, 1] // 2  # small values: PIL keeps them (clamps only above 255)
    pil("grey16.png", Image.fromarray(g16.astype(np.uint16), "I;16"))
    rgb16 = rgb.astype(np.uint16) * 257 + np.uint16(91)
    own("rgb16.png", rgb16, 2, 16)
    own("rgba16.png", np.dstack([rgb16, alpha.astype(np.uint16) * 200]), 6, 16)
    own("greyalpha16.png", np.dstack([g16, g16[::-1]]), 4, 16)
    own("grey2.png", grey >> 6, 0, 2)
    own("grey4_interlaced.png", grey >> 4, 0, 4, interlace=True)
    own("rgb8_interlaced.png", rgb, 2, 8, interlace=True)
    own("rgba8_interlaced.png", np.dstack([rgb, alpha]), 6, 8, interlace=True)
    plte = rgb.reshape(-1, 3)[:16]
    own("palette4_interlaced.png", (grey >> 4), 3, 4, interlace=True, plte=plte, trns=bytes([0, 128]))
    own("grey8_trns.png", grey, 0, 8, trns=struct.pack(">H", 7))

    big = pattern(64, 48, 2)
    pil("baseline420.jpg", Image.fromarray(big), quality=90)
    pil("progressive.jpg", Image.fromarray(big), quality=85, progressive=True)
    pil("q95_444.jpg", Image.fromarray(big), quality=95, subsampling=0)
    pil("q75_422.jpg", Image.fromarray(rgb), quality=75, subsampling=1)
    pil("grey.jpg", Image.fromarray(big[:, :, 1]), quality=88)
    pil("cmyk.jpg", Image.fromarray(big).convert("CMYK"), quality=90)
    return files


def hf_resize_shortest(img, s):
    w, h = img.size
    short, long_ = min(w, h), max(w, h)
    new_long = int(s * long_ / short)
    nw, nh = (s, new_long) if w <= h else (new_long, s)
    return img.resize((nw, nh), resample=Image.BICUBIC)


def hf_clip(img, s, c):
    """CLIPImageProcessor: convert RGB, resize shortest edge, centre crop, rescale, normalise, CHW."""
    arr = np.asarray(hf_resize_shortest(img.convert("RGB"), s))
    h, w = arr.shape[:2]
    top, left = (h - c) // 2, (w - c) // 2
    arr = arr[top:top + c, left:left + c]
    x = (arr.astype(np.float64) * RESCALE).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return x.transpose(2, 0, 1).copy()


def expand2square(img, bg):
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), bg)
    # LLaVA: a wide image is centred vertically, a tall one horizontally.
    out.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out


def mplug(img, res):
    arr = np.asarray(img.convert("RGB").resize((res, res), resample=Image.BICUBIC))
    x = arr.astype(np.float32) / np.float32(255)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return x.transpose(2, 0, 1).copy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    img_dir = os.path.join(out, "images")
    files = make_images(img_dir)
    manifest = {"decode": [], "resize": [], "clip": [], "llava_pad": [], "mplug": []}
    for name in files:
        arr = np.asarray(Image.open(os.path.join(img_dir, name)).convert("RGB"))
        np.save(os.path.join(out, name + ".npy"), arr)
        manifest["decode"].append({"file": "images/" + name, "expected": name + ".npy"})
    src = {"rgb8.png": Image.open(os.path.join(img_dir, "rgb8.png")).convert("RGB"),
           "baseline420.jpg": Image.open(os.path.join(img_dir, "baseline420.jpg")).convert("RGB")}
    sizes = [(13, 9), (47, 20), (20, 31), (100, 67), (5, 80), (1, 1), (47, 31), (336, 224)]
    for sname, img in src.items():
        for w, h in sizes:
            key = "resize_%s_%dx%d.npy" % (sname, w, h)
            np.save(os.path.join(out, key), np.asarray(img.resize((w, h), resample=Image.BICUBIC)))
            manifest["resize"].append({"file": "images/" + sname, "width": w, "height": h, "expected": key})
        for s, c in [(30, 30), (24, 20), (336, 336)]:
            key = "clip_%s_%d_%d.npy" % (sname, s, c)
            np.save(os.path.join(out, key), hf_clip(img, s, c))
            manifest["clip"].append({"file": "images/" + sname, "shortest_edge": s, "crop": c, "expected": key})
            key = "pad_%s_%d_%d.npy" % (sname, s, c)
            bg = tuple(int(x * 255) for x in MEAN)
            np.save(os.path.join(out, key), hf_clip(expand2square(img, bg), s, c))
            manifest["llava_pad"].append({"file": "images/" + sname, "shortest_edge": s, "crop": c, "expected": key})
        for res in (16, 30, 384):
            key = "mplug_%s_%d.npy" % (sname, res)
            np.save(os.path.join(out, key), mplug(img, res))
            manifest["mplug"].append({"file": "images/" + sname, "resolution": res, "expected": key})
    # Malformed files for the error tests.
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    for name in ("rgb8.png", "baseline420.jpg", "progressive.jpg"):
        with open(os.path.join(img_dir, name), "rb") as f:
            data = f.read()
        with open(os.path.join(bad, "truncated_" + name), "wb") as f:
            f.write(data[: len(data) // 2])
    with open(os.path.join(bad, "text.png"), "wb") as f:
        f.write(b"this is not an image\n")
    open(os.path.join(bad, "empty.jpg"), "wb").close()
    write_png(os.path.join(bad, "huge.png"), np.zeros((2, 2), np.uint8), 0, 8, ihdr_size=(20000, 2))
    write_png(os.path.join(bad, "zero.png"), np.zeros((2, 2), np.uint8), 0, 8, ihdr_size=(0, 2))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()

"""Serialisation for tools/make_fixtures.py: safetensors (single and sharded, with the index the Hugging
Face loader reads), torch.save archives (zip layout with a chosen root name), JSON and text files, all
written deterministically so the fixtures are byte-identical across runs."""
import collections
import io
import json
import os
import struct

import numpy as np
import torch


ST_DTYPE = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64"}


def to_bytes(arr, dtype):
    """(safetensors dtype name, raw little-endian bytes) of arr cast to dtype ('f32','f16','bf16')."""
    if arr.dtype == np.int64:
        return "I64", np.ascontiguousarray(arr, dtype="<i8").tobytes()
    if dtype == "f32":
        return "F32", np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if dtype == "f16":
        return "F16", np.ascontiguousarray(arr.astype(np.float16), dtype="<f2").tobytes()
    if dtype == "bf16":
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).to(torch.bfloat16)
        return "BF16", t.view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, sd, dtype, metadata=None):
    """Hand-written safetensors: u64 LE header length, space-padded JSON header, raw data."""
    names = sorted(sd)
    header = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    blobs = []
    off = 0
    for n in names:
        st, raw = to_bytes(sd[n], dtype)
        header[n] = {"dtype": st, "shape": list(sd[n].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return off


def nbytes(arr, dtype):
    if arr.dtype == np.int64:
        return arr.size * 8
    return arr.size * (4 if dtype == "f32" else 2)


def split_shards(names, sizes, n_shards):
    """Contiguous split of names (in order) into n_shards of roughly equal byte size."""
    total = sum(sizes[n] for n in names)
    shards, cur, acc = [], [], 0
    for n in names:
        cur.append(n)
        acc += sizes[n]
        if len(shards) < n_shards - 1 and acc >= total * (len(shards) + 1) / n_shards:
            shards.append(cur)
            cur = []
    shards.append(cur)
    assert len(shards) == n_shards and all(shards), "shard split failed"
    return shards


def write_sharded_safetensors(dirpath, sd, dtype, n_shards):
    names = list(sd)
    sizes = {n: nbytes(sd[n], dtype) for n in names}
    shards = split_shards(names, sizes, n_shards)
    weight_map, files = {}, []
    for i, group in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        write_safetensors(os.path.join(dirpath, fname), {n: sd[n] for n in group}, dtype)
        files.append(fname)
        for n in group:
            weight_map[n] = fname
    index = {"metadata": {"total_size": sum(sizes.values())},
             "weight_map": dict(sorted(weight_map.items()))}
    write_json(os.path.join(dirpath, "model.safetensors.index.json"), index)
    return files + ["model.safetensors.index.json"]


def to_torch_sd(sd, dtype):
    """numpy state dict -> torch OrderedDict; string values are aliases of another key (shared storage)."""
    out = collections.OrderedDict()
    for k, v in sd.items():
        if isinstance(v, str):
            out[k] = out[v] if v in out else None
            continue
        t = torch.from_numpy(np.array(v, copy=True))
        if t.dtype == torch.float32:
            if dtype == "f16" and not k.endswith("rotary_emb.inv_freq"):
                t = t.to(torch.float16)
        out[k] = t.clone()
    for k, v in sd.items():  # aliases to later keys
        if isinstance(v, str) and out[k] is None:
            out[k] = out[v]
    return out


def torch_save(path, obj, archive_name=None):
    """torch.save; with archive_name=None the zip root is derived from the file name (as torch 1.x
    does for paths); with "archive" it is written through a buffer (as torch does for file objects)."""
    if archive_name == "archive":
        buf = io.BytesIO()
        torch.save(obj, buf)
        with open(path, "wb") as f:
            f.write(buf.getvalue())
    else:
        torch.save(obj, path)


def write_json(path, obj, sort_keys=True):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)

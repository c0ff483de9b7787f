#!/usr/bin/python3
"""Writes the PyTorch-checkpoint test files of crosstrace into OUTDIR.

Usage: /usr/bin/python3 tools/make_torch_test_files.py OUTDIR [--seeds FUZZ_SEED_DIR]

Needs Debian's python3-torch (>= 1.6 zip format). Writes:
  OUTDIR/good/*.pth     real torch.save files (and a deflated rewrite) that must load
  OUTDIR/bad/*.pth      malformed or malicious files that must be rejected with an InputError
  OUTDIR/manifest.json  {"good": [{file, tensors: [{name, dtype, shape, values}]}],
                         "bad": [{file, expect, marker}]}
`marker` is the absolute path an evil payload would create if it were executed; `expect` is a
substring the error message must contain. The evil pickles are written by hand (opcode bytes), so
that nothing here ever runs them; the test may run the real unpickler on one in a scratch dir.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import warnings
import zipfile

import torch

DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def describe(name, t):
    t = t.detach()
    values = t.reshape(-1).tolist() if t.dtype != torch.bool else [int(v) for v in t.reshape(-1).tolist()]
    if t.dtype in (torch.float16, torch.bfloat16):
        values = t.float().reshape(-1).tolist()  # exact: both widen to f32 without rounding
    return {"name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "values": values}


def base_state_dict():
    torch.manual_seed(1234)
    lin = torch.nn.Linear(3, 2)
    sd = lin.state_dict()  # an OrderedDict carrying `_metadata` (pickled through BUILD)
    sd["f32"] = torch.randn(3, 4)
    sd["f16"] = torch.randn(2, 3).half()
    sd["bf16"] = torch.randn(5).bfloat16()
    sd["f64"] = torch.randn(2, 2).double()
    sd["i64"] = torch.arange(6).reshape(2, 3)
    sd["i32"] = torch.tensor([-7, 1 << 30], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    tied = torch.randn(4, 2)
    sd["tied_a"] = tied
    sd["tied_b"] = tied          # the same tensor twice: one storage, two names
    sd["tied_row"] = tied[1]     # a view of that storage at element offset 2
    big = torch.randn(10)
    sd["offset_view"] = big[3:7]  # saved with the whole storage and storage_offset 3
    sd["size1_dims"] = torch.randn(1, 3, 1)
    return sd


def tensors_of(sd):
    return [describe(k, v) for k, v in sd.items() if isinstance(v, torch.Tensor)]


def zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip(path, entries, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for name, data in entries:
            z.writestr(name, data)


def torch_zip(path, pkl, storages=()):
    """A torch-layout zip: archive/data.pkl, archive/data/<key>..., archive/version."""
    write_zip(path, [("archive/data.pkl", pkl)] + [("archive/data/" + k, v) for k, v in storages] +
              [("archive/version", b"3\n")])


def u(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def reduce_call(global_line, arg_ops):
    """PROTO 2, GLOBAL module\\nname\\n, args, TUPLE1, REDUCE, STOP."""
    return b"\x80\x02c" + global_line + b"\n" + arg_ops + b"\x85R."


def main():
    out = os.path.abspath(sys.argv[1])
    seeds = sys.argv[sys.argv.index("--seeds") + 1] if "--seeds" in sys.argv else None
    good_dir, bad_dir, marker_dir = (os.path.join(out, d) for d in ("good", "bad", "markers"))
    for d in (good_dir, bad_dir, marker_dir):
        os.makedirs(d, exist_ok=True)
    for f in os.listdir(marker_dir):
        os.remove(os.path.join(marker_dir, f))
    manifest = {"good": [], "bad": []}

    def good(name, obj, sd, **kw):
        path = os.path.join(good_dir, name)
        torch.save(obj, path, **kw)
        manifest["good"].append({"file": path, "tensors": tensors_of(sd)})
        return path

    def bad(name, data, expect, marker=None):
        path = os.path.join(bad_dir, name)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        manifest["bad"].append({"file": path, "expect": expect, "marker": marker})
        return path

    sd = base_state_dict()
    plain = good("plain.pth", sd, sd)
    good("proto4.pth", sd, sd, pickle_protocol=4)
    small = collections.OrderedDict(w=torch.arange(4.0), b=torch.tensor([1.5]))
    good("model_epoch.pth", {"model": small, "epoch": 7,
                             "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}}, small)
    good("module.pth", {"module": small}, small)
    good("state_dict.pth", {"state_dict": small, "step": 100}, small)
    good("nested.pth", {"model": {"module": small}, "epoch": 1}, small)
    param = {"p": torch.nn.Parameter(torch.tensor([0.25, -2.0]))}
    good("parameter.pth", param, param)
    good("empty.pth", {}, {})
    deflated = os.path.join(good_dir, "deflated.pth")
    write_zip(deflated, zip_entries(plain), zipfile.ZIP_DEFLATED)
    manifest["good"].append({"file": deflated, "tensors": tensors_of(sd)})

    # ---- malformed containers ----
    raw = open(plain, "rb").read()
    bad("truncated.pth", raw[: len(raw) * 2 // 3], "end-of-central-directory")
    cd = raw.rfind(b"PK\x01\x02")
    bad("bad_cd_signature.pth", raw[:cd] + b"PK\x01\x09" + raw[cd + 4:], "bad signature")
    eocd = raw.rfind(b"PK\x05\x06")
    bad("bad_cd_offset.pth", raw[:eocd + 16] + struct.pack("<I", 0x7FFFFFF0) + raw[eocd + 20:], "central directory")
    z64 = raw.rfind(b"PK\x06\x06")  # torch always writes a ZIP64 end record
    bad("bad_zip64_cd_offset.pth", raw[:z64 + 48] + struct.pack("<Q", 1 << 40) + raw[z64 + 56:], "central directory")
    loc = raw.rfind(b"PK\x06\x07")
    bad("bad_zip64_locator.pth", raw[:loc + 8] + struct.pack("<Q", 3) + raw[loc + 16:], "ZIP64")
    bad("no_eocd.pth", raw[:eocd] + b"XX\x05\x06" + raw[eocd + 4:], "end-of-central-directory")
    first_name = raw.find(b"data.pkl")  # in the first local header
    bad("local_name_mismatch.pth", raw[:first_name] + b"dXta.pkl" + raw[first_name + 8:], "local header")
    entries = zip_entries(plain)
    prefix = entries[0][0].split("/")[0]
    dup = os.path.join(bad_dir, "duplicate_entry.pth")
    warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate we want
    with zipfile.ZipFile(dup, "w") as z:
        for n, d in entries + [entries[-1]]:
            z.writestr(n, d)
    bad("duplicate_entry.pth", None, "duplicate")
    missing = os.path.join(bad_dir, "storage_missing.pth")
    write_zip(missing, [(n, d) for n, d in entries if n != prefix + "/data/0"])
    bad("storage_missing.pth", None, "missing")
    small_store = os.path.join(bad_dir, "storage_too_small.pth")
    write_zip(small_store, [(n, d[: len(d) // 2] if n == prefix + "/data/0" else d) for n, d in entries])
    bad("storage_too_small.pth", None, "expected")
    crc = os.path.join(bad_dir, "deflate_crc.pth")
    write_zip(crc, [(n, d) for n, d in entries], zipfile.ZIP_DEFLATED)
    blob = bytearray(open(crc, "rb").read())
    cd = blob.find(b"PK\x01\x02")  # data.pkl is the first entry in both places
    lh = blob.find(b"PK\x03\x04")
    for off in (lh + 14, cd + 16):  # the CRC in both headers, so only the data check can see it
        blob[off] ^= 0xFF
    bad("deflate_crc.pth", bytes(blob), "CRC")
    legacy = os.path.join(bad_dir, "legacy.pth")
    torch.save(small, legacy, _use_new_zipfile_serialization=False)
    bad("legacy.pth", None, "legacy (pre-1.6)")
    big_endian = os.path.join(bad_dir, "big_endian.pth")
    write_zip(big_endian, entries + [(prefix + "/byteorder", b"big")])
    bad("big_endian.pth", None, "big-endian")
    bad("not_a_zip.pth", b"hello, I am not a checkpoint\n", "not a PyTorch zip")
    bad("empty_file.pth", b"", "not a PyTorch zip")
    nc = os.path.join(bad_dir, "non_contiguous.pth")
    torch.save({"t": torch.arange(6.0).reshape(2, 3).t()}, nc)
    bad("non_contiguous.pth", None, "not contiguous")
    nonstr = os.path.join(bad_dir, "int_key.pth")
    torch.save({1: torch.zeros(2)}, nonstr)
    bad("int_key.pth", None, "key")

    # ---- malformed pickles (in an otherwise valid torch zip) ----
    pkl = dict(entries)[prefix + "/data.pkl"]
    storages = [(n.split("/")[-1], d) for n, d in entries if "/data/" in n]

    def bad_pickle(name, data, expect, marker=None):
        torch_zip(os.path.join(bad_dir, name), data, storages)
        bad(name, None, expect, marker)

    bad_pickle("pickle_truncated.pth", pkl[: len(pkl) - 40], "truncated")
    bad_pickle("pickle_no_stop.pth", pkl[:-1], "STOP")
    bad_pickle("memo_unknown.pth", b"\x80\x02h\x05.", "memo index 5")
    bad_pickle("opcode_dup.pth", b"\x80\x02}2.", "DUP")
    bad_pickle("opcode_int_text.pth", b"\x80\x02I42\n.", "INT")
    bad_pickle("nesting_bomb.pth", b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b".", "nested deeper")
    bad_pickle("mark_bomb.pth", b"\x80\x02" + b"(" * 100000 + b"N.", "MARK")
    bad_pickle("storage_oob.pth", pkl.replace(b"K\x00K\x03K\x04", b"K\x09K\x03K\x04", 1)
               if b"K\x00K\x03K\x04" in pkl else b"\x80\x02.", "outside storage")
    bad_pickle("pickle_not_dict.pth", b"\x80\x02]q\x00.", "expected a dict")
    bad_pickle("build_on_list.pth", b"\x80\x02]}b.", "BUILD")

    # ---- evil pickles: each would create its marker file if it were really unpickled ----
    def marker(name):
        return os.path.join(marker_dir, name + ".marker")

    def evil(name, data, expect, mark=True):
        bad_pickle(name, data, expect, marker(name) if mark else None)

    def touch(name):
        return u("touch " + marker(name))

    evil("evil_os_system.pth", reduce_call(b"os\nsystem", touch("evil_os_system.pth")), "forbidden global 'os.system'")
    evil("evil_posix_system.pth", reduce_call(b"posix\nsystem", touch("evil_posix_system.pth")), "forbidden global 'posix.system'")
    evil("evil_nt_system.pth", reduce_call(b"nt\nsystem", touch("evil_nt_system.pth")), "forbidden global 'nt.system'", mark=False)
    code = "__import__('os').system('touch %s')" % marker("evil_builtins_eval.pth")
    evil("evil_builtins_eval.pth", reduce_call(b"builtins\neval", u(code)), "forbidden global 'builtins.eval'")
    code = "__import__('os').system('touch %s')" % marker("evil_builtin2_eval.pth")
    evil("evil_builtin2_eval.pth", reduce_call(b"__builtin__\neval", u(code)), "forbidden global '__builtin__.eval'")
    code = "import os; os.system('touch %s')" % marker("evil_builtins_exec.pth")
    evil("evil_builtins_exec.pth", reduce_call(b"builtins\nexec", u(code)), "forbidden global 'builtins.exec'")
    argv = b"](" + u("touch") + u(marker("evil_subprocess.pth")) + b"e"
    evil("evil_subprocess.pth", reduce_call(b"subprocess\nPopen", argv), "forbidden global 'subprocess.Popen'")
    sg = b"\x80\x04\x8c\x02os\x8c\x06system\x93" + touch("evil_stack_global.pth") + b"\x85R."
    evil("evil_stack_global.pth", sg, "forbidden global 'os.system'")
    inst = b"\x80\x02(" + touch("evil_inst.pth") + b"ios\nsystem\n."
    evil("evil_inst.pth", inst, "INST")
    obj = b"\x80\x02(cos\nsystem\n" + touch("evil_obj.pth") + b"o."
    evil("evil_obj.pth", obj, "forbidden global 'os.system'")
    obj2 = b"\x80\x02(" + touch("evil_obj_opcode.pth") + b"o."  # OBJ without a global first
    evil("evil_obj_opcode.pth", obj2, "OBJ")
    inner = reduce_call(b"os\nsystem", touch("evil_load_from_bytes.pth"))
    lfb = reduce_call(b"torch.storage\n_load_from_bytes", b"B" + struct.pack("<I", len(inner)) + inner)
    evil("evil_load_from_bytes.pth", lfb, "forbidden global 'torch.storage._load_from_bytes'")

    class Evil:
        def __init__(self, cmd):
            self.cmd = cmd

        def __reduce__(self):
            return (os.system, (self.cmd,))

    real = pickle.dumps({"w": Evil("touch " + marker("evil_reduce_class.pth"))}, protocol=2)
    evil("evil_reduce_class.pth", real, "forbidden global")
    # Hidden inside an otherwise valid state dict, after real tensors.
    hidden = pkl[:-1] + u("evil") + reduce_call(b"os\nsystem", touch("evil_hidden.pth"))[2:-1] + b"s."
    evil("evil_hidden.pth", hidden, "forbidden global 'os.system'")

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)

    if seeds:  # small fuzz seeds: a tiny state dict's data.pkl and a tiny whole .pth
        tiny = collections.OrderedDict(w=torch.arange(4.0).reshape(2, 2), b=torch.tensor([1], dtype=torch.int64))
        tiny["t"] = tiny["w"]
        os.makedirs(os.path.join(seeds, "pickle"), exist_ok=True)
        os.makedirs(os.path.join(seeds, "torch_zip"), exist_ok=True)
        for proto in (2, 4):
            path = os.path.join(seeds, "torch_zip", "tiny_p%d.pth" % proto)
            torch.save({"model": tiny, "epoch": 3}, path, pickle_protocol=proto)
            data = [d for n, d in zip_entries(path) if n.endswith("/data.pkl")][0]
            open(os.path.join(seeds, "pickle", "tiny_p%d.pkl" % proto), "wb").write(data)
        write_zip(os.path.join(seeds, "torch_zip", "tiny_deflated.pth"),
                  zip_entries(os.path.join(seeds, "torch_zip", "tiny_p2.pth")), zipfile.ZIP_DEFLATED)


if __name__ == "__main__":
    main()

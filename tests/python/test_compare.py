#!/usr/bin/python3
"""`crosstrace compare` and `crosstrace demo` end to end.

Usage (as ctest runs it, after tools/make_fixtures.py):
    /usr/bin/python3 tests/python/test_compare.py --binary B --fixtures DIR --source SRC --tmp TMP

Ground truth is planted by tools/make_fixtures.py (not derived from crosstrace): clip_vision is
llava_hf's vision tower, llama is llava_hf's language model, llava_hf_newkeys has independent
weights; the demo pair shares one CLIP tower and has unrelated language sides (BERT vs LLaMA).

Checks:
- (b) every report.json validates against schemas/report.schema.json (Debian python3-jsonschema);
- (c) llava_hf vs clip_vision / llama: the traced component pair and its verdict, read back from
  report.json, from report.md's lineage table and from report.html's lineage table (HTML parsed
  with html.parser); llava_hf vs llava_hf_newkeys is independent (the check can fail);
- (d) bad inputs: unreadable model, missing --out, empty --data, an existing report without
  --force: exit 2 with one line naming the path; --force overwrites;
- (e) resume: a run killed after its first stage file appears, then rerun, reuses every finished
  stage file unchanged and ends with the same report.json as an uninterrupted run; a stage edited
  on disk shows in the report (so it really was reused); changed options recompute the stage;
- (f) the demo finishes in under 2 minutes, prints where the report is, finds the shared vision
  tower dependent, lists the language sides as not comparable, and shows the feature bins;
  `demo --json` is JSON.
"""

import argparse
import html.parser
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jsonschema
from PIL import Image

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def run(binary, *args, timeout=300):
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=timeout)


class Tables(html.parser.HTMLParser):
    """Rows of every <table id=...>: {id: [[cell text, ...], ...]}."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.current = dict(attrs).get("id", "")
            self.tables.setdefault(self.current, [])
        elif tag == "tr" and self.current is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.current].append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def read(path):
    with open(path) as f:
        return f.read()


def validate(schema, report_dir, label):
    doc = json.loads(read(os.path.join(report_dir, "report.json")))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    check(not errors, f"{label}: report.json validates against the schema ({[e.message for e in errors[:2]]})")
    return doc


def traced_in_all_formats(report_dir, a, b, verdict, label):
    doc = json.loads(read(os.path.join(report_dir, "report.json")))
    comps = [(c["a"], c["b"], c["verdict"]) for c in doc["lineage"]["trace"]["pairs"][0]["components"]]
    check((a, b, verdict) in comps, f"{label}: report.json traces {a} ~ {b} {verdict} ({comps})")
    md = read(os.path.join(report_dir, "report.md"))
    check(f"| {a} | {b} | {verdict} |" in md, f"{label}: report.md lineage table has {a} | {b} | {verdict}")
    t = Tables()
    t.feed(read(os.path.join(report_dir, "report.html")))
    rows = [r[:3] for r in t.tables.get("lineage-table", [])[1:]]
    check([a, b, verdict] in rows, f"{label}: report.html lineage table has {a}, {b}, {verdict} ({rows})")


def make_images(d, n=6, side=40):
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        im = Image.new("RGB", (side + 4 * i, side), ((40 * i) % 256, 200 - 20 * i, 90))
        for x in range(i * 3, i * 3 + 12):
            for y in range(5, 20):
                im.putpixel((x, y), (250, 250, 30 * i % 256))
        im.save(os.path.join(d, f"img_{i}.png"))
    with open(os.path.join(d, "prompts.txt"), "w") as f:
        f.write("Describe the image.\n")


def stable(doc):
    """report.json without what legitimately differs between runs (timings, the invocation)."""
    doc = dict(doc)
    doc.pop("run")
    doc.pop("command")
    return doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    tmp = os.path.join(a.tmp, f"compare_{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    fx = lambda name: os.path.join(a.fixtures, name)
    schema = json.loads(read(os.path.join(a.source, "schemas", "report.schema.json")))
    jsonschema.Draft202012Validator.check_schema(schema)

    # (f) the demo.
    demo = os.path.join(tmp, "demo")
    t0 = time.monotonic()
    r = run(a.binary, "demo", "--out", demo, "--threads", "2")
    seconds = time.monotonic() - t0
    check(r.returncode == 0, "demo exits 0" + ("" if r.returncode == 0 else f": {r.stderr[-400:]}"))
    check(seconds < 120, f"demo finishes in under 2 minutes ({seconds:.1f} s)")
    html_path = os.path.abspath(os.path.join(demo, "report", "report.html"))
    check(html_path in r.stdout, "demo prints where the report is")
    check("ETA" in r.stderr and "[3/3] features" in r.stderr, "demo shows progress with ETA per stage")
    doc = validate(schema, os.path.join(demo, "report"), "demo")
    traced_in_all_formats(os.path.join(demo, "report"), "vision_encoder", "vision_encoder", "dependent", "demo")
    pair = doc["lineage"]["trace"]["pairs"][0]
    check(all(c["a"] != "language_model" and c["b"] != "language_model" for c in pair["components"]),
          "demo: no language component is traced (none comparable)")
    unmatched = {(u["model"], u["component"]) for u in doc["lineage"]["unmatched"]}
    check({("B", "language_model"), ("A", "text_encoder"), ("A", "decoder")} <= unmatched,
          f"demo: the language sides are listed as not traced ({sorted(unmatched)})")
    ls = doc["lineage"]["language_sides"]
    check(isinstance(ls, dict) and ls["verdict"] == "independent" and ls["basis"] == "structural"
          and "llama" in ls["b"] and "bert" in ls["a"], f"demo: language sides independent (structural) ({ls})")
    with open(os.path.join(demo, "report", "report.md")) as fh:
        check("Language sides: **independent**" in fh.read(), "demo: report.md states the independent language sides")
    with open(html_path) as fh:
        check('id="language-sides"' in fh.read(), "demo: report.html states the independent language sides")
    f = doc["features"]
    check(f["status"] == "done", "demo: features stage ran")
    if f["status"] == "done":
        bins = f["analysis"]["bin_counts"]
        check(bins.get("shared", 0) > 0, f"demo: shared tower -> shared latents ({bins})")
        check(bins.get("A-only", 0) == 0 and bins.get("B-only", 0) == 0, f"demo: identical towers -> no exclusive latent ({bins})")
        check(abs(f["row_cosine_mean"] - 1.0) < 1e-3, f"demo: paired rows agree (cosine {f['row_cosine_mean']})")
        t = Tables()
        t.feed(read(html_path))
        check(["shared", str(bins["shared"])] in t.tables.get("bins-table", []), "demo: report.html shows the bin counts")
    rj = run(a.binary, "demo", "--json", "--out", os.path.join(tmp, "demo_json"), "--threads", "2")
    try:
        j = json.loads(rj.stdout)
        check(rj.returncode == 0 and j["summary"]["lineage"]["verdict"] == "dependent" and len(j["models"]) == 2,
              "demo --json: machine-readable summary")
    except (ValueError, KeyError) as e:
        check(False, f"demo --json parses ({e})")

    # (c) fixtures with planted lineage.
    for other, comp in (("clip_vision", "vision_encoder"), ("llama", "language_model")):
        out = os.path.join(tmp, f"fx_{other}")
        r = run(a.binary, "compare", fx("llava_hf"), fx(other), "--out", out, "--threads", "2")
        check(r.returncode == 0, f"compare llava_hf {other} exits 0" + ("" if r.returncode == 0 else f": {r.stderr[-300:]}"))
        validate(schema, out, f"llava_hf vs {other}")
        traced_in_all_formats(out, comp, comp, "dependent", f"llava_hf vs {other}")
    out = os.path.join(tmp, "fx_newkeys")
    r = run(a.binary, "compare", fx("llava_hf"), fx("llava_hf_newkeys"), "--out", out, "--threads", "2")
    check(r.returncode == 0, "compare llava_hf llava_hf_newkeys exits 0")
    traced_in_all_formats(out, "vision_encoder", "vision_encoder", "independent", "llava_hf vs llava_hf_newkeys")

    # (d) bad inputs.
    empty = os.path.join(tmp, "empty_data")
    os.makedirs(empty)
    existing = os.path.join(tmp, "fx_clip_vision")
    for args, needle, what in (
        (["compare", "/definitely/not/here", fx("llama"), "--out", os.path.join(tmp, "x1")], "/definitely/not/here", "unreadable model"),
        (["compare", fx("llava_hf"), fx("llama")], "--out", "missing --out"),
        (["compare", fx("llava_hf"), fx("clip_vision"), "--data", empty, "--out", os.path.join(tmp, "x2")], empty, "empty --data"),
        (["compare", fx("llava_hf"), fx("clip_vision"), "--out", existing], existing, "existing report without --force"),
    ):
        r = run(a.binary, *args)
        one_line = r.stderr.endswith("\n") and r.stderr.count("\n") == 1
        check(r.returncode == 2 and one_line and needle in r.stderr, f"{what}: exit 2, one line naming it ({r.returncode}: {r.stderr.strip()[:160]})")
    r = run(a.binary, "compare", fx("llava_hf"), fx("clip_vision"), "--out", existing, "--force")
    check(r.returncode == 0, "--force overwrites an existing report")

    # (e) resume.
    data = os.path.join(tmp, "data")
    make_images(data)
    base = ["compare", fx("llava_hf"), fx("clip_vision"), "--data", data, "--threads", "2", "--steps", "400"]
    ref_dir = os.path.join(tmp, "resume_ref")
    r = run(a.binary, *base, "--out", ref_dir)
    check(r.returncode == 0, "uninterrupted run with --data exits 0" + ("" if r.returncode == 0 else f": {r.stderr[-300:]}"))
    ref = validate(schema, ref_dir, "llava_hf vs clip_vision with --data")
    check(ref["features"]["status"] == "done", "features ran on the fixture towers")

    cut = os.path.join(tmp, "resume_cut")
    p = subprocess.Popen([a.binary, *base, "--out", cut], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = os.path.join(cut, "stages", "anatomy.json")
    deadline = time.monotonic() + 60
    while not os.path.exists(first) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()
    stage_dir = os.path.join(cut, "stages")
    before = {n: read(os.path.join(stage_dir, n)) for n in os.listdir(stage_dir) if n.endswith(".json")}
    mtimes = {n: os.stat(os.path.join(stage_dir, n)).st_mtime_ns for n in before}
    for leftover in ("report.json", "report.md", "report.html"):  # a run that finished anyway is cut back
        if os.path.exists(os.path.join(cut, leftover)):
            os.remove(os.path.join(cut, leftover))
    r = run(a.binary, *base, "--out", cut)
    check(r.returncode == 0, f"rerun after the kill exits 0 (stages finished before: {sorted(before)})")
    for n in before:
        stage = n[:-5]
        check(f"{stage}: finished earlier, resumed" in r.stderr, f"rerun resumes {stage}")
        check(read(os.path.join(stage_dir, n)) == before[n] and os.stat(os.path.join(stage_dir, n)).st_mtime_ns == mtimes[n],
              f"{n} is reused unchanged")
    resumed = json.loads(read(os.path.join(cut, "report.json")))
    check(stable(resumed) == stable(ref), "the resumed report equals the uninterrupted one")
    check([s["resumed"] for s in resumed["run"]["stages"]] == [f"{s}.json" in before for s in ("anatomy", "lineage", "features")],
          "report.json records which stages were resumed")

    # A stage edited on disk shows up: it is read back, not recomputed.
    lineage_file = os.path.join(ref_dir, "stages", "lineage.json")
    st = json.loads(read(lineage_file))
    st["result"]["unmatched"][0]["reason"] = "EDITED-ON-DISK"
    with open(lineage_file, "w") as fh:
        json.dump(st, fh)
    for leftover in ("report.json", "report.md", "report.html"):
        os.remove(os.path.join(ref_dir, leftover))
    r = run(a.binary, *base, "--out", ref_dir)
    check(r.returncode == 0 and "EDITED-ON-DISK" in read(os.path.join(ref_dir, "report.md")), "a finished stage is read back from stages/")
    # Changed options: the features stage is recomputed, earlier stages are not.
    for leftover in ("report.json", "report.md", "report.html"):
        os.remove(os.path.join(ref_dir, leftover))
    r = run(a.binary, *base[:-1], "300", "--out", ref_dir)
    check(r.returncode == 0 and "features: inputs changed" in r.stderr and "lineage: finished earlier, resumed" in r.stderr,
          "changed --steps recomputes features and resumes the rest")

    print(f"{len(FAILS)} failed" if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""report.html in headless Chromium (Debian's `chromium`): no console error, no request leaving the
file, and the summary table and the plots actually render.

Usage (as ctest runs it):
    /usr/bin/python3 tests/python/test_report_browser.py --binary B --fixtures DIR --source SRC --tmp TMP

Method:
- the demo writes a report; static checks: CSP meta tag, no script, no http(s):// anywhere.
- Chromium renders it with --enable-logging=stderr (page console messages appear as INFO:CONSOLE
  lines) and --log-net-log (every URL request with its network isolation key; the page's own
  requests carry the file:// key, the browser's background services do not).
- Controls prove the two detectors can fire: a copy with an <img> pointing at http://127.0.0.1:9
  must give a CSP console line, and the same copy without the CSP meta tag must show that request in
  the net log.
- Rendering: three screenshots at the same layout: the page, the page with `svg.plot` hidden, and
  with `#summary-table` hidden (visibility keeps the layout). The pixels that change are what the
  plots and the table drew: both must cover a real area, and the plot pixels must vary (not blank).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

from PIL import Image, ImageChops, ImageStat

FAILS = []
WIDTH, HEIGHT = 1200, 7000


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def chromium(html_path, png_path, net_log):
    exe = shutil.which("chromium")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
           "--disable-default-apps", "--disable-extensions", "--disable-spell-checking",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
           f"--log-net-log={net_log}", f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={png_path}",
           f"--user-data-dir={os.path.dirname(png_path)}/profile-{os.path.basename(png_path)}",
           "file://" + os.path.abspath(html_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [l for l in r.stderr.splitlines() if ":CONSOLE" in l]
    page_requests = []
    with open(net_log) as f:
        log = json.load(f)
    for e in log["events"]:
        p = e.get("params", {})
        url, nik = p.get("url", ""), p.get("network_isolation_key", "")
        if url and "file://" in nik and not url.startswith(("file:", "data:")):
            page_requests.append(url)
    return console, page_requests


def with_style(html, css, path):
    with open(path, "w") as f:
        f.write(html.replace("</head>", f"<style>{css}</style></head>", 1))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    if shutil.which("chromium") is None:
        print("FAIL chromium is not installed (scripts/setup.sh installs it)")
        return 1
    tmp = os.path.join(a.tmp, f"browser_{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    demo = os.path.join(tmp, "demo")
    r = subprocess.run([a.binary, "demo", "--out", demo, "--threads", "2"], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "demo exits 0" + ("" if r.returncode == 0 else f" ({r.stderr[-300:]})"))
    report = os.path.join(demo, "report", "report.html")
    with open(report) as f:
        html = f.read()

    # Static: nothing that could fetch.
    check("Content-Security-Policy" in html and "default-src 'none'" in html, "CSP meta tag forbids fetching")
    check(re.search(r"https?://", html) is None, "no http(s):// reference anywhere in the page")
    check("<script" not in html.lower(), "no script")
    srcs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    check(len(srcs) > 0 and all(s.startswith("data:image/png;base64,") for s in srcs),
          f"every src/href is a data:image/png URI ({len(srcs)} found)")

    # Browser: no console message, no request from the page.
    console, requests = chromium(report, os.path.join(tmp, "page.png"), os.path.join(tmp, "page.net.json"))
    check(console == [], f"no console messages ({console[:3]})")
    check(requests == [], f"no network request from the page ({requests[:3]})")

    # Controls: the detectors see a real violation.
    bad = html.replace("<main>", '<main><img src="http://127.0.0.1:9/leak.png">', 1)
    with open(os.path.join(tmp, "bad.html"), "w") as f:
        f.write(bad)
    console_bad, _ = chromium(os.path.join(tmp, "bad.html"), os.path.join(tmp, "bad.png"), os.path.join(tmp, "bad.net.json"))
    check(any("Content Security Policy" in l for l in console_bad), "control: a remote <img> is reported by the console")
    nocsp = re.sub(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>", "", bad)
    with open(os.path.join(tmp, "nocsp.html"), "w") as f:
        f.write(nocsp)
    _, requests_bad = chromium(os.path.join(tmp, "nocsp.html"), os.path.join(tmp, "nocsp.png"), os.path.join(tmp, "nocsp.net.json"))
    check(any("127.0.0.1:9" in u for u in requests_bad), "control: without the CSP the request shows in the net log")

    # Rendering: what the plots and the table add to the page.
    no_plots = with_style(html, "svg.plot{visibility:hidden}", os.path.join(tmp, "noplots.html"))
    no_table = with_style(html, "#summary-table{visibility:hidden}", os.path.join(tmp, "notable.html"))
    chromium(no_plots, os.path.join(tmp, "noplots.png"), os.path.join(tmp, "noplots.net.json"))
    chromium(no_table, os.path.join(tmp, "notable.png"), os.path.join(tmp, "notable.net.json"))
    page = Image.open(os.path.join(tmp, "page.png")).convert("RGB")
    check(page.size == (WIDTH, HEIGHT), f"screenshot is {WIDTH}x{HEIGHT}")
    n_plots = len(re.findall(r'<svg class="plot', html))
    check(n_plots >= 4, f"the page has the heatmap, bins, relative-norm and cosine plots ({n_plots} plots)")
    for name, min_pixels in (("noplots", 4 * 40000), ("notable", 5000)):
        other = Image.open(os.path.join(tmp, name + ".png")).convert("RGB")
        diff = ImageChops.difference(page, other).convert("L").point(lambda v: 255 if v > 8 else 0)
        changed = sum(1 for v in diff.getdata() if v)
        check(changed > min_pixels, f"{name}: hiding it changes {changed} pixels (> {min_pixels})")
        box = diff.getbbox()
        if box:
            stat = ImageStat.Stat(page.crop(box).convert("L"))
            check(stat.var[0] > 200, f"{name}: the region it draws is not blank (variance {stat.var[0]:.0f})")
    print(f"{len(FAILS)} failed" if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())

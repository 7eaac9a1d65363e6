# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of the report files with real validators, shared by the unit tests and the molecule scenario "report".

- results.json: the collection's JSON schema (docs/results.schema.json, with jsonschema) and its counts;
- junit.xml: ``xmllint --schema`` against the Jenkins xunit plugin's junit-10.xsd and the Apache Ant
  (Windy Road) JUnit.xsd in fixtures/report;
- metrics.prom: a strict reader of the Prometheus text exposition format 0.0.4;
- report.html: headless Chromium. One run dumps the DOM of a copy of the page with a probe script
  appended (each matrix cell's computed background and box, injected elements), a second run
  takes a screenshot of the page itself, read with zlib (no imaging library), so that the colour
  really painted at each cell's centre is known.

As a command (molecule's verify): ``python report_checks.py REPORT_DIR`` prints every check's
outcome as JSON and exits non-zero when one of them failed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, *[os.pardir] * 4))
SCHEMA = os.path.join(REPO, "docs", "results.schema.json")
XSDS = {"jenkins": os.path.join(HERE, "fixtures", "report", "jenkins-junit-10.xsd"),
        "ant": os.path.join(HERE, "fixtures", "report", "ant-junit.xsd")}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1"]
WIDTH = 1280
PROBE_MARK = "pprep-probe"


class CheckError(AssertionError):
    """A report file that is not what it must be; the message says which and why."""


# ---------------------------------------------------------------------------------------------- JSON
def check_results_json(path, schema_path=SCHEMA):
    """Validate results.json against the schema and check that its counts add up; return the document."""
    import jsonschema  # in the project's virtualenv (pulled in by ansible-lint and molecule, pinned in constraints.txt)
    with open(schema_path) as handle:
        schema = json.load(handle)
    with open(path) as handle:
        document = json.load(handle)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        raise CheckError("%s does not match %s: %s" % (path, schema_path, "; ".join(
            "%s: %s" % ("/".join(str(p) for p in e.path), e.message) for e in errors[:5])))
    summary, results = document["summary"], document["results"]
    for status in ("pass", "fail", "error", "skip"):
        held = sum(1 for item in results if item["status"] == status)
        if summary[status] != held:
            raise CheckError("%s: summary.%s is %d, the results hold %d" % (path, status, summary[status], held))
    if summary["total"] != len(results):
        raise CheckError("%s: summary.total is %d, there are %d results" % (path, summary["total"], len(results)))
    for host, info in summary["hosts"].items():
        mine = [item for item in results if item["host"] == host]
        if info["total"] != len(mine):
            raise CheckError("%s: summary.hosts.%s.total is %d, the results hold %d" % (path, host, info["total"], len(mine)))
    return document


# --------------------------------------------------------------------------------------------- JUnit
def check_junit(path):
    """xmllint --schema against both XSDs; returns {schema name: xmllint output}. Raises CheckError on a failure."""
    xmllint = shutil.which("xmllint")
    if not xmllint:
        raise CheckError("xmllint is not installed (Debian package libxml2-utils, listed in bindep.txt)")
    out = {}
    for name, xsd in sorted(XSDS.items()):
        proc = subprocess.run([xmllint, "--noout", "--schema", xsd, path], capture_output=True, text=True, check=False)
        out[name] = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise CheckError("%s is not valid against %s (rc %d): %s" % (path, xsd, proc.returncode, out[name]))
    return out


# ---------------------------------------------------------------------------------------- Prometheus
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _labels(text, line):
    labels = {}
    body = text[1:-1]
    pos = 0
    while pos < len(body):
        match = _LABEL.match(body, pos)
        if not match:
            raise CheckError("metrics: bad label set at %r in line %r" % (body[pos:], line))
        name, value = match.group(1), match.group(2)
        if name in labels:
            raise CheckError("metrics: label %s twice in line %r" % (name, line))
        labels[name] = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = match.end()
        if match.group(3) == "" and pos != len(body):
            raise CheckError("metrics: trailing text in the labels of line %r" % line)
    return labels


def parse_prometheus(text):
    """Read the text exposition format strictly: [{name, labels, value}]. Raises CheckError naming the line."""
    if not text.endswith("\n"):
        raise CheckError("metrics: the text must end with a line feed")
    families, samples, seen, done = {}, [], set(), set()
    current = None
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not _NAME.match(parts[2]):
                raise CheckError("metrics: bad comment line %r" % line)
            name = parts[2]
            if name in done:
                raise CheckError("metrics: family %s appears again after other families (line %r)" % (name, line))
            if current and current != name:
                done.add(current)
            current = name
            entry = families.setdefault(name, {})
            key = parts[1]
            if key in entry:
                raise CheckError("metrics: second %s for %s" % (key, name))
            if key == "TYPE" and parts[3] not in TYPES:
                raise CheckError("metrics: unknown type %r for %s" % (parts[3], name))
            if key == "TYPE" and any(sample["name"] == name for sample in samples):
                raise CheckError("metrics: TYPE of %s after its samples" % name)
            entry[key] = parts[3]
            continue
        if line.startswith("#") or not line.strip():
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise CheckError("metrics: bad sample line %r" % line)
        name = match.group(1)
        if name != current:
            if name in done or name in families and current is not None:
                raise CheckError("metrics: samples of %s are not together (line %r)" % (name, line))
            if current:
                done.add(current)
            current = name
        labels = _labels(match.group(2), line) if match.group(2) else {}
        for label in labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise CheckError("metrics: bad label name %s in line %r" % (label, line))
        try:
            value = float(match.group(3))
        except ValueError:
            raise CheckError("metrics: value %r is not a number (line %r)" % (match.group(3), line))
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise CheckError("metrics: duplicate series %s%s" % (name, labels))
        seen.add(key)
        samples.append({"name": name, "labels": labels, "value": value})
    for name, entry in families.items():
        if "TYPE" not in entry or "HELP" not in entry:
            raise CheckError("metrics: %s lacks HELP or TYPE" % name)
    return samples


# ------------------------------------------------------------------------------------------------ PNG
def read_png(path):
    """(width, height, pixel(x, y) -> (r, g, b)) of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise CheckError("%s is not a PNG file" % path)
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _compression, _filter, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise CheckError("%s: only 8-bit RGB/RGBA non-interlaced PNGs are read here (depth %d, colour type %d)" % (path, depth, colour))
    raw = zlib.decompress(b"".join(chunks))
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    rows, prev, pos = [], bytearray(stride), 0
    for _y in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif kind != 0:
            raise CheckError("%s: unknown PNG filter %d" % (path, kind))
        rows.append(line)
        prev = line

    def pixel(x, y):
        row = rows[y]
        return tuple(row[x * bpp:x * bpp + 3])
    return width, height, pixel


# -------------------------------------------------------------------------------------------- Chromium
PROBE_SCRIPT = """
<script>
(function () {
  function rgb(text) { var m = text.match(/\\d+/g); return m ? m.slice(0, 3).map(Number) : null; }
  var cells = Array.prototype.map.call(document.querySelectorAll('table.matrix td'), function (td) {
    var box = td.getBoundingClientRect();
    return {source: td.getAttribute('data-source'), target: td.getAttribute('data-target'), status: td.getAttribute('data-status'),
            kind: td.getAttribute('data-kind'), text: td.textContent, background: rgb(getComputedStyle(td).backgroundColor),
            x: box.left + window.scrollX, y: box.top + window.scrollY, width: box.width, height: box.height};
  });
  var scripts = document.querySelectorAll('script').length - 1;
  var out = {cells: cells, height: Math.ceil(document.documentElement.scrollHeight), scripts: scripts,
             injected: document.querySelectorAll('img, iframe, object, embed, svg, form, [onerror], [onload], [onclick], a[href^="javascript"]').length,
             sections: Array.prototype.map.call(document.querySelectorAll('main > section'), function (s) { return s.id; }),
             external: document.querySelectorAll('[src], link[href]').length,
             title: document.title};
  var pre = document.createElement('pre');
  pre.id = '%s';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
""" % PROBE_MARK


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise CheckError("headless Chromium is not installed (Debian package chromium, listed in bindep.txt)")


def _chromium(args, workdir):
    profile = tempfile.mkdtemp(prefix="profile-", dir=workdir)
    proc = subprocess.run([chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args, capture_output=True, text=True,
                          timeout=120, check=False)
    if proc.returncode != 0:
        raise CheckError("chromium failed (rc %d): %s" % (proc.returncode, proc.stderr[-2000:]))
    return proc.stdout


def browse(html_path):
    """Render report.html in headless Chromium: {cells: [...with 'painted' colour...], scripts, injected, sections, height, ...}."""
    workdir = tempfile.mkdtemp(prefix="pprep-chromium-")
    try:
        with open(html_path, encoding="utf-8") as handle:
            page = handle.read()
        if page.count("</body>") != 1:
            raise CheckError("%s: expected exactly one </body>" % html_path)
        probe = os.path.join(workdir, "probe.html")
        with open(probe, "w", encoding="utf-8") as handle:
            handle.write(page.replace("</body>", PROBE_SCRIPT + "</body>"))
        dom = _chromium(["--window-size=%d,900" % WIDTH, "--dump-dom", "file://" + probe], workdir)
        match = re.search(r'<pre id="%s">(.*?)</pre>' % PROBE_MARK, dom, re.S)
        if not match:
            raise CheckError("the probe script did not run in Chromium; DOM: %s" % dom[:500])
        import html as htmllib
        found = json.loads(htmllib.unescape(match.group(1)))
        shot = os.path.join(workdir, "page.png")
        height = max(found["height"], 200)
        _chromium(["--window-size=%d,%d" % (WIDTH, height), "--screenshot=" + shot, "file://" + os.path.abspath(html_path)], workdir)
        width, shot_height, pixel = read_png(shot)
        found["screenshot"] = {"width": width, "height": shot_height}
        for cell in found["cells"]:
            x, y = int(cell["x"] + 4), int(cell["y"] + 4)  # inside the cell, clear of its border and text
            cell["painted"] = list(pixel(x, y)) if 0 <= x < width and 0 <= y < shot_height else None
        return found
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def hex_rgb(colour):
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def close(a, b, tolerance=3):
    return a is not None and b is not None and all(math.fabs(x - y) <= tolerance for x, y in zip(a, b))


# ---------------------------------------------------------------------------------------------- main
def check_dir(report_dir):
    """Every check over one report directory; {name: outcome}; raises CheckError on the first failure."""
    out = {}
    document = check_results_json(os.path.join(report_dir, "results.json"))
    out["results.json"] = {"status": document["summary"]["status"], "total": document["summary"]["total"]}
    out["junit.xml"] = check_junit(os.path.join(report_dir, "junit.xml"))
    with open(os.path.join(report_dir, "metrics.prom"), encoding="utf-8") as handle:
        samples = parse_prometheus(handle.read())
    success = [s for s in samples if s["name"] == "portproof_check_success"]
    if len(success) != len(document["results"]):
        raise CheckError("metrics.prom holds %d portproof_check_success samples for %d results" % (len(success), len(document["results"])))
    out["metrics.prom"] = {"samples": len(samples)}
    for host, info in document["summary"]["hosts"].items():
        if info["facts"]:
            with open(os.path.join(report_dir, info["facts"]), encoding="utf-8") as handle:
                facts = json.load(handle)
            if facts["host"] != host:
                raise CheckError("%s names host %s, not %s" % (info["facts"], facts["host"], host))
    out["facts"] = sorted(info["facts"] for info in document["summary"]["hosts"].values() if info["facts"])
    with open(os.path.join(report_dir, "summary.md"), encoding="utf-8") as handle:
        out["summary.md"] = handle.read().split("\n", 1)[0]
    out["report.html"] = browse(os.path.join(report_dir, "report.html"))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: report_checks.py REPORT_DIR", file=sys.stderr)
        return 2
    try:
        out = check_dir(argv[0])
    except CheckError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 1
    out["ok"] = True
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

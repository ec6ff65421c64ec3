#!/usr/bin/env python3
"""Evaluate mcpflow's security gate on the shared datasets.

Converts ../shared/datasets into the JSON Lines format of `mcpflow scan`, runs
`mcpflow scan --eval` for attack recall / false-positive rate, and `mcpflow scan` for PII
span recall / precision / F2 per entity type.

Attacks are scored twice: the text alone, and with the system prompt it was written
against (`instructions`); in the second run each negative is sent to one of the half's
deployments in turn.

Hold-out: rows with an even index are the development half (rules were tuned looking at
them); rows with an odd index are "unseen" and reported separately.

Usage: eval_guard.py MCPFLOW_BINARY DATASETS_DIR [--details]
"""
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

PII_TYPES = {
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ip_address",
}
ATTACK_CATEGORIES = {"prompt_injection", "jailbreak", "memory_poisoning", "privilege_escalation"}
WARN = 0.5  # default warn threshold of every attack category (GuardConfig::default)
COMBINED_WARN = 0.6  # GuardConfig::default().combined.warn


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def run(binary, args, path):
    with open(path, "rb") as f:
        p = subprocess.run([binary, "scan", *args], stdin=f, capture_output=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode())
        raise SystemExit(f"mcpflow scan {' '.join(args)} failed with {p.returncode}")
    return p.stdout.decode()


def f_beta(p, r, beta=2.0):
    if p + r == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * p * r / (b2 * p + r)


def pii_scores(presidio_rows, outputs):
    gold_total, gold_hit = Counter(), Counter()
    pred_total, pred_hit = Counter(), Counter()
    misses = defaultdict(list)
    for row, out in zip(presidio_rows, outputs):
        gold = [
            (PII_TYPES[s["entity_type"]], s["start_position"], s["end_position"])
            for s in row["spans"]
            if s["entity_type"] in PII_TYPES
        ]
        pred = [
            (sp["rule"][4:], sp["char_start"], sp["char_end"])
            for sp in out["spans"]
            if sp["rule"].startswith("pii.")
        ]
        overlap = lambda a, b: a[0] == b[0] and a[1] < b[2] and b[1] < a[2]
        for g in gold:
            gold_total[g[0]] += 1
            if any(overlap(g, p) for p in pred):
                gold_hit[g[0]] += 1
            else:
                misses[g[0]].append(row["full_text"][g[1]:g[2]])
        for p in pred:
            if p[0] not in PII_TYPES.values():
                continue
            pred_total[p[0]] += 1
            if any(overlap(p, g) for g in gold):
                pred_hit[p[0]] += 1
            else:
                misses["FP " + p[0]].append(row["full_text"][p[1]:p[2]])
    table = {}
    for t in PII_TYPES.values():
        r = gold_hit[t] / gold_total[t] if gold_total[t] else None
        p = pred_hit[t] / pred_total[t] if pred_total[t] else None
        table[t] = {
            "gold": gold_total[t],
            "predicted": pred_total[t],
            "recall": r,
            "precision": p,
            "f2": f_beta(p or 0.0, r or 0.0) if r is not None else None,
        }
    return table, misses


def fmt(x):
    return "  n/a" if x is None else f"{x:6.3f}"


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    binary, datasets = sys.argv[1], sys.argv[2]
    details = "--details" in sys.argv
    attacks = json.load(open(os.path.join(datasets, "cyberseceval-prompt-injection.json")))
    presidio = json.load(open(os.path.join(datasets, "presidio-synth-pii.json")))
    tmp = tempfile.mkdtemp(prefix="eval-guard-")
    for half, parity in (("dev (even rows)", 0), ("unseen (odd rows)", 1)):
        atk = [(i, a) for i, a in enumerate(attacks) if i % 2 == parity]
        neg = [(i, p) for i, p in enumerate(presidio) if i % 2 == parity]
        prompts = [a["test_case_prompt"] for _, a in atk]
        for mode in ("text alone", "with system prompt"):
            ctx = mode != "text alone"
            # With context, every negative is sent to one of the half's deployments in turn:
            # their instructions must not make ordinary texts look like attacks.
            rows = [
                {"id": f"cse-{i}", "text": a["user_input"], "label": True}
                | ({"instructions": a["test_case_prompt"]} if ctx else {})
                for i, a in atk
            ] + [
                {"id": f"presidio-{i}", "text": p["full_text"], "label": False}
                | ({"instructions": prompts[k % len(prompts)]} if ctx else {})
                for k, (i, p) in enumerate(neg)
            ]
            path = os.path.join(tmp, f"inj-{parity}-{int(ctx)}.jsonl")
            write_jsonl(path, rows)
            summary = json.loads(run(binary, ["--eval"], path))
            print(f"== {half}, {mode}: injection ({len(atk)} attacks vs {len(neg)} presidio texts as negatives)")
            print(
                f"   recall {fmt(summary['recall'])}  precision {fmt(summary['precision'])}  "
                f"FPR {fmt(summary['false_positive_rate'])}  "
                f"(TP {summary['true_positives']} FN {summary['false_negatives']} "
                f"FP {summary['false_positives']} TN {summary['true_negatives']})"
            )
            # Per-line reports for the breakdowns (same scanner; flagged = attack category >= warn).
            outs = [json.loads(l) for l in run(binary, [], path).splitlines()]
            by_id = {o["id"]: o for o in outs}
            flagged = lambda o: o["attack_score"] >= COMBINED_WARN or any(s >= WARN for c, s in o["categories"].items() if c in ATTACK_CATEGORIES)
            per_variant = defaultdict(lambda: [0, 0])
            for i, a in atk:
                key = (a["injection_type"], a["injection_variant"])
                per_variant[key][1] += 1
                per_variant[key][0] += flagged(by_id[f"cse-{i}"])
            # CyberSecEval's "logic-violating" rows are attacks only against their system prompt
            # (e.g. an off-topic question to a bot told to stay on topic); the text alone is benign.
            per_risk = defaultdict(lambda: [0, 0])
            for i, a in atk:
                per_risk[a["risk_category"]][1] += 1
                per_risk[a["risk_category"]][0] += flagged(by_id[f"cse-{i}"])
            print("   recall by risk category: " + ", ".join(
                f"{r} {hit}/{n} ({fmt(hit / n)})" for r, (hit, n) in sorted(per_risk.items())))
            print("   recall by technique:")
            for (t, v), (hit, n) in sorted(per_variant.items()):
                print(f"     {t:8} {v:34} {hit:3}/{n:<3}")
            if details:
                for i, a in atk:
                    o = by_id[f"cse-{i}"]
                    if not flagged(o):
                        print(f"   MISS cse-{i} [{a['injection_variant']}] {a['user_input'][:160]!r}")
                for i, p in neg:
                    o = by_id[f"presidio-{i}"]
                    if flagged(o):
                        rules = sorted({s['rule'] for s in o['spans'] if s['category'] != 'pii_exposure'})
                        print(f"   FP presidio-{i} {rules} {p['full_text'][:160]!r}")
        # PII spans on the presidio half.
        pii_path = os.path.join(tmp, f"pii-{parity}.jsonl")
        write_jsonl(pii_path, [{"id": i, "text": p["full_text"]} for i, p in neg])
        pii_out = [json.loads(l) for l in run(binary, [], pii_path).splitlines()]
        table, misses = pii_scores([p for _, p in neg], pii_out)
        print(f"   PII on {len(neg)} presidio texts (span overlap, same type):")
        print(f"     {'type':12} {'gold':>5} {'pred':>5} {'recall':>7} {'prec':>7} {'F2':>7}")
        for t, s in table.items():
            print(
                f"     {t:12} {s['gold']:5} {s['predicted']:5} {fmt(s['recall'])} "
                f"{fmt(s['precision'])} {fmt(s['f2'])}"
            )
        if details:
            for k, v in misses.items():
                print(f"   PII miss {k}: {v[:12]}")
        print()
    # Questions each deployment is there to answer, near what its instructions forbid (our own
    # text, crates/guard/tests/data/on_topic.jsonl; with the dev half it set the thresholds of
    # the instructions check, so it is development data too).
    on_topic = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "guard", "tests", "data", "on_topic.jsonl")
    summary = json.loads(run(binary, ["--eval"], on_topic))
    print(
        f"== on-topic questions with their deployment's instructions: FPR {fmt(summary['false_positive_rate'])} "
        f"(FP {summary['false_positives']} of {summary['false_positives'] + summary['true_negatives']})"
    )


if __name__ == "__main__":
    main()

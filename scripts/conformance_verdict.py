"""Reads every checks.json under a conformance results directory and fails on any FAILURE.

Prints one line per suite run (passed / warnings / failed) and every non-success check.
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
failed = 0
runs = [p for p in root.iterdir() if p.is_dir()]
if not runs:
    print(f"no suite results under {root}: the suite did not run (see the .log files there)")
    sys.exit(1)
for run in sorted(p for p in root.iterdir() if p.is_dir()):
    counts = {"SUCCESS": 0, "WARNING": 0, "FAILURE": 0, "OTHER": 0}
    scenarios = 0
    for checks_file in sorted(run.rglob("checks.json")):
        scenarios += 1
        scenario = checks_file.parent.name.rsplit("-20", 1)[0]
        for check in json.loads(checks_file.read_text()):
            status = check.get("status", "OTHER")
            counts[status if status in counts else "OTHER"] += 1
            if status in ("FAILURE", "WARNING"):
                print(f"  {status:7} {run.name} {scenario} {check.get('id')}: "
                      f"{(check.get('errorMessage') or '')[:240]}")
    if scenarios == 0:
        print(f"{run.name}: no results (did the suite run?)")
        failed += 1
        continue
    print(f"{run.name}: {scenarios} scenarios, {counts['SUCCESS']} passed, "
          f"{counts['WARNING']} warnings, {counts['FAILURE']} failed")
    failed += counts["FAILURE"]
sys.exit(1 if failed else 0)

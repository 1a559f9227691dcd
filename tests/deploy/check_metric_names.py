#!/usr/bin/env python3
"""Every parley_* series the dashboard and the alert rules query is one the
server exports (the names registered in src/metrics/metrics.cc), so a renamed
metric cannot leave a panel or an alert silently empty."""
import re
import sys

metrics_cc, *users = sys.argv[1:]
exported = set(re.findall(r'"(parley_[a-z0-9_]+)"', open(metrics_cc).read()))
if not exported:
    sys.exit(f"no metric names found in {metrics_cc}")
missing = []
for path in users:
    for name in sorted(set(re.findall(r"\bparley_[a-z0-9_]+", open(path).read()))):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in exported and base not in exported:
            missing.append(f"{path}: {name}")
if missing:
    sys.exit("series not exported by parleyd:\n  " + "\n  ".join(missing))
print(f"{len(users)} files use only exported metrics ({len(exported)} exported)")

#!/usr/bin/env bash
# promtool check rules over deploy/prometheus/alerts.yml. Exit 77 (ctest:
# skipped) when promtool is missing, saying so.
set -euo pipefail
rules=${1:?usage: check_rules.sh RULES_FILE}
if ! command -v promtool >/dev/null; then
  echo "SKIP: promtool not installed (Debian package prometheus; scripts/deps installs it)"
  exit 77
fi
promtool check rules "$rules"

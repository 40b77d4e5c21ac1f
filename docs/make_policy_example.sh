#!/usr/bin/env bash
# Regenerate the example of docs/policy-search.md: runs the search, copies its chart to
# docs/img/policy-frontier.png and prints the output and the frontier table to paste into the doc.
# Run from the repository root with the `optimize` extra installed. Takes a few minutes.
set -euo pipefail
SIM="${SIM:-.venv/bin/sim}"
PY="${PY:-.venv/bin/python}"
STUDY="$(mktemp -d)/study"
"$SIM" optimize scenarios/crackdown_2025.toml \
    --lever 'events.joint_operation.set."customs.CN.capacity_per_week"=1000:9000:int' \
    --lever customs.TH.capacity_per_week=0:1500:int \
    --lever customs.MX.capacity_per_week=0:1500:int \
    --lever 'events.joint_operation.set."exporters.trace_prob"=0:0.5:0.01' \
    --lever 'events.sentences.set."penalties.fine_multiple"=0:6:0.25' \
    --objective enforcement_cost_usd:min --objective illicit_delivered_t:min \
    --constraint "illicit_delivered_t<=0.95x" \
    --budget 96 --replicates 4 --seed 1 --study "$STUDY"
cp "$STUDY/frontier.png" docs/img/policy-frontier.png
"$PY" - "$STUDY" <<'PYEOF'
import sys
import pandas as pd
f = pd.read_csv(f"{sys.argv[1]}/frontier.csv")
f.columns = [c.replace("events.joint_operation.set.", "op.").replace("events.sentences.set.", "sent.") for c in f.columns]
print(f.iloc[:, :12].to_string(index=False))
PYEOF
echo "study: $STUDY"

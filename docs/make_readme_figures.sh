#!/usr/bin/env bash
# Regenerate the figures and the brief shown in the README from real runs:
#   bash docs/make_readme_figures.sh        (from the repository root, with the package installed)
# Scenario names come from the two files below; change them here when the shipped names change.
set -euo pipefail
cd "$(dirname "$0")/.."
base=scenarios/antimony_2024.toml
policy=scenarios/crackdown_2025.toml
post=scenarios/antimony_2024.posterior.parquet      # the calibrated ensemble (sim calibrate)
out=$(mktemp -d)
sim run "$base" --replicates 20 --posterior "$post" --out "$out" | tee "$out/summary.txt"
run=$(ls -d "$out"/*/*/ | tail -n 1)
cp "$run/charts/prices.png" "$run/charts/routemap.png" "$run/charts/sankey.png" docs/img/
sim compare "$base" "$policy" --replicates 20 --posterior "$post" --out "$out" > "$out/compare.txt"
cmp=$(ls -d "$out"/compare-*/*/ | tail -n 1)
sim brief "$cmp" --validation docs/validation.md --out docs/img/brief.pdf
pdftoppm -png -r 60 -singlefile docs/img/brief.pdf docs/img/brief
# the dashboard's screenshot, taken by its browser test (needs the dashboard extra and Chromium)
SIM_UPDATE_SCREENSHOT=1 python -m pytest tests/test_dashboard_browser.py -k higher_fine -q -p no:cacheprovider || \
    echo "dashboard screenshot not updated (no Chromium or playwright here)"
echo "README figures written to docs/img/ (results in $out)"

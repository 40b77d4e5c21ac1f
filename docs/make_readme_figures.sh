#!/usr/bin/env bash
# Regenerate the figures and brief shown in the README from real runs:
#   bash docs/make_readme_figures.sh        (from the repository root, with the package installed)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
sim run scenarios/antimony_ban_2024.toml --replicates 20 --out "$out" | tee "$out/summary.txt"
sim run scenarios/crackdown_2025.toml --replicates 20 --out "$out" > /dev/null
ban=$(ls -d "$out"/antimony_ban_2024/*/ | tail -n 1)
crack=$(ls -d "$out"/crackdown_2025/*/ | tail -n 1)
cp "$ban/charts/prices.png" "$ban/charts/routemap.png" docs/img/
sim brief "$ban" "$crack" --out docs/img/brief.pdf
pdftoppm -png -r 60 -singlefile docs/img/brief.pdf docs/img/brief
echo "README figures written to docs/img/ (run folders in $out)"

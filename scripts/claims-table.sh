#!/usr/bin/env bash
# Rewrite the README's claims table and docs/studies_rejudged.md: the committed experiment outputs in
# docs/*_results judged under the study rules (src/mvssl/experiments/studies/*_rejudged.yaml), nothing retrained.
set -euo pipefail
cd "$(dirname "$0")/.."
mvssl experiment rejudge --out docs/studies_rejudged.md --readme README.md

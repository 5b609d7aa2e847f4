#!/usr/bin/env bash
# README command 1 (the main job): set up, then train LevelSet R-CNN on the built-in generated dataset on the
# CPU, evaluate it (COCO box / mask AP, initial and final mask AP) and draw predictions.
# Extra arguments go to tools/quickstart.py (e.g. --output-dir DIR, or config overrides KEY VALUE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "${LEVELSET_RCNN_VENV:-$ROOT/.venv}/bin/python" tools/quickstart.py "$@"

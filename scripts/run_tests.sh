#!/usr/bin/env bash
# README command 2: set up (scripts/setup_env.sh) and run the whole test suite on the CPU.
# Extra arguments go to pytest (e.g. -k tsdf, -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "${LEVELSET_RCNN_VENV:-$ROOT/.venv}/bin/python" -m pytest tests projects/DeepLabLosses/tests "$@"

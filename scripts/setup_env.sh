#!/usr/bin/env bash
# Set up everything LevelSet R-CNN needs in a virtualenv (default: .venv in the repository; override with
# LEVELSET_RCNN_VENV). Idempotent: a second run with unchanged requirements returns at once.
#   - torch / torchvision from requirements/torch.txt (skipped if already importable)
#   - detectron2 via tools/install_detectron2.py: keeps an existing one; DETECTRON2_SOURCE=<checkout or git
#     URL> builds the official one; otherwise the pure-Python v0.6 fallback from the package registry
#   - this package (levelset_rcnn and levelset_core) in editable mode with its test extras
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LEVELSET_RCNN_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/requirements/constraints-detectron2-v0.6.txt"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

STAMP="$VENV/.levelset_rcnn_setup"
WANT="$(cat "$ROOT/requirements/"*.txt "$ROOT/setup.py" "$ROOT/tools/install_detectron2.py" "$ROOT/levelset_core/compat/detectron2_installer.py" | sha256sum | cut -d' ' -f1) ${DETECTRON2_SOURCE:-}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$PY" -c "import levelset_rcnn" >/dev/null 2>&1; then
  echo "[setup] environment $VENV is up to date"
  exit 0
fi

pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored" >&2); }

if ! "$PY" -c "import torch, torchvision" >/dev/null 2>&1; then
  echo "[setup] installing torch and torchvision (requirements/torch.txt)"
  pip_install -r "$ROOT/requirements/torch.txt"
fi

echo "[setup] detectron2"
if [ -n "${DETECTRON2_SOURCE:-}" ]; then
  "$PY" "$ROOT/tools/install_detectron2.py" --source "$DETECTRON2_SOURCE"
else
  "$PY" "$ROOT/tools/install_detectron2.py"
fi

# The pins of the pure-Python v0.6 fallback apply only when that is the detectron2 in use.
if "$PY" -c "import importlib.util as u, sys; sys.exit(0 if u.find_spec('detectron2._C') is None else 1)"; then
  PINS=(-c "$CONSTRAINTS")
else
  PINS=()
fi
echo "[setup] levelset_rcnn (editable) and test tools"
pip_install "${PINS[@]}" -e "$ROOT[test]"
"$PY" -c "import levelset_rcnn, detectron2, torch; from levelset_core.compat import has_compiled_ops; print('[setup] ok: torch', torch.__version__, '| detectron2', detectron2.__version__, '| compiled ops:', has_compiled_ops())"
echo "$WANT" > "$STAMP"

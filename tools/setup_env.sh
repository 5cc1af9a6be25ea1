#!/usr/bin/env bash
# Create (or bring up to date) the project virtual environment with the pinned OpenMMLab stack.
#
#   VENV=/path/to/venv PYTHON=python3.11 bash tools/setup_env.sh
#
# Idempotent: a second run on a set-up machine only checks what is there (well under 2 minutes)
# and never rebuilds mmcv. Fails loudly if the result cannot import mmcv's compiled ops.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --progress-bar off)

# The pins: requirements/stack.txt is their one source (README's table and setup.py's `stack`
# extra follow it). torch/torchvision are pinned with '===' there so that pip takes the registry
# builds: a local '+cpu' torch wheel would otherwise win, and no torchvision runs on it.
STACK="$ROOT/requirements/stack.txt"
pin() {  # the requirement line of one package in requirements/stack.txt
    local line
    line=$(grep -E "^$1([=<>!~ ]|$)" "$STACK" | head -1)
    [ -n "$line" ] || { echo "setup: $1 is not pinned in $STACK" >&2; exit 1; }
    printf '%s' "$line"
}
version() { pin "$1" | sed -E 's/^[A-Za-z0-9_.-]+=+//'; }  # torch===2.13.0 -> 2.13.0
TORCH=("$(pin torch)" "$(pin torchvision)")
BUILD=("$(pin setuptools)" "wheel" "ninja")
MMENGINE="$(pin mmengine)"
MMCV="$(pin mmcv)"
DOWNSTREAM=("$(pin mmdet)" "$(pin mmsegmentation)" "$(pin mmpretrain)" "$(pin ftfy)" "$(pin regex)")

step() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
have() { "$PY" - "$@" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for spec in sys.argv[1:]:
    name, _, want = spec.partition('==')
    try:
        got = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if want and got.split('+')[0] != want:
        sys.exit(1)
PYEOF
}

if [ ! -x "$PY" ]; then
    step "creating virtual environment $VENV with $($PYTHON --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

if have "torch==$(version torch)" "torchvision==$(version torchvision)" && "$PY" -c 'import torchvision' 2>/dev/null; then
    step "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
else
    step "installing ${TORCH[*]} (~1-3 min, ~5 GB with CUDA runtime wheels)"
    "${PIP[@]}" "${TORCH[@]}"
fi

step "build tools and mmengine (seconds when present)"
"${PIP[@]}" -q "${BUILD[@]}" "$MMENGINE"

if have "mmcv==$(version mmcv)" && "$PY" -c 'import mmcv._ext' 2>/dev/null; then
    step "$MMCV with compiled ops already installed"
else
    if have mmcv; then
        step "removing an mmcv without compiled ops"
        "$PY" -m pip uninstall -y mmcv
    fi
    step "building $MMCV with compiled ops from source (~10 min on 2 cores; cached afterwards)"
    # Without --no-build-isolation pip builds in an environment without torch and silently
    # produces an mmcv with no mmcv._ext. CUDA ops are built when a GPU or FORCE_CUDA=1 is present.
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" --no-build-isolation "$MMCV"
fi

step "${DOWNSTREAM[*]} and test tools"
"${PIP[@]}" -q "${DOWNSTREAM[@]}" "$MMCV" "${TORCH[@]}"
"${PIP[@]}" -q -r "$ROOT/requirements/tests.txt"

step "ela_mm (editable)"
"${PIP[@]}" -q --no-build-isolation --no-deps -e "$ROOT"

step "verifying the environment"
"$PY" - <<'PYEOF'
import mmcv, mmcv._ext  # noqa: F401  (an mmcv without compiled ops is a failed set-up)
from mmcv.ops import nms, batched_nms  # noqa: F401
import mmdet.models, mmseg.models, mmpretrain.models  # noqa: F401
import torch, ela_mm
print(f'ok: torch {torch.__version__}, mmcv {mmcv.__version__} (compiled ops), '
      f'ela_mm {ela_mm.__version__}')
PYEOF

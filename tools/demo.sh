#!/usr/bin/env bash
# The main job on the embedded toy data: generate it (if absent), train YOLOX-Nano + ELA-T,
# evaluate the checkpoint with tools/test.py, print the mAP, draw predictions and an attention
# map. Fails if training diverged (mAP@0.5 below MIN_MAP).
#   TASK=seg bash tools/demo.sh   # the same for DeepLabV3 + ELA-B (mIoU)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-${VENV:-.venv}/bin/python}
TASK=${TASK:-det}
SEED=${SEED:-0}
export PYTHONWARNINGS=ignore

if [ ! -f data/toy_voc/VOC2007/ImageSets/Main/test.txt ]; then
    echo "[demo] generating the toy VOC-format dataset (seed 0, ~10 s)"
    $PY tools/misc/make_toy_voc.py --out data/toy_voc --seed 0
fi

if [ "$TASK" = det ]; then
    CONFIG=configs/toy/yolox_nano-ela-t_1xb8-80e_toyvoc.py
    METRIC='pascal_voc/mAP'
    MIN=${MIN_MAP:-0.3}
    LAYER=backbone.stage4.ela
else
    CONFIG=configs/toy/deeplabv3_r50-d8-w16-ela-b_1xb8-1500it_toyvoc-128x128.py
    METRIC='mIoU'
    MIN=${MIN_MIOU:-30}
    LAYER=backbone.layer4.2.ela
fi
NAME=$(basename "$CONFIG" .py)
WORK=work_dirs/demo/$NAME

echo "[demo] training $NAME on 2 CPU cores (seed $SEED; progress every few iterations)"
$PY tools/train.py "$CONFIG" --work-dir "$WORK" --cfg-options randomness.seed="$SEED" \
    2>&1 | grep --line-buffered -E "Epoch\(|Iter\(|mAP|mIoU|Error|error" || true
CKPT=$(cat "$WORK/last_checkpoint")
[ -f "$CKPT" ] || { echo "[demo] training did not write a checkpoint"; exit 1; }

echo "[demo] evaluating $CKPT with tools/test.py; predictions drawn under $WORK/test"
$PY tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" --show-dir predictions \
    2>&1 | tee "$WORK/test.log" | grep --line-buffered -E "\|.*\||$METRIC" || true
SCORE=$(grep -oE "$METRIC: [0-9.]+" "$WORK/test.log" | tail -1 | awk '{print $2}')
[ -n "$SCORE" ] || { echo "[demo] no $METRIC in the test output (see $WORK/test.log)"; exit 1; }

IMG=data/toy_voc/VOC2007/JPEGImages/$(head -1 data/toy_voc/VOC2007/ImageSets/Main/test.txt).jpg
$PY tools/vis_attention.py "$CONFIG" "$CKPT" "$IMG" --layer "$LAYER" --cam \
    --out "$WORK/attention.png" 2>/dev/null | tail -1

echo "[demo] $NAME: $METRIC = $SCORE (seed $SEED)"
if ! awk -v s="$SCORE" -v m="$MIN" 'BEGIN { exit !(s >= m) }'; then
    echo "[demo] FAILED: $METRIC $SCORE is below $MIN: training did not learn (diverged?)"
    exit 1
fi

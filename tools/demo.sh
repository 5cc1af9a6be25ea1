#!/usr/bin/env bash
# The main job on the embedded toy data: generate it (if absent), train YOLOX-Nano + ELA-T,
# evaluate the checkpoint with tools/test.py, print the mAP next to the plain model's score from
# the published toy comparison (docs/toy_comparison.md, via the toy metafile), draw predictions
# and an attention map. Fails, with the error shown, if any step fails or if training did not
# learn (score below MIN_MAP / MIN_MIOU). The score is read from the metrics file tools/test.py
# writes.
#   TASK=seg bash tools/demo.sh   # the same for DeepLabV3 + ELA-B (mIoU)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-${VENV:-.venv}/bin/python}
TASK=${TASK:-det}
SEED=${SEED:-0}
export PYTHONWARNINGS=ignore

if [ ! -f data/toy_voc/VOC2007/ImageSets/Main/test.txt ]; then
    echo "[demo] generating the toy VOC-format dataset (seed 0, ~10 s)"
    "$PY" tools/misc/make_toy_voc.py --out data/toy_voc --seed 0
fi

if [ "$TASK" = det ]; then
    CONFIG=configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py
    PLAIN=yolox_nano_1xb16-24e_toyvoc
    METRIC='pascal_voc/mAP'
    MIN=${MIN_MAP:-0.1}
    LAYER=backbone.stage4.ela
else
    CONFIG=configs/toy/deeplabv3_r50-d8-w16-ela-b_1xb8-300it_toyvoc-128x128.py
    PLAIN=deeplabv3_r50-d8-w16_1xb8-300it_toyvoc-128x128
    METRIC='mIoU'
    MIN=${MIN_MIOU:-10}
    LAYER=backbone.layer4.2.ela
fi
NAME=$(basename "$CONFIG" .py)
WORK=work_dirs/demo/$NAME

# run STEP LOG CMD...: show progress lines while it runs; on failure, show the log's end and stop
run() {
    local step=$1 log=$2
    shift 2
    mkdir -p "$(dirname "$log")"
    set +e
    "$@" 2>&1 | tee "$log" | grep --line-buffered -E "Epoch\(|Iter\(|$METRIC|\|.*\|"
    local status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        echo "[demo] FAILED: $step exited with status $status; the end of $log:"
        tail -n 30 "$log"
        exit "$status"
    fi
}

echo "[demo] training $NAME on 2 CPU cores (seed $SEED; progress every few iterations)"
rm -f "$WORK/last_checkpoint"
START=$(date +%s)
run training "$WORK/train.log" "$PY" tools/train.py "$CONFIG" --work-dir "$WORK" \
    --cfg-options randomness.seed="$SEED"
CKPT=$(cat "$WORK/last_checkpoint")
echo "[demo] training took $(($(date +%s) - START)) s"

echo "[demo] evaluating $CKPT with tools/test.py; predictions drawn under $WORK/test"
rm -rf "$WORK/test"
run testing "$WORK/test.log" "$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" \
    --show-dir predictions
SCORE=$("$PY" -c "import sys; from ela_mm.utils.results import read_test_metrics as r; \
print('{:.4g}'.format(r(sys.argv[1])[sys.argv[2]]))" "$WORK/test" "$METRIC")

IMG=data/toy_voc/VOC2007/JPEGImages/$(head -1 data/toy_voc/VOC2007/ImageSets/Main/test.txt).jpg
run drawing "$WORK/vis.log" "$PY" tools/vis_attention.py "$CONFIG" "$CKPT" "$IMG" \
    --layer "$LAYER" --cam --out "$WORK/attention.png"
echo "[demo] attention map and Grad-CAM: $WORK/attention.png"

echo "[demo] $NAME: $METRIC = $SCORE (seed $SEED)"
"$PY" - "$PLAIN" <<'PYEOF'
import sys, yaml
name = sys.argv[1]
with open('configs/toy/metafile.yml') as f:
    model = next(m for m in yaml.safe_load(f)['Models'] if m['Name'] == name)
res = model['Results'][0]
if model['Metadata']['Status'] != 'measured':
    print(f'[demo] plain model {name}: not measured yet (tools/run_grid.py, docs/toy_comparison.md)')
else:
    t = res['Training']
    text = ', '.join(f'{k} = {v}' for k, v in res['Metrics'].items())
    print(f'[demo] plain model {name}, published toy comparison: {text} '
          f'(seeds {t["Seeds"]}, {t["Date"]}; docs/toy_comparison.md)')
PYEOF
if ! awk -v s="$SCORE" -v m="$MIN" 'BEGIN { exit !(s >= m) }'; then
    echo "[demo] FAILED: $METRIC $SCORE is below $MIN: training did not learn (diverged?)"
    exit 1
fi

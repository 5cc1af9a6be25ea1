#!/usr/bin/env bash
# The main job on the embedded toy data: generate it (if absent or of another generator version),
# train YOLOX-Nano + ELA-T, evaluate the checkpoint with tools/test.py on the toy test split,
# draw the predictions and an attention map, and print the score next to the plain model's
# published score for the same recipe (docs/toy_comparison.md, via the toy metafile).
# Fails, saying what to look at, if any step fails or if the score is under the demo's floor (the
# lowest score measured over the published seeds, with a margin; README "Quick start").
#   TASK=seg bash tools/demo.sh   # DeepLabV3 + ELA-B (mIoU)
#   TASK=cls bash tools/demo.sh   # ResNet-18 + ELA-B (top-1 accuracy)
#   SEED=3 bash tools/demo.sh     # another training seed
#   SCHEDULE=1e bash tools/demo.sh  # a smoke run: the schedule shortened (tools/train.py
#                                   # --schedule); its score is not comparable and no floor holds
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-${VENV:-.venv}/bin/python}
TASK=${TASK:-det}
SEED=${SEED:-0}
export PYTHONWARNINGS=ignore

case "$TASK" in
det)
    CONFIG=configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py
    WHAT="YOLOX-Nano + ELA-T, 24 epochs x 100 iterations of batch 16 at 128-192 px"
    METRIC='pascal_voc/mAP'
    MIN=${MIN_SCORE:-0.65} # seeds 0-4 measured 0.787-0.843 (docs/toy_comparison.md); margin 0.137
    LAYER=backbone.stage4.ela
    PICTURES="predictions (boxes scoring >= 0.3, with class and score; ground truth left)"
    ;;
seg)
    CONFIG=configs/toy/deeplabv3_r50-d8-w16-ela-b_1xb8-3000it_toyvoc-128x128.py
    WHAT="DeepLabV3 R50-D8 (1/4 width) + ELA-B, 3,000 iterations of batch 8 at 128x128 crops (24,000 crops)"
    METRIC='mIoU'
    MIN=${MIN_SCORE:-65} # seeds 0-2 measured 77.93-83.49 (docs/toy_comparison.md); margin 12.9
    LAYER=backbone.layer4.2.ela
    PICTURES="predicted masks (ground truth left)"
    ;;
cls)
    CONFIG=configs/toy/resnet18-ela-b_1xb32-700it_toycls-64x64.py
    WHAT="ResNet-18 + ELA-B, 700 iterations of batch 32 over the 10,965 toy training crops (22,400 images), 64x64 px"
    METRIC='accuracy/top1'
    MIN=${MIN_SCORE:-93} # seeds 0-2 measured 96.12-96.55 (docs/toy_comparison.md); margin 3.1
    LAYER=backbone.layer4.1.attention
    PICTURES="predictions (class and score on each crop)"
    ;;
*)
    echo "[demo] TASK=$TASK: expected det, seg or cls" >&2
    exit 2
    ;;
esac
NAME=$(basename "$CONFIG" .py)
WORK=work_dirs/demo/$NAME
SCHEDULE=${SCHEDULE:-}
if [ -n "$SCHEDULE" ]; then
    WORK=$WORK-$SCHEDULE
    echo "[demo] SCHEDULE=$SCHEDULE: a shortened smoke run; the score floor does not apply"
fi

"$PY" tools/misc/make_toy_voc.py --out data/toy_voc --seed 0 --if-needed

# run STEP LOG CMD...: show progress lines while it runs (and, once, the estimated time left
# after the first logged iterations); on failure, show the log's end and stop
run() {
    local step=$1 log=$2
    shift 2
    mkdir -p "$(dirname "$log")"
    set +e
    "$@" 2>&1 | tee "$log" | grep --line-buffered -E "Epoch\(|Iter\(|$METRIC|\|.*\|" |
        awk -v step="$step" '{ print; fflush() }
            !said && match($0, /eta: [0-9:]+/) {
                print "[demo] estimated time left for " step " on this machine: " \
                    substr($0, RSTART + 5, RLENGTH - 5); said = 1; fflush() }'
    local status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        echo "[demo] FAILED: $step exited with status $status; the end of $log:"
        tail -n 30 "$log"
        exit "$status"
    fi
}

echo "[demo] will run: tools/train.py $CONFIG (seed $SEED; $WHAT), then tools/test.py on the" \
    "toy test split, then tools/vis_attention.py; work dir $WORK"
rm -f "$WORK/last_checkpoint"
START=$(date +%s)
run training "$WORK/train.log" "$PY" tools/train.py "$CONFIG" --work-dir "$WORK" \
    ${SCHEDULE:+--schedule "$SCHEDULE"} --cfg-options randomness.seed="$SEED"
CKPT=$(cat "$WORK/last_checkpoint")
echo "[demo] training took $(($(date +%s) - START)) s"

echo "[demo] evaluating $CKPT with tools/test.py on the toy test split"
rm -rf "$WORK/test"
run testing "$WORK/test.log" "$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" \
    --show-dir predictions
SCORE=$("$PY" -c "import sys; from ela_mm.comparison.results import read_test_metrics as r; \
print('{:.4g}'.format(r(sys.argv[1])[sys.argv[2]]))" "$WORK/test" "$METRIC")
DRAWN=$(grep -oE "drawings of the predictions written to [^ ]+" "$WORK/test.log" | tail -1 |
    sed 's/.* to //')

if [ "$TASK" = cls ]; then
    IMG=data/toy_voc/classification/test/$(head -1 data/toy_voc/classification/meta/test.txt |
        cut -d' ' -f1)
else
    IMG=data/toy_voc/VOC2007/JPEGImages/$(head -1 data/toy_voc/VOC2007/ImageSets/Main/test.txt).jpg
fi
run drawing "$WORK/vis.log" "$PY" tools/vis_attention.py "$CONFIG" "$CKPT" "$IMG" \
    --layer "$LAYER" --cam --out "$WORK/attention.png"

echo "[demo] $NAME: $METRIC = $SCORE (seed $SEED)"
"$PY" - "$CONFIG" <<'PYEOF'
import os.path as osp, sys
from ela_mm.comparison.catalogue import load_model_index, parse_config_name, result_status
plain = parse_config_name(sys.argv[1]).baseline
entry = next((m for m in load_model_index('.') if m['Name'] == plain), None)
status = 'not in the model index' if entry is None else result_status(entry)
if status == 'current':
    res = entry['Results'][0]
    t = res['Training']
    text = ', '.join(f'{k} = {v}' for k, v in res['Metrics'].items())
    print(f'[demo] plain model {plain}, same recipe, published toy comparison: {text} '
          f'(seeds {t["Seeds"]}, {t["Machine"]}, {t["Date"]}; docs/toy_comparison.md)')
else:
    print(f'[demo] plain model {plain}: no current published score ({status}); '
          f'docs/toy_comparison.md says how to measure it')
PYEOF
echo "[demo] pictures: $PICTURES in ${DRAWN:-$WORK/test}; attention map and Grad-CAM in" \
    "$WORK/attention.png (what each panel shows: $WORK/attention.json)"
if [ -z "$SCHEDULE" ] && ! awk -v s="$SCORE" -v m="$MIN" 'BEGIN { exit !(s >= m) }'; then
    echo "[demo] FAILED: $METRIC $SCORE is below the demo's floor $MIN (the lowest published" \
        "seed's score with a margin). Look at the loss curve in $WORK/train.log (did it fall" \
        "and stay finite?), at the pictures above, and compare with the published per-seed" \
        "scores in docs/toy_comparison.md."
    exit 1
fi

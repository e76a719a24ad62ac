#!/usr/bin/env bash
# Rebuilds models/review-bert (builtin:review-bert) with the engine's own `pretrain`, from the text of
# the shared datasets' train splits (models/review-bert/README.md says what and why). ~45 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DATASETS:-../shared/datasets}
OUT=${OUT:-models/review-bert}
STAGE=$(mktemp -d)
npm run build >/dev/null
DATA=(--data "$D/sst2/train.csv" --data "$D/rt-polarity/train.csv" --data "$D/sst5/train.csv")
COMMON=(--batch-size 64 --max-length 64)
# 1. from random weights: a compacted 10k vocabulary, 10,000 steps at 1e-3
node dist/cli.js pretrain "${DATA[@]}" "${COMMON[@]}" --model builtin:tiny-bert \
  --shape layers=2,hidden=128,heads=2,intermediate=512 --vocab-size 10000 \
  --out "$STAGE/stage1" --max-steps 10000 --lr 1e-3 --warmup-ratio 0.02 --seed 42
# 2. continued: 15,000 more steps at 5e-4
node dist/cli.js pretrain "${DATA[@]}" "${COMMON[@]}" --model "$STAGE/stage1" \
  --out "$STAGE/stage2" --max-steps 15000 --lr 5e-4 --warmup-ratio 0.01 --seed 43
# The fine-tuning learning rate measured best for it (1e-3 on rt-polarity, 1 epoch), which fineTune reads.
node -e 'const f=process.argv[1]; const fs=require("fs"); const c=JSON.parse(fs.readFileSync(f)); c.recommended_learning_rate=1e-3; fs.writeFileSync(f, JSON.stringify(c, null, 2) + "\n")' "$STAGE/stage2/config.json"
mkdir -p "$OUT"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json vocab.txt; do cp "$STAGE/stage2/$f" "$OUT/"; done
# Both stages' settings, and the final held-out masked-LM metrics.
node -e 'const fs=require("fs"); const [a,b,m,out]=process.argv.slice(1); const r=(f)=>JSON.parse(fs.readFileSync(f)); fs.writeFileSync(out, JSON.stringify({stages:[r(a),r(b)],maskedLM:r(m).maskedLM}, null, 2) + "\n")' \
  "$STAGE/stage1/pretraining_args.json" "$STAGE/stage2/pretraining_args.json" "$STAGE/stage2/metrics.json" "$OUT/pretraining_args.json"
rm -rf "$STAGE"
echo "rebuilt $OUT"

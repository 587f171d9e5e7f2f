#!/usr/bin/env bash
# GPU check (issue 18), about 8 minutes on one GPU:
#   1. mvssl bench train --device cuda: fp32, bf16, bf16 + compile (SimCLR, CIFAR-stem ResNet-18, 32 px)
#   2. a 300-step mvssl train on the GPU, SIGKILLed once its first checkpoint exists, resumed to the end
#   3. mvssl experiment view-learning --quick on the GPU (issue 15: generators, critics, encoders there)
#   4. host syncs: 30 training steps under torch.cuda.set_sync_debug_mode("warn"), the syncs counted
#      (only logging steps, every 10, and the checkpoint should read the device back)
#   5. one summary: bench table (its "of bf16 peak" column is the step's share of the tensor-core roofline,
#      the bf16 matmul peak measured in the same rounds; the compile line: compile time and break-even),
#      the resumed run's probe table, view-learning's tables, the sync count, pass/fail per part
# Usage: bash scripts/gpu-check.sh [OUT]   (OUT defaults to gpu-check-<time>)
# MVSSL_GPU_CHECK_DEVICE=cpu runs the same script on the CPU with tiny sizes (a dry run of the script itself).
set -u
OUT=${1:-gpu-check-$(date +%Y%m%d-%H%M%S)}
DEVICE=${MVSSL_GPU_CHECK_DEVICE:-cuda}
mkdir -p "$OUT"
if [ "$DEVICE" = cuda ]; then
  ACCEL=gpu; STEPS=300; BENCH=(--backbone resnet18 --size 32 --batch 128 --variants fp32 bf16 bf16+cl bf16+compile --repeats 5)
  TRAIN=(); VIEWS=(--quick)
else
  ACCEL=cpu; STEPS=40; BENCH=(--backbone convnet --width 4 --size 16 --batch 16 --variants fp32 --repeats 1 --no-memory)
  TRAIN=(--backbone.width 4 --optim.batch_size 32 --data.image_size 16 --data.digit_size 12 --eval.random_baseline false)
  VIEWS=(--quick --gen-steps 2 --cmc-steps 2 --width 2 --image-size 8 --probe-size 40 --batch-size 16)
fi
status=0
summary="$OUT/summary.md"
{ echo "# mvssl GPU check ($DEVICE)"; echo; date -u; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null; } > "$summary"

echo "== 1. bench train on $DEVICE"
if mvssl bench train --device "$DEVICE" "${BENCH[@]}" --out "$OUT/bench" > "$OUT/bench.log" 2>&1; then
  { echo; echo "## bench train"; cat "$OUT"/bench/*.md 2>/dev/null || tail -20 "$OUT/bench.log"; } >> "$summary"
  part1=pass
else
  part1="FAIL (see $OUT/bench.log)"; status=1
fi

echo "== 2. $STEPS-step train on $ACCEL, SIGKILL once its first checkpoint is written, resume"
RUN="$OUT/train"
mvssl train --trainer.accelerator "$ACCEL" --trainer.max_steps "$STEPS" --trainer.progress false \
  --trainer.checkpoint_every 20 --trainer.out_dir "$OUT" --trainer.name train "${TRAIN[@]}" > "$OUT/train.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null && ! ls "$RUN"/checkpoints/*.ckpt > /dev/null 2>&1; do sleep 1; done
if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; killed="yes, after its first checkpoint"; else killed="no (finished before the kill)"; fi
wait "$pid" 2>/dev/null
if mvssl train --resume "$RUN" > "$OUT/resume.log" 2>&1 && [ -f "$RUN/encoder.pt" ]; then
  part2="pass (killed: $killed)"
  { echo; echo "## train, killed ($killed) and resumed"; echo; grep -A8 "Frozen-encoder probes" "$OUT/resume.log"; } >> "$summary"
else
  part2="FAIL (see $OUT/train.log, $OUT/resume.log)"; status=1
fi

echo "== 3. view-learning --quick on $ACCEL"
if mvssl experiment view-learning --trainer.accelerator "$ACCEL" --seeds 2 --spaces ydbdr "${VIEWS[@]}" \
    --out "$OUT/view-learning" > "$OUT/view-learning.log" 2>&1 && [ -f "$OUT/view-learning/results.md" ]; then
  part3=pass
  { echo; echo "## view-learning --quick"; echo; head -20 "$OUT/view-learning/results.md"; } >> "$summary"
else
  part3="FAIL (see $OUT/view-learning.log)"; status=1
fi

echo "== 4. host syncs of the training step on $DEVICE"
if [ "$DEVICE" = cuda ]; then
  if python - "$OUT" > "$OUT/syncs.log" 2>&1 <<'EOF'
import sys, warnings
import torch
from mvssl.train import train
torch.cuda.set_sync_debug_mode("warn")
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    train({"trainer": {"accelerator": "gpu", "max_steps": 30, "log_every": 10, "checkpoint_every": 30,
                       "progress": False, "out_dir": sys.argv[1], "name": "syncs"}, "eval": {"enabled": False}},
          echo=lambda *a, **k: None)
syncs = [w for w in seen if "synchroniz" in str(w.message)]
print(f"{len(syncs)} host syncs in 30 steps (3 logging steps, 1 checkpoint)")
for w in syncs[:20]:
    print(f"  {w.filename}:{w.lineno}: {str(w.message)[:120]}")
EOF
  then part4="$(head -1 "$OUT/syncs.log")"; { echo; echo "## host syncs"; echo; cat "$OUT/syncs.log"; } >> "$summary"
  else part4="FAIL (see $OUT/syncs.log)"; status=1; fi
else
  part4="skipped (no CUDA device)"
fi

{ echo; echo "## result"; echo "- bench train: $part1"; echo "- train + kill + resume: $part2"; echo "- view-learning on $ACCEL: $part3"; echo "- host syncs: $part4"; } >> "$summary"
cat "$summary"
exit $status

#!/usr/bin/env bash
# Every issue-39 figure side by side in one run, one process at a time (about 15 minutes on a
# quiet 2-core machine). Usage, from the repository root:
#   bash scripts/speed-figures.sh OUT [BEFORE_SRC]
# BEFORE_SRC: the src/ folder of the code to compare against (e.g. `git archive OLD src | tar -x -C old`,
# then old/src); without it the "before" default run is skipped. Prints the machine, its CPU flags and
# the load around every part; each part's full output is in OUT/*.log. SMOKE=1: tiny sizes, a dry run of the script.
# QUALITY=1: also the default run's digit error on seeds 0-2, before and now (part 8, ~10 more minutes).
# PARTS="2 5": run only those parts (default: 1 to 7). Quiet durations (2 cores, load ~1): part 1 ~1 min,
# 2 ~3 min (with BEFORE), 3 ~3 min, 4 ~3 min, 5 ~26 min (the registered equal-quality comparisons of
# simclr-head's arm none and simclr-augmentations' arm crop-color, ~11-12 min each, and with BEFORE the old
# src's encoder of each, ~1.5 min each), 6 ~2 min, 7 ~2 min.
set -u
if [ -n "${SMOKE:-}" ]; then
  DEFAULT=(--trainer.max_steps 20); REP=1; LOOP=10; RESNET=(--batch 8 --size 16); STUDY=(--steps 3 --seeds 2 --repeats 1)
  EQUAL=(--steps 3 --seeds 2 --seed-start 10 --repeats 1 --after-steps 250)
else
  DEFAULT=(); REP=9; RESNET=(--size 32); STUDY=(--steps 40 --seeds 3 --repeats 3)
  # docs/performance.md, "registered before the runs", B: the arm as registered vs today's recipe at fewer steps
  EQUAL=(--seeds 5 --seed-start 10 --after-steps 250 400 --full)
fi
PARTS=" ${PARTS:-1 2 3 4 5 6 7} "
part() { [[ "$PARTS" == *" $1 "* ]]; }
OUT=${1:?usage: speed-figures.sh OUT [BEFORE_SRC]}
BEFORE=${2:-}
PY=${PYTHON:-python}
NOW="$(pwd)/src"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
mvssl() { PYTHONPATH="$NOW" "$PY" -m mvssl.cli "$@"; }
old_mvssl() { PYTHONPATH="$BEFORE" "$PY" -m mvssl.cli "$@"; }
load() { echo "   load: $(cut -d' ' -f1-3 /proc/loadavg)"; }
wall() { local log=$1 s e; shift; s=$(date +%s.%N); "$@" > "$log" 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }  # LOG CMD...
metrics() {  # RUN: train seconds, eval seconds, digit error
  "$PY" - "$1" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1] + "/metrics.json"))
e = m["eval"]["trained"]
print(f"train {m['train_seconds']:.1f} s, eval {m.get('eval_seconds', 0):.1f} s, digit error {e['digit_error_pct']:.1f}%, "
      f"background {e['background_error_pct']:.1f}%, position {e['position_error_px']:.2f} px, kNN {e['knn_digit_accuracy_pct']:.1f}%")
EOF
}

echo "== machine"
date -u; uptime
grep -m1 "model name" /proc/cpuinfo
echo "cores usable: $(nproc)"
echo "cpu flags (vector/bf16/amx): $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_fp16|amx_bf16|amx_tile|avx512_vnni)$' | tr '\n' ' ')"
"$PY" -c "import torch; print('torch', torch.__version__, 'capability', torch.backends.cpu.get_cpu_capability(), 'threads', torch.get_num_threads())"
git rev-parse --short HEAD 2>/dev/null

if part 1; then
echo; echo "== 1. start-up + evaluation of the default job (a 1-step run: wall less its training), empty caches then warm"
for cache in cold warm; do
  [ "$cache" = cold ] && rm -rf "$OUT/cache"
  rm -rf "$OUT/runs/startup-$cache"
  t=$(MVSSL_CACHE_DIR="$OUT/cache" wall "$OUT/startup-$cache.log" mvssl train --trainer.max_steps 1 \
      --trainer.out_dir "$OUT/runs" --trainer.name "startup-$cache" --trainer.progress false)
  train=$("$PY" -c "import json; print(json.load(open('$OUT/runs/startup-$cache/metrics.json'))['train_seconds'])")
  echo "   now, $cache cache: wall $t s, of which training 1 step $train s: start-up + evaluation $(echo "$t - $train" | bc) s"
  load
done
if [ -n "$BEFORE" ]; then
  rm -rf "$OUT/runs/startup-before"
  t=$(MVSSL_CACHE_DIR="$OUT/cache" wall "$OUT/startup-before.log" old_mvssl train --trainer.max_steps 1 \
      --trainer.out_dir "$OUT/runs" --trainer.name startup-before --trainer.progress false)
  train=$("$PY" -c "import json; print(json.load(open('$OUT/runs/startup-before/metrics.json'))['train_seconds'])")
  echo "   before, warm array cache: wall $t s, of which training 1 step $train s: start-up + evaluation $(echo "$t - $train" | bc) s"
  load
fi
fi
if part 2; then
echo; echo "== 2. default mvssl train, end to end (warm caches), before and now"
for who in before now; do
  [ "$who" = before ] && [ -z "$BEFORE" ] && continue
  rm -rf "$OUT/runs/default-$who"
  run=mvssl; [ "$who" = before ] && run=old_mvssl
  t=$(MVSSL_CACHE_DIR="$OUT/cache" wall "$OUT/default-$who.log" $run train --trainer.out_dir "$OUT/runs" \
      --trainer.name "default-$who" "${DEFAULT[@]}")
  echo "   $who: wall $t s; $(metrics "$OUT/runs/default-$who")"
  head -1 "$OUT/default-$who.log" | cut -c1-300
  load
done
fi
if part 3; then
echo; echo "== 3. the default ConvNet step: bf16+cl vs compile (cold inductor cache), fp32+cl; profile"
rm -rf "$OUT/inductor"
TORCHINDUCTOR_CACHE_DIR="$OUT/inductor" mvssl bench train --backbone convnet --width 16 --size 24 \
  --variants bf16+cl bf16+cl+compile fp32+cl --repeats $REP --no-memory --profile bf16+cl --out "$OUT/convnet" \
  > "$OUT/convnet.log" 2>&1
sed -n '1,40p' "$OUT/convnet/train.md"
load
echo "   same, inductor cache warm (a later run of an experiment):"
TORCHINDUCTOR_CACHE_DIR="$OUT/inductor" mvssl bench train --backbone convnet --width 16 --size 24 \
  --variants bf16+cl bf16+cl+compile --repeats $REP --no-memory > "$OUT/convnet-warm.log" 2>&1
grep -E "^\| bf16|compiling took" "$OUT/convnet-warm.log"
load
fi
if part 4; then
echo; echo "== 4. ResNet-18 SimCLR step (CIFAR stem, 32 px, batch 128): fp32+cl, bf16+cl, +compile, lightly"
rm -rf "$OUT/inductor-r"
TORCHINDUCTOR_CACHE_DIR="$OUT/inductor-r" mvssl bench train --backbone resnet18 "${RESNET[@]}" \
  --variants fp32+cl bf16+cl bf16+cl+compile --lightly --repeats $(( REP < 3 ? REP : 3 )) --no-memory --out "$OUT/resnet" \
  > "$OUT/resnet.log" 2>&1
cat "$OUT/resnet/train.md"
load
fi
if part 5; then
echo; echo "== 5. encoders per core-hour at equal probe quality (docs/performance.md, B and B2): an arm as registered (seeds one at a time) vs today's recipe at fewer steps (seeds in one model)"
for study_arm in simclr-head:none simclr-augmentations:crop-color; do
  study=${study_arm%%:*}; arm=${study_arm#*:}
  echo "   $study, arm $arm:"
  mvssl study bench "$study" --arm "$arm" "${EQUAL[@]}" --set method.temperature=0.1 --set method.proj_hidden_dim=512 \
    --out "$OUT/equal-$study" > "$OUT/equal-$study.log" 2>&1
  cat "$OUT/equal-$study/study.md" 2>/dev/null || tail -5 "$OUT/equal-$study.log"
  load
  [ -z "$BEFORE" ] && continue
  echo "   the old src, one encoder of the same arm as registered (seed 10, in process, one thread):"
  PYTHONPATH="$NOW" "$PY" -c "
import sys, yaml; from pathlib import Path; from mvssl.studies.commands import bench as b
s = b.find_study(sys.argv[3]); a = b.pick_arm(s, sys.argv[4])
yaml.safe_dump(b.arm_configs(s, a, 1, None, Path(sys.argv[1]), 'old-' + sys.argv[3], {}, 10)[0], open(sys.argv[2], 'w'))" \
    "$OUT/runs" "$OUT/arm-$study.yaml" "$study" "$arm"
  [ -n "${SMOKE:-}" ] && sed -i 's/^  max_steps: .*/  max_steps: 3/; s/^  checkpoint_every: .*/  checkpoint_every: 3/; s/^  warmup_steps: .*/  warmup_steps: 0/' "$OUT/arm-$study.yaml"
  rm -rf "$OUT/runs/old-$study-seed10"
  OMP_NUM_THREADS=1 PYTHONPATH="$BEFORE" "$PY" scripts/encoder_seconds.py "$OUT/arm-$study.yaml" > "$OUT/old-$study.json" 2> "$OUT/old-$study.log"
  "$PY" - "$OUT/old-$study.json" "$OUT/equal-$study/study.json" <<'EOF'
import json, sys
old = json.load(open(sys.argv[1]))
ways = json.load(open(sys.argv[2]))["ways"]
print(f"   old src: {old['wall_seconds']:.1f} s per encoder (training {old['train_seconds']:.1f} s): "
      f"{3600 / old['wall_seconds']:.1f} encoders per core-hour")
for label, w in ways.items():
    print(f"   {label}: {w['encoders_per_core_hour']:.1f} encoders per core-hour, "
          f"{w['encoders_per_core_hour'] * old['wall_seconds'] / 3600:.2f}x the old src")
EOF
  load
done
fi
if part 6; then
echo; echo "== 6. the training loop beyond the step (cProfile, ${LOOP:=150} default steps, one thread), before and now"
for who in before now; do
  [ "$who" = before ] && [ -z "$BEFORE" ] && continue
  src=$NOW; [ "$who" = before ] && src=$BEFORE
  echo "   $who:"; PYTHONPATH="$src" "$PY" scripts/loop_profile.py "$OUT/runs" "$LOOP" 2>&1 | grep -E "^ |steps:" | sed 's/^/   /'
done
load
fi
if part 7; then
echo; echo "== 7. the same with the 5 seeds the equivalence check uses (simclr-head)"
S5=("${STUDY[@]}"); S5[3]=5
mvssl study bench simclr-head "${S5[@]}" --out "$OUT/study5-simclr-head" > "$OUT/study5-simclr-head.log" 2>&1
sed -n '1,20p' "$OUT/study5-simclr-head/study.md" 2>/dev/null || tail -5 "$OUT/study5-simclr-head.log"
load
fi
if [ -n "${QUALITY:-}" ]; then  # opt-in (about 10 minutes): the default run's digit error on seeds 0-2, before and now
  echo; echo "== 8. default mvssl train, seeds 0 1 2, before and now (one thread each, one at a time)"
  cells=()
  for s in 0 1 2; do
    for who in before now; do
      [ "$who" = before ] && [ -z "$BEFORE" ] && continue
      run=mvssl; [ "$who" = before ] && run=old_mvssl
      rm -rf "$OUT/seeds/$who-s$s"
      OMP_NUM_THREADS=1 MVSSL_CACHE_DIR="$OUT/cache" $run train --trainer.seed "$s" --trainer.out_dir "$OUT/seeds/$who-s$s" \
        --trainer.progress false "${DEFAULT[@]}" > "$OUT/seeds-$who-s$s.log" 2>&1
      cells+=("$who=$OUT/seeds/$who-s$s")
    done
  done
  "$PY" scripts/seed_table.py "${cells[@]}"
  load
fi
echo; echo "== done"; date -u; uptime

#!/usr/bin/env bash
# Issue 20: the Bulk-SGD loop side by side with torch_anchor.py bulk, interleaved A B A B
# (3 pairs), from θ₀ and from θ after 1000 SGD steps. Run on a quiet machine; prints wall
# times and Curvature's operator applications. Usage: scripts/issue20_side_by_side.sh [OUTDIR]
set -euo pipefail
OUT=${1:-/tmp/issue20}
C=${C:-Cli/bin/Release/net10.0/curvature}
ANCHOR=${ANCHOR:-../shared/anchors/torch_anchor.py}
PY=${PY:-/usr/bin/python3}
mkdir -p "$OUT"
lscpu | grep 'Model name'; grep -o 'avx512[a-z]*' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; uptime
COMMON=(--arch 784-200-200-10 --act tanh --loss mse --data mnist:5000)
"$C" init --arch 784-200-200-10 --seed 0 --out "$OUT/theta0" >/dev/null
THETA0=$(ls "$OUT"/theta0/*.npy | head -1)
"$C" train "${COMMON[@]}" --test-data none --batch 128 --lr 0.1 --steps 1000 -k 0 --optimizer sgd --seed 0 \
  --eval-every 500 --theta "$THETA0" --save-theta --out "$OUT/sgd1000" --quiet
for start in "$THETA0" "$OUT/sgd1000/theta.npy"; do
  echo "== from $start"
  for pair in 1 2 3; do
    /usr/bin/time -f "curvature %e s" "$C" train "${COMMON[@]}" --test-data none --batch 128 --lr 0.1 --steps 200 -k 10 \
      --refresh 10 --hessian-batch 1000 --tolerance 1e-4 --optimizer bulk --seed 0 --eval-every 10 \
      --theta "$start" --out "$OUT/bulk$pair" --quiet
    /usr/bin/time -f "torch %e s" "$PY" "$ANCHOR" bulk "${COMMON[@]}" --batch 128 --lr 0.1 --steps 200 --k 10 \
      --refresh 10 --hessian-batch 1000 --tol 1e-4 --theta "$start"
  done
done

#!/bin/sh
# Regenerates the runs behind docs/findings.md with seeds, on this machine, through GNU parallel:
# emits every sweep as resumable `curvature train` jobs, adds one `compare --seeds` job, runs them
# all with `parallel -j $JOBS`, collects each sweep and copies the figures into $FIGURES.
#
#   scripts/findings.sh                      # the findings.md setting, 3 seeds (see docs/experiments.md)
#   STEPS=200 SEEDS=2 scripts/findings.sh    # shorter: fewer steps, fewer seeds
#   SETTING=mnist5k scripts/findings.sh      # the studies' MLP: 784-200-200-10 on mnist:5000 (28×28)
#
# Rerunning resumes: finished runs are skipped, killed ones resume from their checkpoint.
# Needs GNU parallel (scripts/setup-parallel.sh) and a Release build (built here if missing).
set -eu
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1000}
SEEDS=${SEEDS:-3}
JOBS=${JOBS:-2}
OUT=${OUT:-runs/findings}
FIGURES=${FIGURES:-$OUT/figures}
SETTING=${SETTING:-findings}
case "$SETTING" in
  findings) NET="--arch 196-32-32-10 --act tanh --data mnist14:2000 --test-data mnist14-test"; FULL=2000 ;;
  mnist5k)  NET="--arch 784-200-200-10 --act tanh --data mnist:5000 --test-data mnist-test"; FULL=5000 ;;
  *) echo "findings.sh: SETTING was '$SETTING'; expected findings or mnist5k" >&2; exit 2 ;;
esac
DLL=Cli/bin/Release/net10.0/curvature.dll
[ -f "$DLL" ] || dotnet build Cli -c Release >/dev/null
CURVATURE=${CURVATURE:-"dotnet $(pwd)/$DLL"}
export CURVATURE
command -v parallel >/dev/null || { echo "findings.sh: GNU parallel is missing; run scripts/setup-parallel.sh" >&2; exit 2; }
start=$(date +%s)
mkdir -p "$OUT" "$FIGURES"
OUT=$(cd "$OUT" && pwd)
COMMON="$NET --steps $STEPS --seeds $SEEDS"

emit() { name=$1; shift; $CURVATURE sweep $COMMON "$@" --emit "$OUT/$name" >/dev/null; echo "$name"; }
{
  # Statement 3: Bulk-SGD's stability against η, k, refresh period T and Hessian batch m.
  emit bulk-lr              --optimizer bulk --lr 0.25,0.5,1,2
  emit bulk-k               --optimizer bulk --lr 1 --k 1,2,5,10,20
  emit bulk-refresh         --optimizer bulk --lr 1 --refresh 1,5,10,50,200
  emit bulk-hessian-batch   --optimizer bulk --lr 1 --hessian-batch 10,50,200,500,2000
  # Statement 4: the interpolated family, and its dependence on T and m.
  emit interp               --optimizer interp --lr 0.5 --alpha-dom 0,0.2,0.5,1 --alpha-bulk 1,2,4
  emit interp-refresh       --optimizer interp --lr 0.5 --alpha-dom 0,0.2,0.5 --alpha-bulk 2 --refresh 10,50,200
  emit interp-hessian-batch --optimizer interp --lr 0.5 --alpha-dom 0,0.2,0.5 --alpha-bulk 2 --hessian-batch 200,2000
  # Tuned baselines: the best η of SGD and of Bulk-SGD from one grid each.
  emit tuned-sgd            --optimizer sgd  --lr 0.05,0.1,0.25,0.5,1
  emit tuned-bulk           --optimizer bulk --lr 0.05,0.1,0.25,0.5,1,2
  # Controls: full-batch GD (batch = every example) and a small learning rate.
  emit full-batch           --optimizer sgd  --lr 0.05,0.5 --batch $FULL
  # Dom-SGD started only after the EMA of χ_k reaches 0.9 (the χ switch).
  emit dom-chi-switch       --optimizer dom  --lr 0.5 --switch-chi 0.9
  # Heavy-ball momentum with the projected rule (docs/optimizers.md says where the projection acts).
  emit momentum             --optimizer bulk --lr 0.05,0.1 --momentum 0.9
} > "$OUT/sweeps.txt"
cat $(sed "s|^|$OUT/|; s|\$|/jobs.txt|" "$OUT/sweeps.txt") > "$OUT/jobs.txt"
# Statements 1, 2, 5 (and 4's interp point): every optimizer from one θ₀ per seed, with the H/G/F analysis.
echo "$CURVATURE compare $COMMON --out $OUT/compare > $OUT/compare.log 2>&1" >> "$OUT/jobs.txt"
echo "findings.sh: $(wc -l < "$OUT/jobs.txt") jobs, $JOBS at a time (STEPS=$STEPS SEEDS=$SEEDS SETTING=$SETTING)"
parallel --will-cite -j "$JOBS" < "$OUT/jobs.txt"
while read -r name; do $CURVATURE sweep --collect "$OUT/$name" | tail -1; done < "$OUT/sweeps.txt"
for f in loss lambda1 energy split; do
  for e in png svg; do [ -f "$OUT/compare/$f.$e" ] && cp "$OUT/compare/$f.$e" "$FIGURES/compare-$f.$e"; done
done
[ -f "$OUT/compare/seed=0/energy.png" ] && cp "$OUT/compare/seed=0/energy.png" "$OUT/compare/seed=0/split.png" "$FIGURES/" 2>/dev/null || true
while read -r name; do
  for e in png svg; do [ -f "$OUT/$name/loss.$e" ] && cp "$OUT/$name/loss.$e" "$FIGURES/$name-loss.$e"; done
done < "$OUT/sweeps.txt"
echo "findings.sh: done in $(( $(date +%s) - start )) s; reports in $OUT/*/report.md, figures in $FIGURES"

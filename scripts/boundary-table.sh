#!/bin/sh
# Prints the boundary setting's prediction tables (markdown) from its run directories:
#   scripts/boundary-table.sh OUT
# OUT holds spectrum-seedS/eigenvalues.csv (top-21 of H at θ₀ on every example, one per seed) and the
# collected sweeps boundary-bulk, boundary-sgd and boundary-interp (sweep.csv, one row per run).
# Predictions (docs/optimizers.md, "Stability boundaries"): SGD diverges iff η·λ₁(θ₀) > 2, Bulk-SGD iff
# η·λ_{k+1}(θ₀) > 2, and the interpolation's λ₁ settles at or below 2/(α_dom·η).
set -eu
OUT=$1
for f in "$OUT"/spectrum-seed*/eigenvalues.csv "$OUT/boundary-bulk/sweep.csv" "$OUT/boundary-sgd/sweep.csv"; do
  [ -f "$f" ] || { echo "boundary-table.sh: $f is missing; run SETTING=boundary scripts/findings.sh first" >&2; exit 2; }
done
# λ_i of seed s: one "s i λ" line per eigenvalue.
lams=$(for f in "$OUT"/spectrum-seed*/eigenvalues.csv; do
  s=$(basename "$(dirname "$f")" | sed 's/spectrum-seed//')
  awk -F, -v s="$s" 'NR > 1 { print s, $1, $2 }' "$f"
done)
echo "Top eigenvalues of H at θ₀ on every example, per seed (spectrum-seedS/eigenvalues.csv):"
echo
echo "$lams" | awk '
  { lam[$1, $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } if ($2 > top) top = $2 }
  END {
    printf "| seed |"; for (i = 1; i <= top; i++) printf " λ%d |", i; print ""
    printf "|---|"; for (i = 1; i <= top; i++) printf "---|"; print ""
    for (j = 0; j < n; j++) { s = order[j]; printf "| %s |", s; for (i = 1; i <= top; i++) printf " %.4g |", lam[s, i]; print "" }
  }'
echo
printf '%s\n' "$lams" > "$OUT/.lams"
predict() { # optimizer sweep.csv
  awk -F, -v opt="$1" '
    FNR == NR { split($0, w, " "); lam[w[1], w[2]] = w[3]; next }
    FNR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
      s = $col["seed"]; eta = $col["lr"]; k = $col["k"]
      idx = (opt == "SGD") ? 1 : k + 1
      if (!((s, idx) in lam)) next
      x = eta * lam[s, idx]; pred = (x > 2) ? "diverges" : "stable"
      div = $col["diverged"] + 0; obs = div ? "diverged at step " $col["diverged_step"] : "stable"
      ok = ((x > 2) == (div == 1)) ? "yes" : "**no**"
      printf "| %s | %s | %s | %s | λ%d = %.4g | %.3f | %s | %s | %s |\n", opt, eta, (opt == "SGD" ? "—" : k), s, idx, lam[s, idx], x, pred, obs, ok
    }' "$OUT/.lams" "$2"
}
rows=$( { predict "Bulk-SGD" "$OUT/boundary-bulk/sweep.csv"; predict "SGD" "$OUT/boundary-sgd/sweep.csv"; } )
echo "Predictions against the runs (200 steps; a run diverges when its loss is not finite or exceeds 100× its initial loss):"
echo
echo "| optimizer | k | runs | predicted right | hit rate | predicted stable: stayed stable | predicted to diverge: diverged | largest η·λ that stayed stable | smallest η·λ that diverged |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "$rows" | awk -F'|' '
  function num(x) { gsub(/ /, "", x); return x + 0 }
  { key = $2 "|" $4; if (!(key in n)) { order[m++] = key; lo[key] = 1e9; hi[key] = -1 }
    n[key]++; N++; yes = ($10 ~ /yes/); h[key] += yes; H += yes
    x = num($7); div = ($9 ~ /diverged/)
    if ($8 ~ /stable/) { ps[key]++; if (!div) pss[key]++ } else { pd[key]++; if (div) pdd[key]++ }
    if (div && x < lo[key]) lo[key] = x
    if (!div && x > hi[key]) hi[key] = x }
  END {
    for (j = 0; j < m; j++) { key = order[j]; split(key, a, "|")
      printf "|%s|%s| %d | %d | %.3f | %d/%d | %d/%d | %s | %s |\n", a[1], a[2], n[key], h[key], h[key] / n[key], pss[key], ps[key], pdd[key], pd[key],
        (hi[key] < 0 ? "—" : sprintf("%.3f", hi[key])), (lo[key] > 1e8 ? "—" : sprintf("%.3f", lo[key])) }
    printf "| all | | %d | %d | %.3f | | | | |\n", N, H, H / N
  }'
echo
echo "| optimizer | η | k | seed | eigenvalue at θ₀ | η·λ | predicted | observed | agrees |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "$rows"
rm -f "$OUT/.lams"
if [ -f "$OUT/boundary-interp/sweep.csv" ]; then
  echo
  echo "Interpolation (α_bulk = 1): the predicted ceiling 2/(α_dom·η) against λ₁ on the Hessian batch (max over the run and at its end):"
  echo
  echo "| α_dom | η | seed | 2/(α_dom·η) | max λ₁ | final λ₁ | max λ₁ ÷ ceiling | diverged |"
  echo "|---|---|---|---|---|---|---|---|"
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { a = $col["alpha_dom"]; eta = $col["lr"]; c = 2 / (a * eta)
      printf "| %s | %s | %s | %.4g | %.4g | %.4g | %.3f | %s |\n", a, eta, $col["seed"], c, $col["max_lambda_1"], $col["final_lambda_1"], $col["max_lambda_1"] / c, ($col["diverged"] + 0 ? "step " $col["diverged_step"] : "no") }' \
    "$OUT/boundary-interp/sweep.csv"
fi

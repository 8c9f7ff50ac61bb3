#!/bin/sh
# Prints, for each long run (LONG=1 jobs of scripts/findings.sh), its metrics at fixed steps, so a
# 20,000-step run can be read against the 2,000-step sweeps (markdown):
#   scripts/long-checkpoints.sh STEPS RUN_DIR...
# Pass finished runs only (with summary.json). STEPS is a comma-separated list (e.g. 2000,5000,10000,20000); RUN_DIR holds metrics.csv
# and config.json. Steps beyond a run's planned steps (config.json) are left out; a run that diverged before a step shows "—" there. λ₁ is the tracked (Hessian-batch) λ₁ of the last
# refresh or curvature log at or before the step, λ₁ on every example the last logged value.
set -eu
STEPS=$1; shift
echo "| run | step | train loss | train acc | test loss | test acc | χ_k | λ₁ (Hessian batch) | λ₁ (every example) |"
echo "|---|---|---|---|---|---|---|---|---|"
for d in "$@"; do
  f="$d/metrics.csv"
  [ -f "$f" ] || continue
  run="$(basename "$(dirname "$d")") $(basename "$d")"
  # run.steps: the first "steps" in config.json.
  planned=$(grep -o '"steps": *[0-9]*' "$d/config.json" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)
  awk -F, -v steps="$STEPS" -v run="$run" -v planned="${planned:-0}" '
    function cell(x) { return x == "" ? "—" : sprintf("%.4g", x) }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; n = split(steps, want, ","); next }
    {
      if ($(col["lambda_1"]) != "") lam = $(col["lambda_1"])
      if ($(col["lambda_1_full"]) != "") full = $(col["lambda_1_full"])
      for (j = 1; j <= n; j++) if ($(col["step"]) == want[j]) {
        row[j] = sprintf("| %s | %d | %s | %s | %s | %s | %s | %s | %s |", run, want[j], cell($(col["train_loss"])),
          cell($(col["train_acc"])), cell($(col["test_loss"])), cell($(col["test_acc"])), cell($(col["chi_k"])), cell(lam), cell(full))
      }
    }
    END { for (j = 1; j <= n; j++) if (planned == 0 || want[j] <= planned + 0) print (j in row) ? row[j] : sprintf("| %s | %d | — | — | — | — | — | — | — |", run, want[j]) }
  ' "$f"
done

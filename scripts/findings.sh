#!/bin/sh
# Regenerates the runs behind docs/findings.md with seeds, on this machine, through GNU parallel:
# emits every sweep as resumable `curvature train` jobs, adds one `compare --seeds` job, runs them
# all with `parallel -j $JOBS`, collects each sweep and copies the figures into $FIGURES.
#
#   scripts/findings.sh                      # the findings.md setting, 3 seeds (see docs/experiments.md)
#   STEPS=200 SEEDS=2 scripts/findings.sh    # shorter: fewer steps, fewer seeds
#   SETTING=mnist5k scripts/findings.sh      # the studies' MLP: 784-200-200-10, tanh, on mnist:5000 (28×28)
#   SETTING=fashion-cnn scripts/findings.sh  # the CNN 1x28x28-c16k5-m2-c32k5-m2-10, tanh, on fashion:5000
#   LOSS=ce scripts/findings.sh              # the loss (default mse, as in most of the studies' runs)
#
# Each setting has its own learning rates. findings: η = 0.5, Bulk-SGD's sweeps at η = 1.
# mnist5k and fashion-cnn: η = 0.25, Bulk-SGD's sweeps at 0.5 (at η = 1 Bulk-SGD diverges
# within 6 steps on mnist5k for every k, and SGD within 5 on the CNN). Adam uses η ∈ {1e-3, 3e-3}
# (ADAM_LRS). The issue's CNN 1x28x28-c16k5-m2-c32k5-m2-10 (CNN=..., with ETA_SCALE=0.2: it
# diverges at η = 0.5) took 300–500 s per 20 projected steps with two jobs at a time (tracker
# k = 10, Hessian batch 500): its full set is days of CPU, for a cluster (slurm.sh).
#
# Issue 21's settings, all on MNIST-5k (784-200-200-10 tanh, mse), 3 seeds, sweeps only:
#   SETTING=song              Song et al.'s regime: batch 50, η = 0.05 (η·λ₁(θ₀) ≤ 0.6 on the Hessian batch:
#                             λ₁(θ₀) ≤ 11.6 in docs/findings/mnist5k), 2,000 steps: SGD, Dom, Bulk, their momentum
#                             (μ = 0.9 at η/10) and Adam (1e-3) variants, full-batch GD, Dom/Bulk switched at
#                             step STEPS/2 (--switch-step), Dom on the minibatch χ switch, Dom and Bulk on a
#                             random k-plane (--subspace random), Dom and Bulk on Σ's top-k (--curvature cov,
#                             DOME's control), and `overlaps`: a compare of SGD alone whose analysis gives
#                             H's top-k overlap with G, EF, Σ and K-FAC and the noise share; LONG=1 also writes
#                             $OUT/long-jobs.txt: SGD, Dom, Bulk for 20,000 steps, seed 0 (run them elsewhere).
#   SETTING=boundary          the predicted stability boundary: 8 η × k ∈ {1,2,5,10,20} Bulk-SGD and 8 η SGD
#                             (200 steps), interp (α_dom ∈ {0.2,0.5}, 1) at η ∈ {0.25,0.5} for 1,000 steps, and
#                             the top-21 spectrum at θ₀ on all 5,000 examples per seed (spectrum-seedS/).
#   SETTING=interp-stability  interp (α_dom ∈ {0,0.1,0.2}, 2) × T ∈ {10,100,frozen} × m ∈ {50,1000}, η = 0.25, 1,000 steps;
#                             and (0, 2) at η = 0.3, its margin (Bulk-SGD at 0.6, the bracketed stable maximum).
#   SETTING=stability         Bulk-SGD at ½η* and η* (0.25, 0.5) × T ∈ {10,100}, 2,000 steps, λ₁ on all examples every
#                             100 steps; the small network's T = 1 failure at η = 1 over 1,000 steps with a row every
#                             10 steps; LONG=1 adds T = 1 on MNIST-5k and the small network for 20,000 steps to
#                             $OUT/long-jobs.txt.
#   SETTING=g-vs-h            Bulk-SGD tracking G's top-k against H's (--curvature g|h), η = 0.5, 200 steps, and
#                             along each a compare whose analysis gives H's top-k against G's at 3 steps.
#   SETTING=transformer       Song et al.'s third setting: spam-e64-t8f256x2-2 on spam:1000, ce, η = 0.1, batch 100,
#                             100 steps, m = 50: compare (SGD, Dom, Bulk; k = 2; H/G/F split, per layer) and the
#                             k = 10 sweeps of SGD, Dom and Bulk.
# Their sizes were set against a per-step cost measured on a short run (docs/findings.md, "What the next runs
# test"); the five together, without the long jobs, are estimated at about 95 minutes on two cores
# (docs/experiments.md, "Issue 21's settings").
#
#   EMIT_ONLY=1 scripts/findings.sh         # write $OUT/jobs.txt and stop (to check or run elsewhere)
#   ONLY="compare bulk-refresh interp"        # only these jobs
#   ONLY=overlaps                            # mnist5k/fashion-cnn: the overlap table's compare (SGD alone, 3 analysis steps)
#   GRID=full|studies|core                   # the sweeps' breadth (default: full for findings, studies for mnist5k, core for fashion-cnn)
#
# GRID=studies keeps every statement, control and variant but fewer points per sweep (3 per
# factor), so SETTING=mnist5k and SETTING=fashion-cnn with 3 seeds fit about an hour on 2 cores
# at the shortened STEPS given in README.md. The CNN of that hour is 1x28x28-c8k4s2-m2-c16k3-m2-10
# (CNN=... overrides it), a strided first convolution instead of the costlier c16k5 network.
#
# Rerunning resumes: finished runs are skipped, killed ones resume from their checkpoint.
# Needs GNU parallel (scripts/setup-parallel.sh) and a Release build (built here if missing).
set -eu
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-3}
JOBS=${JOBS:-2}
OUT=${OUT:-runs/findings}
FIGURES=${FIGURES:-$OUT/figures}
SETTING=${SETTING:-findings}
LOSS=${LOSS:-mse}
EXTRA=${EXTRA:-}
# ETA: the fixed η of the η-free sweeps and of compare; BULK_ETA: Bulk-SGD's; the *_LRS: grids.
MLP_LRS() {
  ETA=0.5; BULK_ETA=1; BULK_LRS=0.25,0.5,1,2; SGD_LRS=0.05,0.1,0.25,0.5,1; TUNED_BULK_LRS=0.05,0.1,0.25,0.5,1,2
  CONTROL_LRS=0.05,0.5; MOMENTUM_LRS=0.05,0.1
}
case "$SETTING" in
  findings) NET="--arch 196-32-32-10 --act tanh --data mnist14:2000 --test-data mnist14-test"; FULL=2000; MLP_LRS; GRID=${GRID:-full} ;;
  mnist5k)
    # The wider network is sharper: Bulk-SGD diverges within 6 steps at η = 1 for every k
    # (first run of this script), so η and the interpolation's base are halved.
    NET="--arch 784-200-200-10 --act tanh --data mnist:5000 --test-data mnist-test"; FULL=5000; MLP_LRS; GRID=${GRID:-studies}
    ETA=0.25; BULK_ETA=0.5 ;;
  fashion-cnn)
    # The default CNN trains at the MLP's η = 0.5 (SGD diverges at 1); the c16k5 network of the
    # issue diverges at 0.5 and wants the grids divided by 5 (CNN=1x28x28-c16k5-m2-c32k5-m2-10 ETA_SCALE=0.2).
    GRID=${GRID:-core}
    NET="--arch ${CNN:-1x28x28-c8k4s2-m2-c16k3-m2-10} --act tanh --data fashion:5000 --test-data fashion-test"; FULL=5000; MLP_LRS
    ETA=0.25; BULK_ETA=0.5
    if [ -n "${ETA_SCALE:-}" ]; then
      scale() { echo "$1" | tr ',' '\n' | awk -v s="$ETA_SCALE" '{ printf "%s%g", (NR > 1 ? "," : ""), $1 * s }'; }
      ETA=$(scale $ETA); BULK_ETA=$(scale $BULK_ETA); BULK_LRS=$(scale $BULK_LRS); SGD_LRS=$(scale $SGD_LRS)
      TUNED_BULK_LRS=$(scale $TUNED_BULK_LRS); CONTROL_LRS=$(scale $CONTROL_LRS); MOMENTUM_LRS=$(scale $MOMENTUM_LRS)
    fi ;;
  song|boundary|interp-stability|stability|g-vs-h)
    NET="--arch 784-200-200-10 --act tanh --data mnist:5000 --test-data mnist-test"; FULL=5000; MLP_LRS; GRID=${GRID:-studies}
    ETA=0.25; BULK_ETA=0.5
    case "$SETTING" in song|stability) STEPS=${STEPS:-2000} ;; interp-stability) STEPS=${STEPS:-1000} ;; *) STEPS=${STEPS:-200} ;; esac ;;
  transformer)
    # Song et al.'s third setting on real sentences: 2 layers, d = 64, 8 heads, feed-forward 256, ce.
    # η = 0.1 puts η·λ₁(θ₀) near 0.4 (λ₁(θ₀) ≈ 4), the studies' regime. The H·v of this 453,058-parameter
    # model costs about 30× the MLP's per example, hence m = 50 lines and 100 steps (10 epochs at batch 100).
    NET="--arch spam-e64-t8f256x2-2 --data spam:1000 --test-data spam-test"; FULL=1000; MLP_LRS; GRID=${GRID:-studies}
    LOSS=ce; STEPS=${STEPS:-100} ;;
  *) echo "findings.sh: SETTING was '$SETTING'; expected findings, mnist5k, fashion-cnn, song, boundary, interp-stability, stability, g-vs-h or transformer" >&2; exit 2 ;;
esac
STEPS=${STEPS:-1000}
ADAM_LRS=${ADAM_LRS:-0.001,0.003}
case "$GRID" in
  full)
    K_LIST=1,2,5,10,20; REFRESH_LIST=1,5,10,50,200; HB_LIST=10,50,200,500,2000
    INTERP_DOM=0,0.2,0.5,1; INTERP_BULK=1,2,4; INTERP_T=10,50,200; INTERP_HB=200,2000; INTERP_TM_DOM=0,0.2,0.5 ;;
  studies|core)
    # Three points per factor; the η grids keep their ends and middle. core also leaves out the
    # sweeps of k and of the interpolation's T and m (the MLP settings carry those).
    BULK_LRS=$(echo "$BULK_LRS" | cut -d, -f1,2,3); SGD_LRS=$(echo "$SGD_LRS" | cut -d, -f2,3,4)
    TUNED_BULK_LRS=$(echo "$TUNED_BULK_LRS" | cut -d, -f2,3,4,5); CONTROL_LRS=$ETA
    MOMENTUM_LRS=$(echo "$MOMENTUM_LRS" | cut -d, -f1); ADAM_LRS=$(echo "$ADAM_LRS" | cut -d, -f1)
    # T = 1 and m = 2000 cost 5–20 times a T = 10, m = 500 run at this scale; the findings
    # setting (GRID=full) carries them. The interpolation's T and m at its (0.2, 2) point only.
    K_LIST=1,5,20; REFRESH_LIST=5,10,100; HB_LIST=50,500,1000
    INTERP_DOM=0,0.2,0.5; INTERP_BULK=2; INTERP_T=10,100; INTERP_HB=50,1000; INTERP_TM_DOM=0.2 ;;
  *) echo "findings.sh: GRID was '$GRID'; expected full, studies or core" >&2; exit 2 ;;
esac
DLL=Cli/bin/Release/net10.0/curvature.dll
[ -f "$DLL" ] || dotnet build Cli -c Release >/dev/null
CURVATURE=${CURVATURE:-"dotnet $(pwd)/$DLL"}
export CURVATURE
command -v parallel >/dev/null || { echo "findings.sh: GNU parallel is missing; run scripts/setup-parallel.sh" >&2; exit 2; }
start=$(date +%s)
mkdir -p "$OUT" "$FIGURES"
OUT=$(cd "$OUT" && pwd)
COMMON="$NET --loss $LOSS --seeds $SEEDS $EXTRA"

# ONLY="compare bulk-refresh" emits just those sweeps (and the compare only if named).
ONLY=${ONLY:-}
emit() {
  name=$1; shift
  case " ${ONLY:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  $CURVATURE sweep $COMMON --steps "${JOB_STEPS:-$STEPS}" "$@" --emit "$OUT/$name" >/dev/null; echo "$name"
}
# A sweep on another network than the setting's: the whole command line is given.
emit_as() {
  name=$1; shift
  case " ${ONLY:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  $CURVATURE sweep "$@" --emit "$OUT/$name" >/dev/null; echo "$name"
}
# A job for $OUT/long-jobs.txt (LONG=1): emitted, never run here.
emit_long() {
  [ -n "${LONG:-}" ] || return 0
  name=$1; shift
  $CURVATURE sweep "$@" --emit "$OUT/long/$name" >/dev/null
  cat "$OUT/long/$name/jobs.txt" >> "$OUT/long-jobs.txt"
}
[ -z "${LONG:-}" ] || : > "$OUT/long-jobs.txt"
case "$SETTING" in song|boundary|interp-stability|stability|g-vs-h|transformer) PLAN=$SETTING ;; *) PLAN=protocol ;; esac
{
if [ "$PLAN" = song ]; then
  S="--batch 50 --eval-every 100"; E=0.05; M=0.005
  # Unprojected runs use their basis only for the logged λ₁ and χ, written every 100 steps: their
  # curvature log runs at each metrics row (the default is every tenth row) at the projected runs'
  # tolerance, so SGD's χ is comparable row by row with Dom's and Bulk's.
  U="--curvature-log-every 100 --curvature-log-tolerance 1e-4"
  emit song-sgd             $S --optimizer sgd  --lr $E $U
  emit song-dom             $S --optimizer dom  --lr $E
  emit song-bulk            $S --optimizer bulk --lr $E
  emit song-full-batch      --batch $FULL --eval-every 100 --optimizer sgd --lr $E $U
  emit song-switch-step-dom  $S --optimizer dom  --lr $E --switch-step $((STEPS / 2))
  emit song-switch-step-bulk $S --optimizer bulk --lr $E --switch-step $((STEPS / 2))
  emit song-switch-chi-dom  $S --optimizer dom  --lr $E --switch-chi 0.9
  # The same switch on the moving average of the full-batch χ (measured after each refresh).
  emit song-switch-chi-full-dom $S --optimizer dom --lr $E --switch-chi 0.9 --switch-chi-source full
  # The random-subspace control: the same projections onto a seeded random k-plane, redrawn at each refresh.
  emit song-random-dom      $S --optimizer dom  --lr $E --subspace random
  emit song-random-bulk     $S --optimizer bulk --lr $E --subspace random
  # DOME's control: the same projections onto the top-k of the gradient covariance Σ (on the Hessian batch).
  emit song-cov-dom         $S --optimizer dom  --lr $E --curvature cov
  emit song-cov-bulk        $S --optimizer bulk --lr $E --curvature cov
  emit song-momentum-sgd    $S --optimizer sgd  --lr $M --momentum 0.9 $U
  emit song-momentum-dom    $S --optimizer dom  --lr $M --momentum 0.9
  emit song-momentum-bulk   $S --optimizer bulk --lr $M --momentum 0.9
  emit song-adam            $S --optimizer sgd  --lr 0.001 --update adam $U
  emit song-adam-dom        $S --optimizer dom  --lr 0.001 --update adam
  emit song-adam-bulk       $S --optimizer bulk --lr 0.001 --update adam
  for o in sgd dom bulk; do
    emit_long song-20000-$o $NET --loss $LOSS --seeds 1 --steps 20000 $S --optimizer $o --lr $E
  done
elif [ "$PLAN" = boundary ]; then
  LRS=0.15,0.2,0.25,0.3,0.4,0.5,0.6,0.8
  emit boundary-bulk        --eval-every 10 --optimizer bulk --lr $LRS --k 1,2,5,10,20
  emit boundary-sgd         --eval-every 10 --optimizer sgd  --lr $LRS
  JOB_STEPS=1000; emit boundary-interp --eval-every 50 --optimizer interp --lr 0.25,0.5 --alpha-dom 0.2,0.5 --alpha-bulk 1; JOB_STEPS=
elif [ "$PLAN" = interp-stability ]; then
  # frozen: a refresh period longer than the run, so the basis stays the one computed at θ₀.
  emit interp-stability     --eval-every 50 --optimizer interp --lr $ETA --alpha-dom 0,0.1,0.2 --alpha-bulk 2 \
                            --refresh 10,100,$((STEPS + 1)) --hessian-batch 50,1000
  # (0, 2) at its margin: η = 0.3 makes it Bulk-SGD at 0.6, the largest η that `boundary` found stable
  # for k = 10 (0.8 diverged).
  emit interp-stability-margin --eval-every 50 --optimizer interp --lr 0.3 --alpha-dom 0 --alpha-bulk 2 \
                            --refresh 10,100,$((STEPS + 1)) --hessian-batch 50,1000
elif [ "$PLAN" = stability ]; then
  # λ₁ of H on all 5,000 (2,000) examples every 100 steps, against 2/η.
  L="--full-lambda-every 100"
  emit stability-bulk       --eval-every 100 --optimizer bulk --lr 0.25,0.5 --refresh 10,100 $L
  # The small network's late T = 1 failure at η = 1 (1,000 steps, section 3), with a metrics row every
  # 10 steps: the overlap of consecutive bases (basis_overlap) and the gap λ_k/θ_{k+1} (gap_k) before it.
  SMALL="--arch 196-32-32-10 --act tanh --data mnist14:2000 --test-data mnist14-test --loss $LOSS --seeds $SEEDS"
  emit_as stability-small-t1 $SMALL --steps 1000 --eval-every 10 --optimizer bulk --lr 1 --refresh 1
  emit_long stability-bulk-t1 $NET --loss $LOSS --seeds $SEEDS --steps $STEPS --eval-every 100 --optimizer bulk --lr 0.25,0.5 --refresh 1 $L
  emit_long stability-small $SMALL --steps 20000 --eval-every 100 --optimizer bulk --lr 0.5,1 --refresh 1,10,100 $L
elif [ "$PLAN" = transformer ]; then
  # k = 10 beside the compare's k = 2 (one direction per class): SGD logs χ_10, Dom and Bulk project on it.
  T="--batch 100 --lr 0.1 -k 10 --hessian-batch 50 --eval-every 10"
  emit transformer-k10-sgd  $T --optimizer sgd
  emit transformer-k10-dom  $T --optimizer dom
  emit transformer-k10-bulk $T --optimizer bulk
elif [ "$PLAN" = g-vs-h ]; then
  emit g-vs-h-h             --eval-every 10 --optimizer bulk --lr $BULK_ETA --curvature h
  emit g-vs-h-g             --eval-every 10 --optimizer bulk --lr $BULK_ETA --curvature g
else
  # Statement 3: Bulk-SGD's stability against η, k, refresh period T and Hessian batch m.
  emit bulk-lr              --optimizer bulk --lr $BULK_LRS
  [ "$GRID" = core ] || emit bulk-k --optimizer bulk --lr $BULK_ETA --k $K_LIST
  emit bulk-refresh         --optimizer bulk --lr $BULK_ETA --refresh $REFRESH_LIST
  emit bulk-hessian-batch   --optimizer bulk --lr $BULK_ETA --hessian-batch $HB_LIST
  # Statement 4: the interpolated family, and its dependence on T and m.
  emit interp               --optimizer interp --lr $ETA --alpha-dom $INTERP_DOM --alpha-bulk $INTERP_BULK
  [ "$GRID" = core ] || emit interp-refresh --optimizer interp --lr $ETA --alpha-dom $INTERP_TM_DOM --alpha-bulk 2 --refresh $INTERP_T
  [ "$GRID" = core ] || emit interp-hessian-batch --optimizer interp --lr $ETA --alpha-dom $INTERP_TM_DOM --alpha-bulk 2 --hessian-batch $INTERP_HB
  # Tuned baselines: the best η of SGD and of Bulk-SGD from one grid each.
  emit tuned-sgd            --optimizer sgd  --lr $SGD_LRS
  emit tuned-bulk           --optimizer bulk --lr $TUNED_BULK_LRS
  # Controls: full-batch GD (batch = every example) and a small learning rate.
  emit full-batch           --optimizer sgd  --lr $CONTROL_LRS --batch $FULL
  # Dom-SGD started only after the EMA of χ_k reaches 0.9 (the χ switch).
  emit dom-chi-switch       --optimizer dom  --lr $ETA --switch-chi 0.9
  # The EMA runs over minibatch gradients, whose χ_k is lower than the full-batch one in
  # metrics.csv: on mnist5k it peaked at 0.86 in 200 steps and the 0.9 switch never fired.
  emit dom-chi-switch-0.8   --optimizer dom  --lr $ETA --switch-chi 0.8
  # Heavy-ball momentum μ = 0.9 and Adam, each plain, Dom- and Bulk-: the projection acts on the
  # optimizer's final update (v, or Adam's m̂/(√ŝ + ε); docs/optimizers.md, §2).
  emit momentum-sgd         --optimizer sgd  --lr $MOMENTUM_LRS --momentum 0.9
  emit momentum-dom         --optimizer dom  --lr $MOMENTUM_LRS --momentum 0.9
  emit momentum-bulk        --optimizer bulk --lr $MOMENTUM_LRS --momentum 0.9
  emit adam                 --optimizer sgd  --lr $ADAM_LRS --update adam
  emit adam-dom             --optimizer dom  --lr $ADAM_LRS --update adam
  emit adam-bulk            --optimizer bulk --lr $ADAM_LRS --update adam
fi
} > "$OUT/sweeps.txt"
# Statements 1, 2, 5 (and 4's interp point): every optimizer from one θ₀ per seed, with the H/G/F
# analysis. First in the list: it is the longest job, and the sweeps fill the other slots meanwhile.
: > "$OUT/jobs.txt"
if [ "$PLAN" = protocol ]; then
  case " ${ONLY:-compare} " in
    *" compare "*) echo "test -f $OUT/compare/report.md || $CURVATURE compare $COMMON --steps $STEPS --lr $ETA --out $OUT/compare > $OUT/compare.log 2>&1" > "$OUT/jobs.txt" ;;
  esac
fi
# The Transformer's compare: k = 2, the H/G/F split and the per-layer view at 3 points, with
# Hutchinson norms (10 probes) and a 2-probe density, all on the same 50 lines.
if [ "$PLAN" = transformer ]; then
  case " ${ONLY:-compare} " in
    *" compare "*) echo "test -f $OUT/compare/report.md || $CURVATURE compare $NET --loss ce --seeds $SEEDS --batch 100 --lr 0.1 --optimizers sgd,dom,bulk -k 2 --steps $STEPS --eval-every 10 --hessian-batch 50 --points 3 --probes 10 --density-probes 2 --density-steps 30 --out $OUT/compare > $OUT/compare.log 2>&1" > "$OUT/jobs.txt" ;;
  esac
fi
# The overlap table (issue 24): along SGD only, H's top-k against G, EF, Σ and K-FAC and the noise share
# at 3 analysis steps. song: in Song's regime; the protocol settings: ONLY=overlaps (at the setting's η).
case "$PLAN" in
  song) case " ${ONLY:-overlaps} " in
          *" overlaps "*) echo "test -f $OUT/overlaps/report.md || $CURVATURE compare $COMMON --steps $STEPS --batch 50 --lr 0.05 --eval-every 100 --optimizers sgd --points 3 --curvature-log-every 100 --curvature-log-tolerance 1e-4 --out $OUT/overlaps > $OUT/overlaps.log 2>&1" >> "$OUT/jobs.txt" ;;
        esac ;;
  # Along each Bulk-SGD run of g-vs-h (no SGD in the compare, so its analysis follows Bulk-SGD): H's
  # top-k against G's at 3 steps, the overlap ‖U_Gᵀ U_H‖²_F / k over training.
  g-vs-h) for c in h g; do
            case " ${ONLY:-overlaps-$c} " in
              *" overlaps-$c "*) echo "test -f $OUT/overlaps-$c/report.md || $CURVATURE compare $COMMON --steps $STEPS --lr $BULK_ETA --eval-every 10 --optimizers bulk --curvature $c --points 3 --out $OUT/overlaps-$c > $OUT/overlaps-$c.log 2>&1" >> "$OUT/jobs.txt" ;;
            esac
          done ;;
  protocol) case " ${ONLY:-} " in
          *" overlaps "*) echo "test -f $OUT/overlaps/report.md || $CURVATURE compare $COMMON --steps $STEPS --lr $ETA --optimizers sgd --points 3 --curvature-log-every 10 --curvature-log-tolerance 1e-4 --out $OUT/overlaps > $OUT/overlaps.log 2>&1" >> "$OUT/jobs.txt" ;;
        esac ;;
esac
# The boundary's predictions need the spectrum at θ₀ on every example, one per seed.
SPECTRA=""
if [ "$PLAN" = boundary ]; then
  # MNIST-5k's (the runs' network) and the Fashion CNN's (for its sweeps in docs/findings/fashion-cnn).
  CNN_NET="--arch 1x28x28-c8k4s2-m2-c16k3-m2-10 --act tanh --data fashion:5000"
  s=0
  while [ "$s" -lt "$SEEDS" ]; do
    for net in mlp cnn; do
      if [ $net = mlp ]; then N=$(echo "$NET" | sed "s/ --test-data [^ ]*//"); name=spectrum-seed$s; D=""
      else N=$CNN_NET; name=spectrum-cnn-seed$s; D="--density-probes 2 --density-steps 40"; fi
      A=$(echo "$N" | sed 's/ --data.*//')
      # θ₀ of seed s is the one every train run of seed s starts from (init and train share the draw).
      echo "test -f $OUT/$name/report.md || { $CURVATURE init $A --seed $s --out $OUT/theta0-$name && $CURVATURE spectrum $N --loss $LOSS --k 21 --seed $s $D --theta $OUT/theta0-$name/theta.npy --out $OUT/$name; } > $OUT/$name.log 2>&1" >> "$OUT/jobs.txt"
      SPECTRA="$SPECTRA $name"
    done
    s=$((s + 1))
  done
fi
cat $(sed "s|^|$OUT/|; s|\$|/jobs.txt|" "$OUT/sweeps.txt") >> "$OUT/jobs.txt"
# JOBS runs share the cores: each train job gets cores/JOBS objective threads (what a run computes does not
# depend on it). Two 1-thread runs side by side finished as soon as, or up to 12 % sooner than, two 2-thread
# runs on 2 cores in three pairs (docs/experiments.md, "Issue 21's settings").
PER_JOB=$(( $(nproc) / JOBS )); [ "$PER_JOB" -ge 1 ] || PER_JOB=1
sed -i "/ train --config /s/\$/ --threads $PER_JOB/" "$OUT/jobs.txt"
echo "findings.sh: $(wc -l < "$OUT/jobs.txt") jobs, $JOBS at a time (STEPS=$STEPS SEEDS=$SEEDS SETTING=$SETTING LOSS=$LOSS GRID=$GRID EXTRA=$EXTRA)"
[ -n "${EMIT_ONLY:-}" ] && { echo "findings.sh: EMIT_ONLY set; jobs in $OUT/jobs.txt, not run"; exit 0; }
parallel --will-cite -j "$JOBS" < "$OUT/jobs.txt"
# Song's regime: H = G + F at the end of SGD, Dom-SGD and Bulk-SGD (θ after 2,000 steps, each seed's Hessian
# batch, Hutchinson norms), the split along the projected runs that the compare's analysis (along SGD) lacks.
SPLITS=""
if [ "$PLAN" = song ]; then
  for o in sgd dom bulk; do
    for d in "$OUT/song-$o"/*seed=*; do
      [ -f "$d/theta.npy" ] || continue
      s=${d##*seed=}; name=split-$o-seed$s; SPLITS="$SPLITS $name"
      [ -f "$OUT/$name/energy.csv" ] || $CURVATURE decompose $NET --loss $LOSS -k 10 --hessian-batch 500 --seed "$s" --theta "$d/theta.npy" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
    done
  done
fi
while read -r name; do $CURVATURE sweep --collect "$OUT/$name" | tail -1; done < "$OUT/sweeps.txt"
for f in loss lambda1; do
  for e in png; do [ -f "$OUT/compare/$f.$e" ] && cp "$OUT/compare/$f.$e" "$FIGURES/compare-$f.$e"; done
done
for f in energy split layers layers_lambda; do
  [ -f "$OUT/compare/seed=0/$f.png" ] && cp "$OUT/compare/seed=0/$f.png" "$FIGURES/compare-seed0-$f.png"
done
# Every seed's curvature split (G/H inside U, F's bulk share, ...) as a committed table.
for c in compare overlaps overlaps-h overlaps-g; do
  for d in "$OUT/$c"/seed=*; do
    for t in energy layers overlaps; do
      [ -f "$d/$t.csv" ] && cp "$d/$t.csv" "$FIGURES/$c-$(basename "$d" | tr -d =)-$t.csv"
    done
  done
done
[ -f "$OUT/overlaps/overlaps.png" ] && cp "$OUT/overlaps/overlaps.png" "$FIGURES/overlaps.png"
while read -r name; do
  [ -f "$OUT/$name/loss.png" ] && cp "$OUT/$name/loss.png" "$FIGURES/$name-loss.png"
done < "$OUT/sweeps.txt"
# Per-seed metrics.csv committed beside the tables. Song's regime: SGD's and full-batch GD's (chi_k is the
# full gradient's χ at each row); stability: the T = 1 runs' rows every 10 steps (basis_overlap, gap_k).
case "$PLAN" in song) METRICS_OF="song-sgd song-full-batch" ;; stability) METRICS_OF=stability-small-t1 ;; *) METRICS_OF="" ;; esac
if [ -n "$METRICS_OF" ]; then
  mkdir -p "$FIGURES/metrics"
  for name in $METRICS_OF; do
    for d in "$OUT/$name"/*seed=*; do
      [ -f "$d/metrics.csv" ] && cp "$d/metrics.csv" "$FIGURES/metrics/$name-seed${d##*seed=}.csv"
    done
  done
fi
# Every table the findings cite, regenerated: the compare report and each sweep's, in one file.
{
  echo "# Tables of \`scripts/findings.sh\` (SETTING=$SETTING LOSS=$LOSS STEPS=$STEPS SEEDS=$SEEDS GRID=$GRID)"
  echo
  echo "Generated by scripts/findings.sh from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); do not edit."
  echo
  for name in compare $(for c in overlaps overlaps-h overlaps-g; do [ -d "$OUT/$c" ] && echo $c; done) $SPECTRA $(cat "$OUT/sweeps.txt"); do
    echo; echo "## $name"
    if [ -f "$OUT/$name/report.md" ]; then sed '1d; s/^#/##/' "$OUT/$name/report.md"; else echo "(not run)"; fi
  done
  # The 20,000-step jobs (LONG=1) run elsewhere or later; whatever of them has finished is collected here,
  # the rest listed as missing by sweep --collect.
  for d in "$OUT"/long/*/; do
    [ -f "$d/config.json" ] || continue
    ls "$d"/*/summary.json >/dev/null 2>&1 || continue
    $CURVATURE sweep --collect "$d" > /dev/null 2>&1 || true
    echo; echo "## long: $(basename "$d")"
    if [ -f "$d/report.md" ]; then sed '1d; s/^#/##/' "$d/report.md"; else echo "(collect failed)"; fi
  done
  # The long runs at fixed steps, to read them against the 2,000-step sweeps.
  if ls "$OUT"/long/*/*/metrics.csv >/dev/null 2>&1; then
    echo; echo "## long: checkpoints"; echo
    sh "$(dirname "$0")/long-checkpoints.sh" 2000,5000,10000,20000 $(ls -d "$OUT"/long/*/*/ | while read -r r; do [ -f "$r/summary.json" ] && echo "$r"; done)
  fi
} > "$FIGURES/tables.md"
# The small network's T = 1 failure: along each seed, every 50th row and the last rows before the end,
# λ₁ and λ₁₀ of the tracked set, the guard's top Ritz value θ₁₁ = λ₁₀/gap_k (a lower estimate of λ₁₁,
# the sharpest direction Bulk-SGD steps along) against 2/η, and the overlap of consecutive bases.
if [ "$PLAN" = stability ] && ls "$FIGURES"/metrics/stability-small-t1-seed*.csv >/dev/null 2>&1; then
  {
    echo; echo "## t1-mechanism"; echo
    echo "Bulk-SGD, T = 1, η = 1 on the small network (metrics.csv of stability-small-t1, a row every 10 steps); θ₁₁ = λ₁₀/gap_k, '—' where the refresh was not gap-certified:"
    echo
    echo "| seed | step | train loss | λ₁ | λ₁₀ | θ₁₁ | η·θ₁₁ | basis overlap |"
    echo "|---|---|---|---|---|---|---|---|"
    for f in "$FIGURES"/metrics/stability-small-t1-seed*.csv; do
      seed=$(basename "$f" .csv | sed 's/.*seed//')
      awk -F, -v seed="$seed" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { n++; step[n] = $1; row[n] = $0 }
        END {
          for (j = 1; j <= n; j++) {
            if (step[j] % 50 != 0 && j < n - 3) continue
            split(row[j], v, ",")
            lr = v[c["lr"]]; g = v[c["gap_k"]]; l10 = v[c["lambda_10"]]
            t = (g == "" ? "—" : sprintf("%.3g", l10 / g)); e = (g == "" ? "—" : sprintf("%.3g", lr * l10 / g))
            printf "| %s | %s | %.4g | %.4g | %.4g | %s | %s | %s |\n", seed, step[j], v[c["train_loss"]], v[c["lambda_1"]], l10, t, e,
              (v[c["basis_overlap"]] == "" ? "—" : sprintf("%.4f", v[c["basis_overlap"]]))
          }
        }' "$f"
    done
  } >> "$FIGURES/tables.md"
fi
if [ -n "$SPLITS" ]; then
  {
    echo; echo "## split-at-the-end"; echo
    echo "H = G + F at the last step of each run (decompose on the run's Hessian batch of 500, top-10 of H, Hutchinson norms with 30 probes):"
    echo "‖·‖² is the squared Frobenius norm, U the top-10 of H; 'inside' is ‖UᵀGU‖²/‖UᵀHU‖², 'F bulk' F's energy outside U."
    echo
    echo "| run | seed | step | λ₁ | λ₁₀ | ‖G‖²/‖H‖² | ‖F‖²/‖H‖² | H energy in U | G energy in U | inside | F bulk |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for name in $SPLITS; do
      awk -F, -v run="$(echo "$name" | cut -d- -f2)" -v seed="${name##*seed}" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { printf "| %s | %s | %s | %.4g | %.4g | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f |\n", run, seed, $c["step"], $c["lambda_1"], $c["lambda_k"],
            $c["g_frobenius2"] / $c["h_frobenius2"], $c["f_frobenius2"] / $c["h_frobenius2"], $c["h_energy"], $c["g_energy"], $c["g_over_h_inside"], $c["f_bulk"] }' \
        "$OUT/$name/energy.csv"
    done
  } >> "$FIGURES/tables.md"
fi
if [ "$PLAN" = boundary ]; then
  { echo; echo "## boundary-predictions"; echo; scripts/boundary-table.sh "$OUT"; } >> "$FIGURES/tables.md"
  for name in $SPECTRA; do [ -f "$OUT/$name/eigenvalues.csv" ] && cp "$OUT/$name/eigenvalues.csv" "$FIGURES/$name-eigenvalues.csv"; done
fi
[ -z "${LONG:-}" ] || echo "findings.sh: $(wc -l < "$OUT/long-jobs.txt") long jobs in $OUT/long-jobs.txt (not run: parallel -j 2 < $OUT/long-jobs.txt, or each $OUT/long/*/slurm.sh; scripts/long-checkpoints.sh reads them at fixed steps)"
echo "findings.sh: done in $(( $(date +%s) - start )) s; reports in $OUT/*/report.md, figures in $FIGURES"

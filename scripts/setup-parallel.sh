#!/bin/sh
# Installs GNU parallel (Debian's `parallel` package) where it is missing: `curvature sweep --emit DIR`
# writes DIR/jobs.txt, run with `parallel -j 2 < DIR/jobs.txt`, and the SweepJobs tests run it.
# Called by scripts/setup.sh; safe to run again.
set -eu
if command -v parallel >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq parallel
else
  echo "setup-parallel.sh: no apt-get; install GNU parallel with your package manager" >&2
  exit 1
fi

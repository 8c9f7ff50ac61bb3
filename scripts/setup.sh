#!/usr/bin/env bash
# Installs what Curvature needs beyond the .NET SDK: the native BLAS (Debian's OpenBLAS,
# pthread build, which provides libopenblas.so.0 with cblas_* and LAPACK's dsyevd_).
# Does nothing when it is already present.
#
#   bash scripts/setup.sh          OpenBLAS (the default backend)
#   bash scripts/setup.sh --mkl    also Intel MKL (Debian's libmkl-rt, from the non-free
#                                  component, enabled for that one install only), leaving
#                                  the system's libblas.so.3 / liblapack.so.3 choice as it was
set -euo pipefail
mkl=0
for arg in "$@"; do
  case "$arg" in
    --mkl) mkl=1 ;;
    *) echo "setup: unknown option '$arg'; expected --mkl or nothing" >&2; exit 2 ;;
  esac
done
if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup: the .NET SDK (dotnet) is not on PATH; install .NET 10 first" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
can_install() { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; }

if ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then
  if ! can_install; then
    echo "setup: OpenBLAS is missing and this user cannot install it; Curvature falls back to managed BLAS" >&2
  else
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq libopenblas0-pthread >/dev/null
    echo "setup: installed libopenblas0-pthread"
  fi
fi

# GNU parallel runs the jobs `curvature sweep --emit DIR` writes (and their tests).
if can_install || command -v parallel >/dev/null 2>&1; then
  sh "$(dirname "$0")/setup-parallel.sh"
fi

[ "$mkl" -eq 1 ] || exit 0
if ldconfig -p 2>/dev/null | grep -q 'libmkl_rt\.so'; then
  exit 0
fi
if ! can_install; then
  echo "setup: MKL is missing and this user cannot install it; Curvature uses the next backend" >&2
  exit 0
fi

# The system's BLAS/LAPACK alternatives before the install: MKL's package registers itself
# as one, and we put back whatever was chosen (auto or a manual pick).
alts="libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu"
declare -A status value
for a in $alts; do
  status[$a]=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Status: //p')
  value[$a]=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Value: //p')
done

# non-free for this one install only: a private copy of the configured sources with
# non-free added next to main, and a private package-list directory, so the system's apt
# configuration and lists are left as they were.
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/parts" "$tmp/lists/partial"
: > "$tmp/sources.list"
if [ -f /etc/apt/sources.list ]; then
  sed -E '/^deb(-src)? / { / main( |$)/ { / non-free( |$)/! s/$/ non-free/ } }' /etc/apt/sources.list > "$tmp/sources.list"
fi
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  case "$f" in
    *.sources) awk '/^Components:/ && / main( |$)/ && !/ non-free( |$)/ { print $0 " non-free"; next } { print }' "$f" > "$tmp/parts/$(basename "$f")" ;;
    *.list) sed -E '/^deb(-src)? / { / main( |$)/ { / non-free( |$)/! s/$/ non-free/ } }' "$f" > "$tmp/parts/$(basename "$f")" ;;
  esac
done
apt_opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts" -o "Dir::State::Lists=$tmp/lists")
$SUDO apt-get "${apt_opts[@]}" update -qq
$SUDO apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends libmkl-rt >/dev/null

for a in $alts; do
  [ -n "${value[$a]}" ] || continue
  now=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Value: //p')
  nowstatus=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Status: //p')
  if [ "${status[$a]}" = "auto" ]; then
    [ "$nowstatus" = "auto" ] && [ "$now" = "${value[$a]}" ] || $SUDO update-alternatives --quiet --auto "$a"
  elif [ "$now" != "${value[$a]}" ]; then
    $SUDO update-alternatives --quiet --set "$a" "${value[$a]}"
  fi
  now=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Value: //p')
  if [ "$now" != "${value[$a]}" ]; then
    echo "setup: could not restore $a to ${value[$a]} (now $now)" >&2
    exit 1
  fi
done
echo "setup: installed libmkl-rt ($(ldconfig -p | grep -m1 -o '/[^ ]*libmkl_rt\.so[^ ]*'))"

#!/usr/bin/env bash
# Installs what Curvature needs beyond the .NET SDK: the native BLAS (Debian's OpenBLAS,
# pthread build, which provides libopenblas.so.0 with cblas_* and LAPACK's dsyevd_).
# Does nothing when it is already present.
set -euo pipefail
if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup: the .NET SDK (dotnet) is not on PATH; install .NET 10 first" >&2
  exit 1
fi
if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "setup: OpenBLAS is missing and this user cannot install it; Curvature falls back to managed BLAS" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libopenblas0-pthread >/dev/null
echo "setup: installed libopenblas0-pthread"

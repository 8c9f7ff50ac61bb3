#!/usr/bin/env bash
# Executes notebooks headless with dotnet-repl (a .NET tool from NuGet, installed on first use
# into .tools/). A notebook whose cell throws — a failed Check included — makes dotnet-repl
# exit non-zero, and so this script. Build first: the notebooks load ../Cli/bin/Release/net10.0.
#
#   bash scripts/notebooks.sh                    every notebooks/*.ipynb, outputs to a temp dir
#   bash scripts/notebooks.sh --write-back       every notebook, executed outputs saved in place
#   bash scripts/notebooks.sh [--write-back] A.ipynb B.ipynb   just these
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=0.3.259
tools="${CURVATURE_TOOLS:-$root/.tools}"
write_back=0
files=()
for arg in "$@"; do
  case "$arg" in
    --write-back) write_back=1 ;;
    -*) echo "notebooks: unknown option '$arg'; expected --write-back or notebook files" >&2; exit 2 ;;
    *) files+=("$arg") ;;
  esac
done
[ ${#files[@]} -gt 0 ] || files=("$root"/notebooks/*.ipynb)
if [ ! -x "$tools/dotnet-repl" ]; then
  dotnet tool install --tool-path "$tools" dotnet-repl --version "$version" >/dev/null \
    || { echo "notebooks: could not install dotnet-repl $version into $tools" >&2; exit 1; }
fi
# dotnet-repl targets an earlier .NET; let it run on the installed one.
export DOTNET_ROLL_FORWARD=Major DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
for nb in "${files[@]}"; do
  [ -f "$nb" ] || { echo "notebooks: '$nb' does not exist; expected an .ipynb file" >&2; failed=$((failed + 1)); continue; }
  dir=$(cd "$(dirname "$nb")" && pwd); name=$(basename "$nb")
  target="$out/$name"
  [ "$write_back" -eq 1 ] && target="$dir/$name"
  start=$(date +%s)
  # Run from the notebook's folder: its #r and #load paths are relative to it.
  if (cd "$dir" && "$tools/dotnet-repl" --run "$name" --exit-after-run --output-path "$target" > "$out/$name.log" 2>&1); then
    echo "notebooks: $name passed in $(( $(date +%s) - start )) s"
  else
    echo "notebooks: $name FAILED (a cell threw):" >&2
    python3 - "$target" <<'PY' >&2 2>/dev/null || tail -20 "$out/$name.log" >&2
import json, sys
for cell in json.load(open(sys.argv[1]))["cells"]:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            print("  " + o.get("evalue", "").splitlines()[0])
PY
    failed=$((failed + 1))
  fi
done
[ "$failed" -eq 0 ] || { echo "notebooks: $failed of ${#files[@]} failed" >&2; exit 1; }

#!/usr/bin/env bash
# Run every solution notebook with its small values, two at a time, with the `labs` command of the
# Python environment that is active, and print one line per notebook.
# Usage: .ci/run_solutions.sh NAME FOLDER. NAME starts each line; FOLDER receives the runs and each
# notebook's error output. Exits non-zero if any notebook failed.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
folder=$2
export LABS_OFFLINE=1
printf '%s\n' lab*/solutions/*.ipynb | xargs -P 2 -I {} sh -c '
  notebook=$1 name=$2 folder=$3
  errors="$folder/$(basename "$notebook").errors"
  if labs run "$notebook" --small --out "$folder/runs" > /dev/null 2> "$errors"; then
    echo "$name: $notebook ran"
  else
    echo "$name: $notebook FAILED: $(tail -n 1 "$errors")"
    exit 1
  fi' sh {} "$name" "$folder"

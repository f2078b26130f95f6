#!/usr/bin/env bash
# CI tier: the lowest versions pyproject.toml allows. Every base dependency is pinned to its
# lower bound (the ">=" of pyproject.toml), the package is installed on Python 3.11 the way a
# student installs it (not editable), and every solution notebook runs with its small values.
# A lower bound that does not install or does not run is a defect: raise it or fix the code.
set -euo pipefail
cd "$(dirname "$0")/.."
python311=${PYTHON311:-$HOME/.pyenv/versions/3.11.7/bin/python3}
if [ ! -x "$python311" ]; then
  echo "Lowest tier: no Python 3.11 at $python311 (set PYTHON311); skipped." >&2
  exit 0
fi
tier=$(mktemp -d)
trap 'rm -rf "$tier"' EXIT
"$python311" - pyproject.toml > "$tier/lowest.txt" <<'PYTHON'
import re
import sys
import tomllib

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for requirement in project["dependencies"]:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?>=([^,;\s]+)", requirement.strip())
    if not match:
        sys.exit(f"Lowest tier: cannot read a lower bound from {requirement!r}")
    print(f"{match[1]}=={match[3]}")
PYTHON
echo "Lowest tier: $(tr '\n' ' ' < "$tier/lowest.txt")"
"$python311" -m venv "$tier/venv"
. "$tier/venv/bin/activate"
pip install -q -c "$tier/lowest.txt" .
bash .ci/run_solutions.sh "Lowest tier" "$tier"

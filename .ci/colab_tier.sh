#!/usr/bin/env bash
# CI tier: this package installed into Colab's package set (.ci/colab-constraints.txt) on
# Python 3.13, the way the notebooks' set-up cell installs it (not editable). It fails when
# the install would replace a package Colab already has, or when a solution notebook does
# not run with its small values there.
set -euo pipefail
cd "$(dirname "$0")/.."
python313=${PYTHON313:-$HOME/.pyenv/versions/3.13.0/bin/python3}
if [ ! -x "$python313" ]; then
  echo "Colab tier: no Python 3.13 at $python313 (set PYTHON313); skipped." >&2
  exit 0
fi
tier=$(mktemp -d)
trap 'rm -rf "$tier"' EXIT
"$python313" -m venv "$tier/venv"
. "$tier/venv/bin/activate"
pip install -q -r .ci/colab-constraints.txt
pip install -q --dry-run --report "$tier/report.json" .
python - "$tier/report.json" <<'PYTHON'
import importlib.metadata
import json
import sys

installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in importlib.metadata.distributions()}
report = json.load(open(sys.argv[1]))
replaced = [f"{item['metadata']['name']} {installed[key]} -> {item['metadata']['version']}"
            for item in report["install"]
            if (key := item["metadata"]["name"].lower().replace("_", "-")) in installed
            and key != "intro-deep-learning-labs"]
if replaced:
    sys.exit("Colab tier: installing the package would replace what Colab ships: " + ", ".join(replaced))
print(f"Colab tier: the install adds {len(report['install'])} packages and replaces none of Colab's.")
PYTHON
pip install -q .
bash .ci/run_solutions.sh "Colab tier" "$tier"

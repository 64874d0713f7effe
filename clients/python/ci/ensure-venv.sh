#!/usr/bin/env bash
# Prints the path of a Python virtual environment with the veilsum package (built from this
# checkout) and its test dependencies, creating it from the registry when missing. One venv per
# version of clients/python/pyproject.toml, under ~/.cache/veilsum (VEILSUM_PYTHON_VENV overrides):
# the dependencies are installed once; the package itself is reinstalled on every call, offline.
# Used by .ci/run and by test/e2e/python-client.test.ts, so both run the same environment.
set -euo pipefail
package="$(cd "$(dirname "$0")/.." && pwd)"
key="$(sha256sum "$package/pyproject.toml" | cut -c1-16)"
venv="${VEILSUM_PYTHON_VENV:-$HOME/.cache/veilsum/python-venv-$key}"
mkdir -p "$(dirname "$venv")"

exec 9>"$venv.lock"
flock 9 # concurrent test files share the venv: one installer at a time

if [ ! -x "$venv/bin/python" ]; then
  staging="$venv.partial"
  rm -rf "$staging"
  if ! python3 -m venv "$staging" >&2; then
    rm -rf "$staging"
    echo "cannot create a Python virtual environment: install python3-venv (apt-get install python3-venv) and retry" >&2
    exit 1
  fi
  "$staging/bin/python" -m pip install --quiet --disable-pip-version-check setuptools grpcio-tools >&2
  # The package's own dependencies plus its test and progress extras (pytest, scikit-learn, tqdm).
  "$staging/bin/python" -m pip install --quiet --disable-pip-version-check "$package[test,progress]" >&2
  # Moved into place only when complete (scripts under bin/ keep the staging path: run python -m).
  mv "$staging" "$venv"
fi

# This checkout's package (stubs regenerated from proto/), without touching the dependencies.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall "$package" >&2
# The in-tree build leaves these behind; they are not part of the checkout.
rm -rf "$package/build" "$package/src/veilsum.egg-info"
echo "$venv"

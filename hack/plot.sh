#!/usr/bin/env bash
# Draws the bootstrap bench's growth curves (CSV) as a PNG with matplotlib, installed
# from PyPI into a virtualenv in the cache (outside the clone), once per version.
#   hack/plot.sh <bench CSV> <PNG>
set -euo pipefail
MATPLOTLIB_VERSION=3.9.2
cache="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/plot/matplotlib-$MATPLOTLIB_VERSION"
if [ ! -x "$cache/bin/python" ]; then
  python3 -m venv "$cache.tmp"
  "$cache.tmp/bin/pip" install --quiet "matplotlib==$MATPLOTLIB_VERSION"
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
fi
exec "$cache/bin/python" "$(dirname "$0")/plot.py" "$@"

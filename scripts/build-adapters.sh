#!/usr/bin/env bash
# Builds every adapter that needs building (adapters/*/build: Go, Java); each writes only into its
# own adapters/<name>/.build/.
set -euo pipefail
cd "$(dirname "$0")/.."
for build in adapters/*/build; do
    [ -x "$build" ] || continue
    echo "build: $(dirname "$build")"
    "$build"
done

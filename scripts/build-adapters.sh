#!/usr/bin/env bash
# Builds every adapter that needs building (adapters/*/build: Go, Java); each writes only into its
# own adapters/<name>/.build/. Then runs each adapter's prepare (docs/adapters.md "Releases") for every
# release of its library staged in REPRO_DRIVER_VERSIONS, so a run (and the tests) finds it built: the Go
# adapter against each staged go-sql-driver, into REPRO_CACHE. Only adapters whose releases file has one line
# (one library) are prepared here; the others need nothing built per release.
set -euo pipefail
cd "$(dirname "$0")/.."
for build in adapters/*/build; do
    [ -x "$build" ] || continue
    echo "build: $(dirname "$build")"
    "$build"
done
IFS=: read -r -a staging <<< "${REPRO_DRIVER_VERSIONS:-}"
for prepare in adapters/*/prepare; do
    [ -x "$prepare" ] || continue
    adapter="$(dirname "$prepare")"
    [ -f "$adapter/releases" ] || continue
    layout="$(grep -v '^[[:space:]]*#' "$adapter/releases" | grep -v '^[[:space:]]*$' || true)"
    [ "$(printf '%s\n' "$layout" | wc -l)" -eq 1 ] || continue
    read -r prefix shape _ <<< "$layout"
    for dir in "${staging[@]}"; do
        [ -d "$dir" ] || continue
        for entry in "$dir/$prefix"-[0-9]*; do
            [ -d "$entry" ] || continue
            path="$entry"
            [ "$shape" = node_modules ] && path="$entry/node_modules"
            echo "prepare: $adapter for ${entry##*/}"
            REPRO_LIBRARY_PATH="$path" "$prepare" >/dev/null
        done
    done
done

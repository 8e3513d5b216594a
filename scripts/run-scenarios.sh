#!/usr/bin/env bash
# Runs the documented scenarios on the embedded server, each with the expectation it must meet.
# An unmet expectation exits non-zero, so `make run` and CI fail loudly.
set -euo pipefail
REPRO=${1:-.build/debug/repro}
DIR=${2:-reports}
started=$SECONDS
run() { echo "+ repro $*"; "$REPRO" "$@" --report-dir "$DIR"; }
run wait-timeout --seconds 2 --policy naive --expect-error 2006 --expect-error 2013 --expect-phase query --expect-not-recovered
run wait-timeout --seconds 2 --policy seed-fix --expect-phase query --expect-not-recovered
run wait-timeout --seconds 2 --policy ping-on-borrow --expect-recovered
run wait-timeout --seconds 2 --policy liveness-check --expect-recovered
run kill-thread --target idle --policy naive --expect-phase query --expect-not-recovered
run kill-thread --target idle --policy ping-on-borrow --expect-recovered
run kill-thread --target busy --policy naive --expect-phase query
echo "reports in $DIR/ ($((SECONDS - started)) s)"

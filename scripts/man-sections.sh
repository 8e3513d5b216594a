#!/usr/bin/env bash
# Completes the man page ArgumentParser generates from the command definitions: its one-line EXIT STATUS
# (`.Ex -std`) becomes the real exit codes, followed by ENVIRONMENT, FILES, EXAMPLES and SEE ALSO from
# docs/man-sections.mdoc. Idempotent: a page that already has them is left as it is.
set -euo pipefail
page=${1:?usage: scripts/man-sections.sh PAGE.1}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sections="$here/docs/man-sections.mdoc"
[ -f "$page" ] || { echo "man-sections: $page is missing: generate the man page first" >&2; exit 2; }
grep -q '^\.Sh ENVIRONMENT' "$page" && exit 0
tmp="$page.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# Everything before the generated EXIT STATUS, then ours.
awk '/^\.Sh "EXIT STATUS"$/ { exit } { print }' "$page" > "$tmp"
cat "$sections" >> "$tmp"
mv "$tmp" "$page"

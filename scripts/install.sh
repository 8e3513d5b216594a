#!/usr/bin/env bash
# make install: the release binary, its man page and shell completions, and what it reads at run time
# (adapters, example scenarios, the measured matrices) under $DESTDIR$PREFIX. Every file and every directory
# it creates is listed in share/repro/install-manifest, which `make uninstall` (scripts/uninstall.sh) reads.
set -euo pipefail
cd "$(dirname "$0")/.."
destdir=${DESTDIR:-}
prefix=${PREFIX:-/usr/local}
case "$prefix" in /*) ;; *) echo "install: PREFIX must be an absolute path, not '$prefix'" >&2; exit 2 ;; esac
root="$destdir$prefix"
config=${CONFIG:-release}   # the tests install the debug build they just made
# The build's scratch directory: make test builds the release in one of its own (scripts/test.sh).
bin=${BUILD_DIR:-.build}/$config/repro
man=.build/plugins/GenerateManual/outputs/repro/repro.1
[ -x "$bin" ] || { echo "install: $bin is missing: run make install (it builds it)" >&2; exit 2; }
[ -f "$man" ] || { echo "install: $man is missing: run make install (it generates it)" >&2; exit 2; }
share="$root/share/repro"
manifest_entries=()

# Creates each missing directory of $1 (below $root) and remembers it, so uninstall removes only those.
make_dir() {
    local dir=$1 missing=()
    while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir=$(dirname "$dir"); done
    for d in "${missing[@]}"; do
        mkdir "$d"
        manifest_entries+=("dir ${d#"$root"/}")
    done
}

# put MODE SOURCE DEST: copies one file, remembers it.
put() {
    make_dir "$(dirname "$root/$3")"
    install -m "$1" "$2" "$root/$3"
    manifest_entries+=("file $3")
}

mkdir -p "$root"   # the prefix itself stays: uninstall empties it
put 755 "$bin" bin/repro
put 644 "$man" share/man/man1/repro.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" --generate-completion-script bash > "$tmp/repro.bash"
"$bin" --generate-completion-script zsh > "$tmp/_repro"
"$bin" --generate-completion-script fish > "$tmp/repro.fish"
put 644 "$tmp/repro.bash" share/bash-completion/completions/repro
put 644 "$tmp/_repro" share/zsh/site-functions/_repro
put 644 "$tmp/repro.fish" share/fish/vendor_completions.d/repro.fish

# Adapters: their scripts and sources, and the built Go binary and Java classes (not the Go build cache).
while IFS= read -r -d '' f; do
    rel=${f#./}
    mode=644; [ -x "$f" ] && mode=755
    put "$mode" "$f" "share/repro/$rel"
done < <(find ./adapters -type f ! -path '*/.build/gocache/*' -print0 | sort -z)
for f in Scenarios/*.yml Scenarios/README.md; do put 644 "$f" "share/repro/$f"; done
for f in docs/matrix.json docs/matrix.md docs/drivers.json docs/drivers.md docs/drivers.svg docs/adapters.md docs/ci.md \
    docs/commands.md docs/cli-reference.md docs/proxy-api.md \
    docs/report.schema.json docs/github-actions.yml docs/github-actions-drivers-matrix.yml matrix/columns.yaml; do
    put 644 "$f" "share/repro/$f"
done

manifest="$share/install-manifest"
{
    echo "# written by make install; make uninstall removes these files, then these directories when empty"
    printf '%s\n' "${manifest_entries[@]}"
    echo "file share/repro/install-manifest"
} > "$manifest"
echo "installed repro $("$root/bin/repro" --version) into $root ($(grep -c '^file' "$manifest") files)"

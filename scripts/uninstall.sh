#!/usr/bin/env bash
# make uninstall: removes exactly what scripts/install.sh put under $DESTDIR$PREFIX (its install-manifest):
# the files, then the directories it created, deepest first, when they are empty.
set -euo pipefail
destdir=${DESTDIR:-}
prefix=${PREFIX:-/usr/local}
root="$destdir$prefix"
manifest="$root/share/repro/install-manifest"
[ -f "$manifest" ] || { echo "uninstall: nothing installed at $root ($manifest not found)" >&2; exit 2; }
mapfile -t entries < <(grep -v '^#' "$manifest")
# A manifest is only trusted inside the prefix: no absolute path, no '..', and no path whose real location
# (through a symlinked directory) leaves the prefix. One bad entry refuses the whole manifest.
real_root=$(realpath -e "$root")
for entry in "${entries[@]}"; do
    [ -n "$entry" ] || continue
    rel=${entry#* }
    case "/$rel/" in
        //*|*/../*|*/./*) echo "uninstall: refusing $manifest: entry '$rel' is not a plain path inside $root (tampered manifest?); nothing removed" >&2; exit 2 ;;
    esac
    parent=$(realpath -m "$root/$(dirname "$rel")")
    case "$parent/" in
        "$real_root"/*) ;;
        *) echo "uninstall: refusing $manifest: entry '$rel' resolves to $parent, outside $root (a symlinked directory?); nothing removed" >&2; exit 2 ;;
    esac
done
removed=0
for entry in "${entries[@]}"; do
    [ "${entry%% *}" = file ] || continue
    path="$root/${entry#file }"
    if [ -e "$path" ] || [ -L "$path" ]; then rm -f "$path"; removed=$((removed + 1)); fi
done
# Directories: deepest first (longest path first), only if empty; never anything install did not create.
mapfile -t dirs < <(printf '%s\n' "${entries[@]}" | sed -n 's/^dir //p' | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
for d in "${dirs[@]}"; do
    [ -n "$d" ] && rmdir "$root/$d" 2>/dev/null || true
done
echo "removed $removed files of repro from $root"

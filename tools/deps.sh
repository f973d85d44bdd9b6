#!/bin/sh
# deps.sh: install the Debian 12 packages swarmd builds and tests with,
# only those that are missing.  Sourced by demo.sh and test.sh.  systemd,
# mount and man-db are for tests/systemd (a booted systemd, systemd-analyze
# verify with its man page check); clang and its libFuzzer runtime for
# tools/fuzz.sh; chromium for the web dashboard's browser test
# (tests/integration/84-dashboard.sh, driven by playwright-core, below).
# prometheus is for its promtool: the metrics test (77-metrics.sh)
# checks each scrape with `promtool check metrics`, the format's own
# linter, rather than a parser of our making.
SWARM_PACKAGES="meson ninja-build pkg-config gcc libevent-dev libsqlite3-dev \
libsystemd-dev libjansson-dev libinih-dev libcmocka-dev libcurl4-openssl-dev python3 procps util-linux groff-base \
systemd mount man-db curl cppcheck clang-format clang-tidy binutils clang libclang-rt-dev chromium prometheus"

swarm_deps() {
	missing=""
	for p in $SWARM_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "installing:$missing"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -q >/dev/null &&
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
			$missing >/dev/null
}

# The real Claude Code CLI, pinned, for the tests that run it against the
# fake upstream; npm from Debian if there is none (a node of another
# origin keeps its own).  Without it those tests skip, and fail where
# SWARM_REQUIRE_CLIENTS=1 (CI) says they must run.
CLAUDE_CODE_VERSION=2.1.197
swarm_claude() {
	command -v claude >/dev/null 2>&1 && return 0
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	if ! command -v npm >/dev/null 2>&1; then
		echo "installing: npm"
		$sudo apt-get update -q >/dev/null &&
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
				npm >/dev/null ||
			{ echo "could not install npm; the real-client tests will skip"; return 0; }
	fi
	echo "installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
	$sudo npm install -g --silent --no-fund --no-audit \
		"@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" >/dev/null 2>&1 ||
		echo "could not install Claude Code; the real-client tests will skip"
}

# playwright-core, pinned, to drive Debian's chromium in the dashboard's
# browser test: a library only, which never downloads a browser of its
# own (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD).  Into a cache directory, found
# there by the test; without it that test skips (fails under
# SWARM_REQUIRE_CLIENTS=1).
PLAYWRIGHT_VERSION=1.57.0
SWARM_PLAYWRIGHT_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/swarmd/playwright-core-$PLAYWRIGHT_VERSION"
swarm_playwright() {
	[ -f "$SWARM_PLAYWRIGHT_DIR/node_modules/playwright-core/package.json" ] && return 0
	command -v npm >/dev/null 2>&1 || swarm_claude
	echo "installing playwright-core@$PLAYWRIGHT_VERSION"
	mkdir -p "$SWARM_PLAYWRIGHT_DIR" &&
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-fund \
			--no-audit --prefix "$SWARM_PLAYWRIGHT_DIR" \
			"playwright-core@$PLAYWRIGHT_VERSION" >/dev/null 2>&1 ||
		echo "could not install playwright-core; the browser test will skip"
}

# swarm_build DIR [meson options...]: configure once, then build.
swarm_build() {
	dir=$1
	shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null ||
		return 1
	ninja -C "$dir" >/dev/null
}

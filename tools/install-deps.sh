#!/usr/bin/env bash
# Installs what `make test` needs on a Debian bookworm machine: compilers and
# fuzzing runtime, the libraries the shim and its exporter link, the real
# programs the integration tests trace, and the test receiver's npm
# packages.  Quiet and quick when everything is already there.  Installs
# as root directly, as another user through sudo; without sudo it prints
# the command for root to run and fails.
set -euo pipefail

cd "$(dirname "$0")/.."

PACKAGES=(
	build-essential pkg-config clang libclang-rt-14-dev
	libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev
	libunwind-dev libdw-dev check zlib1g-dev libpq-dev libsqlite3-dev
	libhttp-parser-dev libpg-query-dev libssl-dev libgnutls28-dev
	curl ca-certificates openssl wget python3 sqlite3 postgresql
	nginx-light wrk
	nodejs procps valgrind
	patchelf debootstrap python3-yaml python3-psycopg2
	python3-fastapi python3-uvicorn python3-sqlalchemy
)

# A nodesource nodejs bundles npm; Debian's nodejs needs the npm package.
if ! command -v npm >/dev/null 2>&1; then
	PACKAGES+=(npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	install=(apt-get install -y --no-install-recommends "${missing[@]}")
	as_root=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "otelshim: missing packages: ${missing[*]}" >&2
			echo "otelshim: run as root (or install sudo):" >&2
			echo "  apt-get update && DEBIAN_FRONTEND=noninteractive" \
				"${install[*]}" >&2
			exit 1
		fi
		as_root=(sudo)
	fi
	echo "otelshim: installing: ${missing[*]}"
	"${as_root[@]}" apt-get update
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "${install[@]}"
fi

if [ ! -d tests/sink/node_modules ]; then
	echo "otelshim: npm ci in tests/sink"
	(cd tests/sink && npm ci --no-audit --no-fund)
fi

#!/usr/bin/env bash
# make bench: builds the benchmark programs in bench/ into build/bench/,
# installs the OpenTelemetry JS SDK the node comparison needs (npm ci, the
# versions pinned in bench/node/package-lock.json), then runs the driver,
# bench/bench.py.  Expects `make all` to have run.  BENCH_ROUNDS,
# BENCH_SECONDS and BENCH_ONLY are passed through (see bench/bench.py).
set -euo pipefail

cd "$(dirname "$0")/.."

CC=${CC:-cc}
WARN=(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2
	-Wno-unused-parameter)
OUT=build/bench
mkdir -p "$OUT"

for lib in build/libotelshim.so build/otelshim-exporter.so; do
	if [ ! -f "$lib" ]; then
		echo "bench: $lib is missing; run make all first" >&2
		exit 1
	fi
done

build() {   # build NAME [extra sources and flags]
	local name=$1 dep stale=0
	shift
	# Its source or a header of bench/ newer than the program.
	for dep in "bench/$name.c" bench/*.h; do
		[ "$dep" -nt "$OUT/$name" ] && stale=1
	done
	if [ "$stale" = 1 ] || [ ! -x "$OUT/$name" ] || [ "$#" -gt 0 ]; then
		"$CC" -D_GNU_SOURCE "${WARN[@]}" -O2 -g -std=gnu11 -pthread \
			-o "$OUT/$name" "bench/$name.c" "$@"
	fi
}

build sink
build httpd
build floor
build passthru -shared -fPIC
build sqlfloor -shared -fPIC
build tlsfloor -lssl -lcrypto
build spawn
build spanload
build forkcost
build keepalive
build exptput -I. pipeline/config.c pipeline/config_lists.c \
	pipeline/config_scalars.c build/libcommon.a -ldl

if [ ! -d bench/node/node_modules ] ||
	[ bench/node/package-lock.json -nt bench/node/node_modules ]; then
	echo "bench: npm ci in bench/node"
	(cd bench/node && npm ci --no-audit --no-fund --loglevel=error)
	touch bench/node/node_modules
fi

exec python3 bench/bench.py

#!/usr/bin/env bash
# make dist: dist/otelshim/, a folder that can be copied into any glibc-based
# system or image and used from there.  It holds the preloaded library, the
# exporter module, the otelshim command and every non-glibc shared library
# the module needs (lib/), all found through $ORIGIN-relative RUNPATHs, so
# neither LD_LIBRARY_PATH nor an install step is needed.
#
# Usage: tools/dist.sh [OUTDIR]   (default dist/otelshim, relative to the
# repository root; run after make all)
set -euo pipefail

cd "$(dirname "$0")/.."

out=${1:-dist/otelshim}
build=build
version=$(sed -n 's/^VERSION *:= *//p' Makefile)

for f in libotelshim.so otelshim-exporter.so otelshim; do
	if [ ! -f "$build/$f" ]; then
		echo "dist: $build/$f is missing; run make all first" >&2
		exit 1
	fi
done
for tool in ldd patchelf objdump strip; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "dist: $tool is not installed (tools/install-deps.sh)" >&2
		exit 1
	fi
done

# glibc's own libraries: the target system must provide them, and they
# must match its ld.so, so they are never copied.
is_glibc() {
	case "$1" in
	ld-linux*.so* | ld64.so* | libc.so.* | libm.so.* | libmvec.so.* | \
	libpthread.so.* | libdl.so.* | librt.so.* | libresolv.so.* | \
	libutil.so.* | libanl.so.* | libBrokenLocale.so.* | libnss_*.so.* | \
	libthread_db.so.* | libc_malloc_debug.so.* | linux-vdso.so.* | \
	linux-gate.so.*)
		return 0 ;;
	esac
	return 1
}

# The shared libraries an object needs, transitively, as "soname path"
# lines: what the dynamic loader resolves here.
deps_of() {
	local line path
	LC_ALL=C ldd "$1" | while IFS= read -r line; do
		case "$line" in
		*"not found"*)
			echo "dist: $1 needs a library that is not found:" \
				"$line" >&2
			echo "MISSING"
			;;
		*" => /"*)
			line=${line#"${line%%[![:space:]]*}"}
			path=${line#* => }
			echo "${line%% => *} ${path%% (*}"
			;;
		esac
	done
}

# The Debian package a library file came from, or nothing.  dpkg knows
# each file under the path it was installed as, which on a merged-/usr
# system may be either side of the /lib -> usr/lib link.
package_of() {
	local real base cand
	command -v dpkg >/dev/null 2>&1 || return 0
	real=$(readlink -f "$1")
	base=${real##*/}
	for cand in "$real" "${1%/*}/$base" "${real#/usr}" "/usr${real}"; do
		if dpkg -S "$cand" >/dev/null 2>&1; then
			dpkg -S "$cand" 2>/dev/null | sed -n '1s/:.*//p'
			return 0
		fi
	done
}

rm -rf "$out"
mkdir -p "$out/lib"

install -m 755 "$build/libotelshim.so" "$build/otelshim-exporter.so" \
	"$build/otelshim" "$out/"
strip --strip-debug "$out/libotelshim.so" "$out/otelshim-exporter.so" \
	"$out/otelshim"

manifest=$out/LIBRARIES
: > "$manifest"
bundled=0

# Copies one library (soname, path) into lib/, once, unless it is glibc's.
bundle_one() {
	local soname=$1 path=$2 pkg ver
	if is_glibc "$soname" || [ -e "$out/lib/$soname" ]; then
		return 0
	fi
	cp -L "$path" "$out/lib/$soname"
	chmod 644 "$out/lib/$soname"
	# Each library finds its own dependencies beside itself.
	# shellcheck disable=SC2016 # a literal $ORIGIN for ld.so
	patchelf --set-rpath '$ORIGIN' "$out/lib/$soname"
	pkg=$(package_of "$path")
	ver=""
	if [ -n "$pkg" ]; then
		ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
	fi
	printf '%s\t%s\t%s\n' "$soname" "${pkg:-?}" "${ver:-?}" >> "$manifest"
	bundled=$((bundled + 1))
}

# libcurl is not in the module's DT_NEEDED: the module dlopen()s it for
# https:// endpoints only (exporter/curl_api.def), so ldd does not see it.
# It and its dependencies go into lib/ all the same, where the module's
# $ORIGIN/lib RUNPATH finds them when it calls dlopen().
curl_so=libcurl.so.4
curl_path=$(pkg-config --variable=libdir libcurl 2>/dev/null || true)/$curl_so
if [ ! -e "$curl_path" ]; then
	curl_path=$(ldconfig -p | sed -n "s|^[[:space:]]*$curl_so (.*) => ||p" |
		head -n 1)
fi
if [ -z "$curl_path" ] || [ ! -e "$curl_path" ]; then
	echo "dist: $curl_so (for https:// endpoints) is not installed" >&2
	exit 1
fi
bundle_one "$curl_so" "$curl_path"

for obj in "$build/otelshim-exporter.so" "$curl_path" \
	"$build/libotelshim.so" "$build/otelshim"; do
	deps=$(deps_of "$obj")
	if grep -qx MISSING <<<"$deps"; then
		exit 1
	fi
	while read -r soname path; do
		[ -n "$soname" ] || continue
		bundle_one "$soname" "$path"
	done <<<"$deps"
done
sort -o "$manifest" "$manifest"

# The module's own dependencies come from lib/; the preloaded library and
# the command need nothing but glibc, so they get no RUNPATH at all.
# shellcheck disable=SC2016 # a literal $ORIGIN for ld.so
patchelf --set-rpath '$ORIGIN/lib' "$out/otelshim-exporter.so"

# The newest glibc symbol version anything in the bundle asks for: the
# oldest glibc the bundle runs on.
need=$(for f in "$out"/*.so "$out/otelshim" "$out"/lib/*; do
	objdump -T "$f" 2>/dev/null
done | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)

cat > "$out/README" <<EOF
otelshim $version — portable bundle

Copy this folder anywhere on a glibc-based Linux system (glibc $need or
newer, $(uname -m)) and preload the library into the program to trace:

  LD_PRELOAD=/path/to/otelshim/libotelshim.so \\
  OTEL_SERVICE_NAME=my-service \\
  OTEL_EXPORTER_OTLP_ENDPOINT=http://tempo:4318 \\
    ./my-program

or let the command do it:  /path/to/otelshim/otelshim run -- ./my-program

  libotelshim.so        what LD_PRELOAD loads; needs glibc only
  otelshim-exporter.so  OTLP encoding and transport, loaded on the first
                        span from the folder libotelshim.so was loaded from
  otelshim              the command: run, view, doctor, status
  lib/                  the libraries the exporter module needs
                        (protobuf-c, zlib; libcurl and its TLS libraries,
                        loaded for https:// endpoints only), found through
                        \$ORIGIN; LIBRARIES lists them with the Debian
                        package and version each was taken from

Keep the files together; the folder's name and place do not matter.  glibc
itself is never bundled: it must come from the system.  Static, Go and
musl (Alpine) programs cannot be traced by preloading.  For https
endpoints, OpenSSL reads the system's CA certificates (/etc/ssl/certs); an
image without them cannot verify the collector's certificate.
LD_LIBRARY_PATH, when set, is searched before the bundled lib/.
EOF

echo "dist: $out ($bundled libraries bundled, needs glibc >= $need)"

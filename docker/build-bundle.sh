#!/usr/bin/env bash
# The build steps of docker/Dockerfile's build stage, as one script that the
# image build runs and tests/integration/test_docker.py runs on a plain
# checkout, so what the image does is what the test checks.
#
#   docker/build-bundle.sh packages        the Debian packages the build needs
#   docker/build-bundle.sh deps            apt-get install them (as root)
#   docker/build-bundle.sh build [DEST]    make dist, then copy the bundle to
#                                          DEST (default /otelshim) and the
#                                          example programs to DEST-examples
set -euo pipefail

cd "$(dirname "$0")/.."

# Compilers and protobuf-c/libcurl/zlib headers for the library and its
# module, patchelf for the bundle's RUNPATHs, libpq and libsqlite3 headers
# for the example programs (make all builds them too), libdw and libunwind
# headers for the symboliser and the unwinder (both libraries are
# dlopen()ed when present).
PACKAGES=(
	build-essential pkg-config ca-certificates
	libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev zlib1g-dev
	libpq-dev libsqlite3-dev libdw-dev libunwind-dev patchelf
)

cmd=${1:-build}
case "$cmd" in
packages)
	printf '%s\n' "${PACKAGES[@]}"
	;;
deps)
	missing=()
	for p in "${PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$st" = "install ok installed" ] || missing+=("$p")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends "${missing[@]}"
	fi
	;;
build)
	dest=${2:-/otelshim}
	make -j"$(nproc)" all
	tools/dist.sh "$dest.tmp"
	rm -rf "$dest" "$dest-examples"
	mv "$dest.tmp" "$dest"
	mkdir -p "$dest-examples"
	cp build/examples/* "$dest-examples/"
	# Fails the build when the module cannot resolve its libraries from
	# the bundle alone.
	if env -u LD_LIBRARY_PATH ldd "$dest/otelshim-exporter.so" |
		grep -q 'not found'; then
		echo "build-bundle: unresolved libraries in $dest" >&2
		exit 1
	fi
	echo "build-bundle: $dest and $dest-examples ready"
	;;
*)
	echo "usage: $0 packages | deps | build [DEST]" >&2
	exit 2
	;;
esac

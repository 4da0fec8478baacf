#!/bin/sh
# startup-text.sh LIB MAP: the code every process start runs (.text.startup
# in the linker's map MAP: STARTUP_CODE and STARTUP_OBJS, see
# common/loader.h) must lie in one 64 KiB window of LIB, the unit the
# kernel maps code in around a fault, and LIB must not carry glibc's
# pthread_atfork stub (libc_nonshared's, placed last: a window of its own).
set -eu
lib=$1 map=$2

lo= hi=
# "  .text.startup  ADDR  SIZE  FILE", the name alone on its line when long.
for piece in $(awk '
	$1 == ".text.startup" && NF >= 3 { print $2 ":" $3; next }
	$1 == ".text.startup" && NF == 1 { want = 1; next }
	want && $1 ~ /^0x/ { print $1 ":" $2 }
	{ want = 0 }' "$map"); do
	a=$((${piece%%:*})) n=$((${piece##*:}))
	[ "$n" -gt 0 ] || continue
	if [ -z "$lo" ] || [ "$a" -lt "$lo" ]; then lo=$a; fi
	if [ -z "$hi" ] || [ $((a + n)) -gt "$hi" ]; then hi=$((a + n)); fi
done
if [ -z "$lo" ]; then
	echo "startup-text: no .text.startup in $map" >&2
	exit 1
fi
printf 'startup-text: %d bytes at %#x\n' $((hi - lo)) "$lo"
if [ $((lo / 65536)) -ne $(((hi - 1) / 65536)) ]; then
	echo "startup-text: the start path's code spans two 64 KiB windows:" \
	     "every process start faults in both" >&2
	exit 1
fi
if nm "$lib" | grep -qw pthread_atfork; then
	echo "startup-text: $lib links pthread_atfork (use loader_atfork)" >&2
	exit 1
fi

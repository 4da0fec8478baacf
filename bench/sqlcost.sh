#!/bin/sh
# Instructions per sql_analyze() call for each statement of bench/sqlcost.c,
# and per sql_shape() call (what a statement found in the exporter's memo
# costs instead), counted by callgrind (exact and repeatable, unlike a
# timing on a shared machine).  Builds the program the way the library's common/ is built.
#
#     bench/sqlcost.sh [NAME...]
set -e
cd "$(dirname "$0")/.."
CC=${CC:-cc}
OUT=build/bench
N=1000
mkdir -p "$OUT"
$CC -O2 -g -std=gnu11 -fPIC -fvisibility=hidden -D_GNU_SOURCE -I. \
	-o "$OUT/sqlcost" bench/sqlcost.c common/sql*.c common/utf8.c
names=${*:-$("$OUT/sqlcost" | cut -d' ' -f1)}

count() {   # count NAME FUNCTION [ARG]: instructions per call of FUNCTION
	local cg="$OUT/sqlcost.$1.$2.callgrind"
	valgrind -q --tool=callgrind --callgrind-out-file="$cg" \
		--toggle-collect="$2" "$OUT/sqlcost" ${3:+"$3"} "$1" $N
	echo $(($(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$cg") / N))
}

printf '%-16s %6s %12s %12s\n' statement bytes instr/call shape/call
for name in $names; do
	bytes=$("$OUT/sqlcost" | awk -v n="$name" '$1 == n { print $2 }')
	printf '%-16s %6s %12s %12s\n' "$name" "$bytes" \
		"$(count "$name" sql_analyze)" "$(count "$name" sql_shape -s)"
done

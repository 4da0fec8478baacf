#!/bin/sh
# Drives the notes service with curl, forever or COUNT rounds: each round
# adds a note, lists them, reads one that exists and one that does not (a
# 404), and tries a port where nothing listens (a failed connect).  Under
# the preloaded shim every curl is a traced client whose traceparent links
# it to the service's server span.
#
# Usage: otelshim-traffic [BASE_URL] [COUNT] [PAUSE_SECONDS]
set -u

base=${1:-http://127.0.0.1:8080}
count=${2:-0}
pause=${3:-2}

i=0
until curl -s -o /dev/null "$base/health"; do
	i=$((i + 1))
	if [ "$i" -ge 60 ]; then
		echo "traffic: $base does not answer" >&2
		exit 1
	fi
	sleep 1
done

round=0
while [ "$count" -eq 0 ] || [ "$round" -lt "$count" ]; do
	round=$((round + 1))
	curl -sS -o /dev/null -X POST --data "note $round" "$base/notes"
	curl -sS -o /dev/null "$base/notes"
	curl -sS -o /dev/null "$base/notes/$round"
	curl -sS -o /dev/null "$base/notes/0"
	curl -sS -o /dev/null --max-time 2 http://127.0.0.1:1/ 2>/dev/null
	sleep "$pause"
done

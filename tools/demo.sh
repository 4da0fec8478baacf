#!/usr/bin/env bash
# make demo: trace the example notes service (C, SQLite) and the curl runs
# that call it, each preloaded with the library, then show the traces.
set -euo pipefail
cd "$(dirname "$0")/.."

build=$PWD/build
work=$(mktemp -d)
spans=$work/spans.jsonl
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'kill $svc 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== starting the notes service on 127.0.0.1:$port under otelshim"
"$build/otelshim" run --service notes --file "$spans" -- \
	"$build/examples/demo_service" "$port" "$work/notes.db" &
svc=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$port/health" && break
	sleep 0.05
done

call() {
	echo "\$ curl $*"
	"$build/otelshim" run --service curl --file "$spans" -- \
		curl -sS -w '  -> %{http_code}\n' "$@"
}
call -X POST --data 'buy milk' "http://127.0.0.1:$port/notes"
call -X POST --data 'call the plumber' "http://127.0.0.1:$port/notes"
call "http://127.0.0.1:$port/notes"
call "http://127.0.0.1:$port/notes/1"
call "http://127.0.0.1:$port/notes/42"

kill -TERM "$svc"
wait "$svc" || true

echo
echo "== the traces (otelshim view $spans)"
"$build/otelshim" view "$spans"
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
	echo "(OTEL_EXPORTER_OTLP_ENDPOINT is set: replaying the spans there)"
	while IFS= read -r line; do
		curl -sS -o /dev/null -w '%{http_code} ' -H 'Content-Type: application/json' \
			--data-binary "$line" "${OTEL_EXPORTER_OTLP_ENDPOINT%/}/v1/traces"
	done < "$spans"
	echo
fi

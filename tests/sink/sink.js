#!/usr/bin/env node
/*
 * The test OTLP/HTTP trace receiver.  It decodes what otelshim sends with the
 * OpenTelemetry JS project's generated protobuf code, not with ours, so an
 * encoding mistake in the exporter cannot hide behind its own decoder, and
 * writes every received span as one JSON line for the integration tests to
 * read.  Fault modes (status codes, Retry-After, delays, hanging, failing the
 * first K requests) let the tests exercise the exporter's retry logic.
 *
 * Usage:
 *   node sink.js --port N --out FILE [--status CODE] [--retry-after S]
 *                [--delay-ms MS] [--hang] [--fail-first K] [--max-bytes N]
 *                [--path P] [--grpc] [--tls-key FILE --tls-cert FILE]
 *
 * --grpc serves OTLP/gRPC instead (TraceService/Export over HTTP/2, with
 * @grpc/grpc-js, which also undoes grpc-encoding: gzip); --status is then
 * a gRPC status code (--fail-first alone fails with UNAVAILABLE),
 * --retry-after S sends a google.rpc.RetryInfo of S seconds with a
 * failure, and --hang, --delay-ms and --fail-first work as for HTTP.
 * --tls-key and --tls-cert serve OTLP/HTTP over HTTPS.
 *
 * With --tls-key and --tls-cert it speaks HTTPS with that key and
 * certificate (PEM).
 * The first line on stdout is "listening <port>" once the socket is bound.
 * FILE gets one JSON line per span of every request answered 200:
 *   trace_id, span_id, parent_span_id ('' for a root; lowercase hex), name,
 *   kind, start/end_time_unix_nano (exact decimal strings), status {code,
 *   message}, flags, trace_state, attributes {key: value}, events, links,
 *   dropped_*_count, resource {key: value}, scope {name, version},
 *   request {path, content_type, content_encoding, user_agent, headers},
 *   request_seq.
 * Attribute values are plain JSON: int64 as a number when exact, else a
 * decimal string; bytes as lowercase hex; arrays and kvlists nested.
 * FILE.requests gets one line per request, whatever it was answered:
 *   seq, method, path, headers, bytes, spans, status_returned (null when
 *   never answered), at_ms (when its headers arrived, ms on a monotonic
 *   clock), and error / hung / client_gone where they apply.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const zlib = require('zlib');
const protobuf = require('protobufjs/minimal');
const root = require(
	'@opentelemetry/otlp-transformer/build/src/generated/root.js');

const pb = root.opentelemetry.proto;
const Request = pb.collector.trace.v1.ExportTraceServiceRequest;
const Response = pb.collector.trace.v1.ExportTraceServiceResponse;

/* google.rpc.Code for the HTTP statuses the fault modes answer with. */
function grpcCode(status) {
	if (status === 400) return 3;   /* INVALID_ARGUMENT */
	if (status === 401) return 16;  /* UNAUTHENTICATED */
	if (status === 403) return 7;   /* PERMISSION_DENIED */
	if (status === 404) return 5;   /* NOT_FOUND */
	if (status === 413) return 8;   /* RESOURCE_EXHAUSTED */
	if (status === 429) return 8;   /* RESOURCE_EXHAUSTED */
	if (status === 502 || status === 503 || status === 504)
		return 14;              /* UNAVAILABLE */
	return 2;                       /* UNKNOWN */
}

/* An error answer's body: google.rpc.Status as protobuf or JSON. */
function rpcStatus(json, status, message) {
	const code = grpcCode(status);
	if (json)
		return Buffer.from(JSON.stringify({ code, message }));
	const w = protobuf.Writer.create();
	w.uint32(8).int32(code);        /* 1: code, varint */
	w.uint32(18).string(message);   /* 2: message, length-delimited */
	return Buffer.from(w.finish());
}

function usage(msg) {
	process.stderr.write('sink: ' + msg + '\n' +
		'usage: sink.js --port N --out FILE [--status CODE] ' +
		'[--retry-after S] [--delay-ms MS] [--hang] ' +
		'[--fail-first K] [--max-bytes N] [--path P] [--grpc] ' +
		'[--tls-key FILE --tls-cert FILE]\n');
	process.exit(2);
}

function parseArgs(argv) {
	const opt = {
		port: null, out: null, status: null, retryAfter: null,
		delayMs: 0, hang: false, failFirst: 0,
		maxBytes: 64 * 1024 * 1024, path: null, grpc: false,
		tlsKey: null, tlsCert: null,
	};
	const texts = {
		'--out': 'out', '--path': 'path', '--retry-after': 'retryAfter',
		'--tls-key': 'tlsKey', '--tls-cert': 'tlsCert',
	};
	const ints = {
		'--port': 'port', '--status': 'status',
		'--delay-ms': 'delayMs', '--fail-first': 'failFirst',
		'--max-bytes': 'maxBytes',
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--hang') {
			opt.hang = true;
		} else if (a === '--grpc') {
			opt.grpc = true;
		} else if (Object.prototype.hasOwnProperty.call(texts, a)) {
			if (i + 1 >= argv.length)
				usage(a + ' needs a value');
			opt[texts[a]] = argv[++i];
		} else if (Object.prototype.hasOwnProperty.call(ints, a)) {
			const v = argv[++i];
			if (v === undefined || !/^\d+$/.test(v))
				usage(a + ' needs a non-negative integer');
			opt[ints[a]] = parseInt(v, 10);
		} else {
			usage('unknown argument ' + a);
		}
	}
	if (opt.port === null || opt.out === null)
		usage('--port and --out are required');
	if (opt.grpc && opt.status !== null && opt.status > 16)
		usage('--status must be a gRPC status code with --grpc');
	if (!opt.grpc && opt.status !== null &&
	    (opt.status < 100 || opt.status > 599))
		usage('--status must be an HTTP status code');
	if ((opt.tlsKey === null) !== (opt.tlsCert === null))
		usage('--tls-key and --tls-cert go together');
	if (opt.failFirst > 0 && opt.status === null)
		opt.status = opt.grpc ? 14 : 503;
	return opt;
}

/* ------------------------------------------------------------ conversion */

function hex(bytes) {
	if (!bytes || bytes.length === 0)
		return '';
	return Buffer.from(bytes).toString('hex');
}

/*
 * A 64-bit value from the decoder (a Long, or a number when it fits) as
 * its exact unsigned decimal string: JSON numbers lose precision past 2^53.
 */
function u64(v) {
	if (v === null || v === undefined)
		return '0';
	if (typeof v === 'number' || typeof v === 'string')
		return protobuf.util.Long.fromValue(v).toUnsigned().toString();
	return protobuf.util.Long.fromBits(v.low, v.high, true).toString();
}

/* A signed int64 as a number when it is exact, else as a decimal string. */
function i64(v) {
	const l = (typeof v === 'object')
		? protobuf.util.Long.fromBits(v.low, v.high, false)
		: protobuf.util.Long.fromValue(v);
	const n = l.toNumber();
	return Number.isSafeInteger(n) ? n : l.toString();
}

/* AnyValue -> plain JS value; bytes become lowercase hex. */
function plain(av) {
	if (!av)
		return null;
	switch (av.value) {
	case 'stringValue': return av.stringValue;
	case 'boolValue': return av.boolValue;
	case 'intValue': return i64(av.intValue);
	case 'doubleValue': return av.doubleValue;
	case 'bytesValue': return hex(av.bytesValue);
	case 'arrayValue':
		return (av.arrayValue.values || []).map(plain);
	case 'kvlistValue':
		return attrs(av.kvlistValue.values);
	default:
		return null;
	}
}

function attrs(kvs) {
	const o = {};
	for (const kv of kvs || [])
		o[kv.key || ''] = plain(kv.value);
	return o;
}

/*
 * Span.flags (field 16, fixed32) is newer than the generated code in the
 * pinned package, whose decoder skips it.  Walk the message with the same
 * library's wire reader to collect it, one entry per span in the order
 * the decoder returns them.
 */
function spanFlags(body) {
	const out = [];
	function fields(r, end, fn) {
		while (r.pos < end) {
			const tag = r.uint32();
			const no = tag >>> 3;
			const wt = tag & 7;
			if (fn(no, wt, r) !== true)
				r.skipType(wt);
		}
	}
	function sub(r, fn) {
		const len = r.uint32();
		const end = r.pos + len;
		fields(r, end, fn);
		r.pos = end;
	}
	const r = protobuf.Reader.create(body);
	fields(r, r.len, (no, wt) => {
		if (no !== 1 || wt !== 2)
			return false;
		sub(r, (no2, wt2) => {
			if (no2 !== 2 || wt2 !== 2)
				return false;
			sub(r, (no3, wt3) => {
				if (no3 !== 2 || wt3 !== 2)
					return false;
				let flags = 0;
				sub(r, (no4, wt4) => {
					if (no4 !== 16 || wt4 !== 5)
						return false;
					flags = r.fixed32();
					return true;
				});
				out.push(flags);
				return true;
			});
			return true;
		});
		return true;
	});
	return out;
}

/*
 * OTLP/JSON differs from the protobuf JSON mapping that the generated
 * fromObject() understands in one way: trace and span ids are hex, not
 * base64.  Turn them into bytes first; every other field (lowerCamelCase
 * names, integer enums, 64-bit integers as strings) it takes as is.
 */
function hexIds(obj, keys) {
	for (const k of keys) {
		const v = obj[k];
		if (typeof v !== 'string')
			continue;
		if (!/^([0-9a-fA-F]{2})*$/.test(v))
			throw new Error('bad hex in ' + k + ': ' + v);
		obj[k] = Buffer.from(v, 'hex');
	}
}

const SPAN_IDS = ['traceId', 'spanId', 'parentSpanId'];
const LINK_IDS = ['traceId', 'spanId'];

function fromJson(text) {
	const obj = JSON.parse(text);
	if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
		throw new Error('JSON body is not an object');
	const flags = [];
	for (const rs of obj.resourceSpans || []) {
		for (const ss of rs.scopeSpans || []) {
			for (const sp of ss.spans || []) {
				hexIds(sp, SPAN_IDS);
				for (const ln of sp.links || [])
					hexIds(ln, LINK_IDS);
				flags.push(Number(sp.flags) >>> 0);
			}
		}
	}
	return { msg: Request.fromObject(obj), flags: flags };
}

function fromProtobuf(body) {
	return { msg: Request.decode(body), flags: spanFlags(body) };
}

/* Span -> the flat record the tests read; see the file comment. */
function spanRecord(sp, flags, ctx) {
	const st = sp.status || {};
	return {
		trace_id: hex(sp.traceId),
		span_id: hex(sp.spanId),
		parent_span_id: hex(sp.parentSpanId),
		name: sp.name || '',
		kind: sp.kind || 0,
		start_time_unix_nano: u64(sp.startTimeUnixNano),
		end_time_unix_nano: u64(sp.endTimeUnixNano),
		status: { code: st.code || 0, message: st.message || '' },
		flags: flags,
		trace_state: sp.traceState || '',
		attributes: attrs(sp.attributes),
		events: (sp.events || []).map((ev) => ({
			name: ev.name || '',
			time_unix_nano: u64(ev.timeUnixNano),
			attributes: attrs(ev.attributes),
		})),
		links: (sp.links || []).map((ln) => ({
			trace_id: hex(ln.traceId),
			span_id: hex(ln.spanId),
			trace_state: ln.traceState || '',
			attributes: attrs(ln.attributes),
		})),
		dropped_attributes_count: sp.droppedAttributesCount || 0,
		dropped_events_count: sp.droppedEventsCount || 0,
		dropped_links_count: sp.droppedLinksCount || 0,
		resource: ctx.resource,
		scope: ctx.scope,
		request: ctx.request,
		request_seq: ctx.seq,
	};
}

/* One decoded request -> the span records written to the spans file. */
function spanRecords(decoded, reqInfo, seq) {
	const out = [];
	for (const rs of decoded.msg.resourceSpans || []) {
		const res = rs.resource ? rs.resource.attributes : [];
		for (const ss of rs.scopeSpans || []) {
			const sc = ss.scope || {};
			const ctx = {
				resource: attrs(res),
				scope: {
					name: sc.name || '',
					version: sc.version || '',
				},
				request: reqInfo,
				seq: seq,
			};
			for (const sp of ss.spans || []) {
				const flags = decoded.flags[out.length] || 0;
				out.push(spanRecord(sp, flags, ctx));
			}
		}
	}
	return out;
}

/* ----------------------------------------------------------------- server */

function mediaType(ct) {
	return (ct || '').split(';')[0].trim().toLowerCase();
}

/* grpc-status-details-bin: a google.rpc.Status whose details hold a
 * google.rpc.RetryInfo of the given seconds. */
function retryInfoStatus(code, message, seconds) {
	const W = protobuf.Writer;
	const duration = W.create().uint32(8).int64(seconds).finish();
	const retryInfo = W.create().uint32(10).bytes(duration).finish();
	const any = W.create()
		.uint32(10).string('type.googleapis.com/google.rpc.RetryInfo')
		.uint32(18).bytes(retryInfo).finish();
	return Buffer.from(W.create().uint32(8).int32(code)
		.uint32(18).string(message).uint32(26).bytes(any).finish());
}

/*
 * OTLP/gRPC: one unary method whose messages are handed over as bytes and
 * decoded like an OTLP/HTTP protobuf body.
 */
function serveGrpc(opt, logRequest, nextSeq) {
	const grpc = require('@grpc/grpc-js');
	const path = '/opentelemetry.proto.collector.trace.v1.TraceService/' +
		'Export';
	const bytes = (b) => b;
	const service = {
		Export: {
			path, requestStream: false, responseStream: false,
			requestSerialize: bytes, requestDeserialize: bytes,
			responseSerialize: bytes, responseDeserialize: bytes,
		},
	};
	function exportCall(call, callback) {
		const mySeq = nextSeq();
		const headers = {};
		for (const [k, v] of Object.entries(call.metadata.getMap()))
			headers[k] = Buffer.isBuffer(v) ? v.toString('hex') : v;
		const info = {
			path, content_type: 'application/grpc',
			content_encoding: headers['grpc-encoding'] || '',
			user_agent: headers['user-agent'] || '', headers,
		};
		const rec = {
			seq: mySeq, method: 'POST', path, headers,
			bytes: call.request.length, spans: 0,
			status_returned: null, at_ms: performance.now(),
		};
		let spans;
		try {
			spans = spanRecords(fromProtobuf(call.request), info,
				mySeq);
		} catch (e) {
			rec.status_returned = 3;
			rec.error = 'undecodable body: ' + e.message;
			logRequest(rec);
			callback({ code: 3, details: rec.error });
			return;
		}
		rec.spans = spans.length;
		if (opt.hang) {
			rec.hung = true;
			logRequest(rec);
			return;
		}
		const failing = opt.status !== null &&
			(opt.failFirst === 0 || mySeq <= opt.failFirst);
		function finish() {
			if (call.cancelled) {
				rec.client_gone = true;
				logRequest(rec);
				return;
			}
			if (failing) {
				const metadata = new grpc.Metadata();
				if (opt.retryAfter !== null)
					metadata.set('grpc-status-details-bin',
						retryInfoStatus(opt.status,
							'sink fault mode',
							parseInt(opt.retryAfter,
								10)));
				rec.status_returned = opt.status;
				logRequest(rec);
				callback({ code: opt.status, metadata,
					   details: 'sink fault mode' });
				return;
			}
			if (spans.length > 0)
				fs.appendFileSync(opt.out, spans.map((sp) =>
					JSON.stringify(sp)).join('\n') + '\n');
			rec.status_returned = 0;
			logRequest(rec);
			callback(null, Buffer.from(Response.encode({}).finish()));
		}
		if (opt.delayMs > 0)
			setTimeout(finish, opt.delayMs);
		else
			finish();
	}
	const server = new grpc.Server({
		'grpc.max_receive_message_length': opt.maxBytes,
	});
	server.addService(service, { Export: exportCall });
	server.bindAsync('127.0.0.1:' + opt.port,
		grpc.ServerCredentials.createInsecure(), (err, port) => {
			if (err) {
				process.stderr.write('sink: ' + err.message + '\n');
				process.exit(1);
			}
			process.stdout.write('listening ' + port + '\n');
		});
	function stop() {
		server.forceShutdown();
		process.exit(0);
	}
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

function main() {
	const opt = parseArgs(process.argv.slice(2));
	const reqFile = opt.out + '.requests';
	let seq = 0;

	/* Create (or keep) both files so readers never race their creation. */
	fs.appendFileSync(opt.out, '');
	fs.appendFileSync(reqFile, '');

	function logRequest(rec) {
		fs.appendFileSync(reqFile, JSON.stringify(rec) + '\n');
	}

	if (opt.grpc)
		return serveGrpc(opt, logRequest, () => ++seq);

	/* body is null when the request was larger than --max-bytes. */
	function handle(req, res, body, size, atMs) {
		const mySeq = ++seq;
		const ctype = mediaType(req.headers['content-type']);
		const cenc = (req.headers['content-encoding'] || '')
			.trim().toLowerCase();
		const info = {
			path: req.url,
			content_type: req.headers['content-type'] || '',
			content_encoding: req.headers['content-encoding'] || '',
			user_agent: req.headers['user-agent'] || '',
			headers: Object.assign({}, req.headers),
		};
		const rec = {
			seq: mySeq, method: req.method, path: req.url,
			headers: info.headers, bytes: size, spans: 0,
			status_returned: null, at_ms: atMs,
		};
		const json = ctype === 'application/json';

		function answer(status, payload, extra) {
			const headers = Object.assign({
				'Content-Type': json ? 'application/json'
					: 'application/x-protobuf',
				'Content-Length': payload.length,
			}, extra || {});
			res.writeHead(status, headers);
			res.end(payload);
		}
		function fail(status, message) {
			const extra = {};
			if (opt.retryAfter !== null)
				extra['Retry-After'] = opt.retryAfter;
			answer(status, rpcStatus(json, status, message), extra);
		}
		function reject(status, why) {
			process.stderr.write('sink: request ' + mySeq + ': ' +
				status + ' ' + why + '\n');
			rec.status_returned = status;
			rec.error = why;
			logRequest(rec);
			answer(status, rpcStatus(json, status, why));
		}

		/* --path: answer like a receiver with one route (Tempo's
		 * answers 404 or a redirect for any other). */
		if (opt.path !== null && req.url !== opt.path)
			return reject(404, 'path ' + req.url);
		if (req.method !== 'POST')
			return reject(405, 'method ' + req.method);
		if (body === null)
			return reject(413, 'body of ' + size + ' bytes');
		if (ctype !== 'application/x-protobuf' && !json)
			return reject(415, 'content type "' + ctype + '"');

		let raw = body;
		if (cenc === 'gzip') {
			try {
				raw = zlib.gunzipSync(body);
			} catch (e) {
				return reject(400, 'bad gzip: ' + e.message);
			}
		} else if (cenc !== '' && cenc !== 'identity') {
			return reject(415, 'content encoding "' + cenc + '"');
		}

		let spans;
		try {
			const decoded = json ? fromJson(raw.toString('utf8'))
				: fromProtobuf(raw);
			spans = spanRecords(decoded, info, mySeq);
		} catch (e) {
			return reject(400, 'undecodable body: ' + e.message);
		}
		rec.spans = spans.length;

		if (opt.hang) {
			/* Keep the connection open and never answer. */
			rec.status_returned = null;
			rec.hung = true;
			logRequest(rec);
			return;
		}

		const failing = opt.status !== null &&
			(opt.failFirst === 0 || mySeq <= opt.failFirst);
		let gone = false;
		res.on('close', () => {
			if (!res.writableFinished)
				gone = true;
		});
		function finish() {
			if (gone) {
				/* The client gave up: it won't count them. */
				rec.client_gone = true;
				logRequest(rec);
				return;
			}
			if (failing) {
				const st = opt.status;
				rec.status_returned = st;
				logRequest(rec);
				fail(st, 'sink fault mode: ' + st);
				return;
			}
			const lines = spans.map((sp) => JSON.stringify(sp));
			if (lines.length > 0) {
				fs.appendFileSync(opt.out,
					lines.join('\n') + '\n');
			}
			rec.status_returned = 200;
			logRequest(rec);
			answer(200, json ? Buffer.from('{}')
				: Buffer.from(Response.encode({}).finish()));
		}
		if (opt.delayMs > 0)
			setTimeout(finish, opt.delayMs);
		else
			finish();
	}

	const onRequest = (req, res) => {
		const atMs = performance.now();
		const chunks = [];
		let size = 0;
		let over = false;
		req.on('data', (c) => {
			size += c.length;
			if (size > opt.maxBytes) {
				over = true;
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => {
			const body = over ? null : Buffer.concat(chunks);
			try {
				handle(req, res, body, size, atMs);
			} catch (e) {
				process.stderr.write('sink: internal error: ' +
					(e.stack || e) + '\n');
				if (!res.headersSent) {
					res.writeHead(500);
					res.end();
				}
			}
		});
		req.on('error', (e) => {
			process.stderr.write('sink: read error: ' + e.message +
				'\n');
		});
	};
	const server = opt.tlsKey === null ? http.createServer(onRequest) :
		https.createServer({ key: fs.readFileSync(opt.tlsKey),
			cert: fs.readFileSync(opt.tlsCert) }, onRequest);
	/* A hung answer must not be cut short by the server's own timers. */
	server.requestTimeout = 0;
	server.keepAliveTimeout = 30000;
	server.on('error', (e) => {
		process.stderr.write('sink: ' + e.message + '\n');
		process.exit(1);
	});
	server.listen(opt.port, '127.0.0.1', () => {
		process.stdout.write('listening ' + server.address().port +
			'\n');
	});

	function stop() {
		server.close();
		server.closeAllConnections();
		process.exit(0);
	}
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main();

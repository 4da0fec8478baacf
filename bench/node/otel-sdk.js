// The peer we compare with: the official OpenTelemetry JS SDK set up the
// way its documentation describes for tracing a node HTTP server — NodeSDK,
// the http instrumentation and the OTLP/HTTP protobuf exporter behind a
// BatchSpanProcessor (default queue and batch sizes).  Loaded with
// `node --require ./otel-sdk.js server.js`; the endpoint comes from
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, as for any OTLP exporter.
//
// Traces only, like otelshim: NodeSDK would otherwise also start OTLP
// metrics and logs exporters (OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER
// default to otlp), which is not what is being compared.
'use strict';

process.env.OTEL_METRICS_EXPORTER = process.env.OTEL_METRICS_EXPORTER || 'none';
process.env.OTEL_LOGS_EXPORTER = process.env.OTEL_LOGS_EXPORTER || 'none';
const { NodeSDK, tracing } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { OTLPTraceExporter } =
  require('@opentelemetry/exporter-trace-otlp-proto');

const sdk = new NodeSDK({
  serviceName: process.env.OTEL_SERVICE_NAME || 'bench-node-otel-sdk',
  spanProcessors: [new tracing.BatchSpanProcessor(new OTLPTraceExporter())],
  instrumentations: [new HttpInstrumentation()],
});
sdk.start();

function stop() {
  sdk.shutdown().finally(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

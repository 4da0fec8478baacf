/*
 * Attribute keys of the OpenTelemetry semantic conventions that otelshim
 * records, spelled once (docs/otel-reference.md §6).  They
 * are string literals on purpose: span records keep the key pointer, and
 * a literal lives as long as the process.
 */
#ifndef OTELSHIM_SEMCONV_H
#define OTELSHIM_SEMCONV_H


/* HTTP (semantic conventions, http spans) */
#define ATTR_HTTP_REQUEST_METHOD                 "http.request.method"
#define ATTR_HTTP_REQUEST_METHOD_ORIGINAL        "http.request.method_original"
#define ATTR_HTTP_RESPONSE_STATUS_CODE           "http.response.status_code"
#define ATTR_URL_FULL                            "url.full"
#define ATTR_URL_PATH                            "url.path"
#define ATTR_URL_QUERY                           "url.query"
#define ATTR_URL_SCHEME                          "url.scheme"
#define ATTR_USER_AGENT_ORIGINAL                 "user_agent.original"

/* Peers and network */
#define ATTR_SERVER_ADDRESS                      "server.address"
#define ATTR_SERVER_PORT                         "server.port"
#define ATTR_CLIENT_ADDRESS                      "client.address"
#define ATTR_NETWORK_PEER_ADDRESS                "network.peer.address"
#define ATTR_NETWORK_PEER_PORT                   "network.peer.port"
#define ATTR_NETWORK_PROTOCOL_VERSION            "network.protocol.version"
#define ATTR_NETWORK_TRANSPORT                   "network.transport"
#define ATTR_NETWORK_TYPE                        "network.type"

/* Databases */
#define ATTR_DB_COLLECTION_NAME                  "db.collection.name"
#define ATTR_DB_NAMESPACE                        "db.namespace"
#define ATTR_DB_OPERATION_NAME                   "db.operation.name"
#define ATTR_DB_QUERY_SUMMARY                    "db.query.summary"
#define ATTR_DB_QUERY_TEXT                       "db.query.text"
#define ATTR_DB_RESPONSE_RETURNED_ROWS           "db.response.returned_rows"
#define ATTR_DB_RESPONSE_STATUS_CODE             "db.response.status_code"
#define ATTR_DB_SYSTEM_NAME                      "db.system.name"

/* Errors and crashes */
#define ATTR_ERROR_TYPE                          "error.type"
#define ATTR_EXCEPTION_MESSAGE                   "exception.message"
#define ATTR_EXCEPTION_STACKTRACE                "exception.stacktrace"
#define ATTR_EXCEPTION_TYPE                      "exception.type"

/* Call sites */
#define ATTR_CODE_FILE_PATH                      "code.file.path"
#define ATTR_CODE_FUNCTION_NAME                  "code.function.name"
#define ATTR_CODE_LINE_NUMBER                    "code.line.number"
#define ATTR_CODE_STACKTRACE                     "code.stacktrace"

/* Resource */
#define ATTR_SERVICE_INSTANCE_ID                 "service.instance.id"
#define ATTR_SERVICE_NAME                        "service.name"
#define ATTR_TELEMETRY_SDK_LANGUAGE              "telemetry.sdk.language"
#define ATTR_TELEMETRY_SDK_NAME                  "telemetry.sdk.name"
#define ATTR_TELEMETRY_SDK_VERSION               "telemetry.sdk.version"
#define ATTR_PROCESS_COMMAND_ARGS                "process.command_args"
#define ATTR_PROCESS_EXECUTABLE_NAME             "process.executable.name"
#define ATTR_PROCESS_EXECUTABLE_PATH             "process.executable.path"
#define ATTR_PROCESS_PID                         "process.pid"
#define ATTR_HOST_ARCH                           "host.arch"
#define ATTR_HOST_NAME                           "host.name"
#define ATTR_OS_TYPE                             "os.type"
#define ATTR_CONTAINER_ID                        "container.id"

#endif

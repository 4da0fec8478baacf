# syntax=docker/dockerfile:1
# Tracing an existing image without rebuilding the application: copy the
# otelshim bundle in and preload it.  The application image must be
# glibc-based (Debian, Ubuntu, RHEL, distroless/base ...) and its program
# dynamically linked; Alpine (musl), static and Go binaries cannot be
# preloaded.
#
#   docker build -f docker/Dockerfile -t otelshim:0.1.0 .
#   docker build -f docker/inject.Dockerfile \
#       --build-arg APP_IMAGE=my-registry/shop:1.4 \
#       --build-arg SERVICE_NAME=shop -t my-registry/shop:1.4-traced docker
#
# Only the three lines after the second FROM matter; paste them into your
# own Dockerfile just as well.

ARG OTELSHIM_IMAGE=otelshim:0.1.0
ARG APP_IMAGE=otelshim-demo-app
FROM ${OTELSHIM_IMAGE} AS otelshim

FROM ${APP_IMAGE}
ARG SERVICE_NAME=app
COPY --from=otelshim /otelshim /otelshim
ENV LD_PRELOAD=/otelshim/libotelshim.so \
    OTEL_SERVICE_NAME=${SERVICE_NAME} \
    OTEL_EXPORTER_OTLP_ENDPOINT=http://tempo:4318

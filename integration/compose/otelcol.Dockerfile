# Stand-in for otel/opentelemetry-collector-contrib:0.155.0, built by
# integration/compose_test.go from the project's own distribution
# (STEADYLOG_OTELCOL_BIN, scripts/build-otelcol.sh: CGO_ENABLED=0, static), since
# no registry is reachable in the test environment. Same layout as the contrib
# image: FROM scratch, binary at /otelcol-contrib, uid/gid 10001, config at
# /etc/otelcol-contrib/config.yaml (mounted by docker-compose.yaml), nothing
# else — no /tmp, no writable directory.
# Build context (a temporary directory): otelcol-contrib.
FROM scratch
COPY otelcol-contrib /otelcol-contrib
USER 10001:10001
ENTRYPOINT ["/otelcol-contrib"]
CMD ["--config", "/etc/otelcol-contrib/config.yaml"]
EXPOSE 4317 4318 8888 8889

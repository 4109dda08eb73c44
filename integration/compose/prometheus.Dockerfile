# Stand-in for prom/prometheus:v2.55.1, built by integration/compose_test.go from
# Debian's prometheus 2.42 binary (STEADYLOG_PROMETHEUS_BIN,
# scripts/install-prometheus.sh), since no registry is reachable in the test
# environment. Same layout as the upstream image: /bin/prometheus, config at
# /etc/prometheus/prometheus.yml (mounted by docker-compose.yaml), data in the
# volume /prometheus owned by nobody (65534), run as nobody, working directory
# /prometheus.
# Build context (a temporary directory): prometheus; rootfs/, the shared
# libraries the binary needs (ldd; empty for a static binary); data/, an empty
# directory.
FROM scratch
COPY rootfs/ /
COPY prometheus /bin/prometheus
COPY --chown=65534:65534 data/ /prometheus/
USER 65534:65534
WORKDIR /prometheus
VOLUME ["/prometheus"]
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
EXPOSE 9090

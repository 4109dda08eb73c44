# Stand-in for the image examples/loadgen/Dockerfile builds (golang:1.26.8-bookworm
# cannot be pulled in the test environment): integration/compose_test.go builds
# loadgen on the host with CGO_ENABLED=0 go build -trimpath ./loadgen in examples/,
# the same command as that Dockerfile, and puts it in FROM scratch, run as
# distroless' nonroot user (65532) as that Dockerfile's final stage does.
# Build context (a temporary directory): loadgen.
FROM scratch
COPY loadgen /loadgen
USER 65532:65532
ENTRYPOINT ["/loadgen"]

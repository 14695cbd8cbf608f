#!/usr/bin/env bash
# Build (once) a llama-cpp-python wheel that runs on any x86-64 CPU, and print its path.
#
# Why not `pip install llama-cpp-python`: PyPI has only the source, and its default build is
# `-march=native` with AMX tile code on (a wheel built on one machine crashes on another, and
# AMX faults on some VMs that advertise it: llama.cpp issue 20824). Here instead:
#   - the core libraries (libllama, libggml, libggml-base) are built without CPU-specific flags;
#   - the CPU backend is built as several loadable variants (upstream's GGML_CPU_ALL_VARIANTS
#     names and flags), of which realtime2 loads the best one this CPU supports at run time
#     (src/realtime2/backends/local/llama_cpu.py); the AMX variant only after a probe in a child
#     process proved AMX usable;
#   - nothing else is compiled (no tools, server, examples, mtmd): the build dominates the first
#     install, and two cores are slow.
# pip's wheel cache keys a built wheel by its source, not by CMAKE_ARGS, so it could hand back
# a native wheel built earlier; this script keeps its own cache, keyed by its own text (which
# holds the version and every flag), and the Makefile installs the file it prints.
set -euo pipefail

VERSION=0.3.36  # keep in step with pyproject.toml's llama-cpp-python pin
# Upstream's x86 variant names (ggml/src/CMakeLists.txt). Each is a full compile of the CPU
# backend (~1 min on 2 cores), so only those that cover today's servers: any x86-64 (x64),
# AVX2 (haswell: every EPYC, Xeons since 2013), AVX-512 (skylakex: Skylake/Cascade Lake),
# AVX-512 VBMI+VNNI (icelake), + BF16 (zen4: EPYC Zen 4/5, Sapphire Rapids and later
# without AMX), and sapphirerapids (+AMX, used only when proven usable).
VARIANTS=(x64 haswell skylakex icelake zen4 sapphirerapids)
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}

here=$(cd "$(dirname "$0")" && pwd)
key=$(sha256sum "$here/llama-wheel.sh" | cut -c1-16)
cache=${REALTIME2_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/realtime2/llama-wheels}/$key
shopt -s nullglob
cached=("$cache"/llama_cpp_python-"$VERSION"-*.whl)
if ((${#cached[@]})); then
    echo "${cached[0]}"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "llama-wheel: $*" >&2; }

if ! command -v cmake >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet cmake >&2  # PyPI's cmake, into the caller's environment
    PATH=$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')"):$PATH
fi
log "building llama-cpp-python $VERSION for any x86-64 CPU (variants: ${VARIANTS[*]}); several minutes on 2 cores"
"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$work" >&2
tar -xzf "$work/llama_cpp_python-$VERSION.tar.gz" -C "$work"
src=$work/llama_cpp_python-$VERSION
common=(
    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF
    -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF
    # plain sonames (libggml.so, not .so.0) so that the files a wheel holds are the ones loaded
    -DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON
    -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON '-DCMAKE_INSTALL_RPATH=$ORIGIN'
)

# 1. The core libraries, with no CPU backend inside (GGML_CPU=OFF): it is loaded at run time.
log "core libraries"
cmake -S "$src/vendor/llama.cpp" -B "$work/core" "${common[@]}" -DGGML_CPU=OFF >&2
cmake --build "$work/core" --target llama -j "$JOBS" >&2

# 2. The CPU backend variants. Building `llama` or `ggml` in this tree would compile all
#    fourteen upstream variants, so only the variant targets are named.
log "CPU backend variants"
cmake -S "$src/vendor/llama.cpp" -B "$work/cpu" "${common[@]}" -DGGML_CPU_ALL_VARIANTS=ON >&2
cmake --build "$work/cpu" -j "$JOBS" --target "${VARIANTS[@]/#/ggml-cpu-}" >&2

# 3. The Python package without native code, then the libraries put into its llama_cpp/lib.
log "wheel"
CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" \
    "$PYTHON" -m pip wheel --quiet --no-deps "$src" -w "$work/dist" >&2
"$PYTHON" -m wheel unpack -d "$work/unpacked" "$work"/dist/*.whl >&2
lib=("$work"/unpacked/*/llama_cpp)
lib=${lib[0]}/lib
mkdir -p "$lib"
cp "$work"/core/bin/libllama.so "$work"/core/bin/libggml.so "$work"/core/bin/libggml-base.so "$lib/"
for variant in "${VARIANTS[@]}"; do
    cp "$work/cpu/bin/libggml-cpu-$variant.so" "$lib/"
done
mkdir -p "$cache"
"$PYTHON" -m wheel pack -d "$cache" "$work"/unpacked/* >&2
cached=("$cache"/llama_cpp_python-"$VERSION"-*.whl)
echo "${cached[0]}"

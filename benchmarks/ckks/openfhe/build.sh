#!/usr/bin/env bash
# Builds OpenFHE's shared libraries and threshold-sum (the baseline `npm run bench:ckks -- --openfhe`
# runs beside veilsum's decryption) from an OpenFHE source tree, into ~/.cache/veilsum/openfhe.
#
#   benchmarks/ckks/openfhe/build.sh <openfhe-development source dir>
#
# The source tree must hold third-party/cereal/include (OpenFHE's git submodule; a copy of
# USCiLab/cereal works). Only the pke library is built, without tests, examples or benchmarks:
# about 15 minutes on two cores. Prints the path of the threshold-sum binary.
set -euo pipefail
src=$(cd "${1:?usage: build.sh <openfhe source dir>}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
[[ -f "$src/third-party/cereal/include/cereal/cereal.hpp" ]] || {
  echo "build.sh: $src/third-party/cereal/include is missing (OpenFHE's cereal submodule)" >&2
  exit 2
}
out=${VEILSUM_OPENFHE_DIR:-$HOME/.cache/veilsum/openfhe}
mkdir -p "$out/build"
cmake -S "$src" -B "$out/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_UNITTESTS=OFF -DBUILD_EXAMPLES=OFF \
  -DBUILD_BENCHMARKS=OFF -DGIT_SUBMOD_AUTO=OFF -DBUILD_STATIC=OFF -DBUILD_SHARED=ON >"$out/cmake.log"
cmake --build "$out/build" --target OPENFHEpke -j "$(nproc)" >"$out/make.log"
version=$(sed -n 's/^set(OPENFHE_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)).*/\2/p' "$src/CMakeLists.txt" | paste -sd.)
includes=()
for dir in src/pke/include src/core/include src/binfhe/include third-party/cereal/include; do
  includes+=("-I$src/$dir")
done
for dir in src/core src/pke src/binfhe; do includes+=("-I$out/build/$dir"); done
g++ -O2 -std=c++17 -fopenmp -DOPENFHE_BENCH_VERSION="\"$version\"" "${includes[@]}" \
  "$here/threshold-sum.cpp" -o "$out/threshold-sum" -L"$out/build/lib" \
  -lOPENFHEpke -lOPENFHEcore -lOPENFHEbinfhe -Wl,-rpath,"$out/build/lib" 2>"$out/compile.log"
echo "$out/threshold-sum"

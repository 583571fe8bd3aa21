#!/bin/sh
# Build and run the distance-kernel microbenchmark (bench/kernels.c).
# distance.c is compiled exactly as the extension compiles it in spirit:
# -O2, no -march=native, so the runtime dispatch picks the variant.
#   usage: bench/kernels.sh            (CC=clang bench/kernels.sh works too)
set -eu
cd "$(dirname "$0")"
mkdir -p out
${CC:-cc} -O2 -fwrapv -fno-strict-aliasing -Wall -Wextra -Werror -I../src \
	-o out/kernels kernels.c ../src/distance.c -lm
exec ./out/kernels

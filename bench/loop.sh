#!/usr/bin/env bash
# The event loop at 10,000 and 50,000 timers and fds (bench/loop.c): core/loop.c against the
# list-based loop it replaced (bench/naive_loop.c), operations per second of CPU and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target bench_loop -j 2 >/dev/null
build/bench_loop

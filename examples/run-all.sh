#!/usr/bin/env bash
# Run every example built in BUILD (default: build), in order.
set -euo pipefail
build=${1:-build}
for name in fibonacci_blocking synchronous pause errbacks deferred_list call_later fibonacci_reactor; do
    echo "== $name =="
    "$build/examples/$name"
    echo
done

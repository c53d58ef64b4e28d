#!/usr/bin/env bash
# Run every example built in BUILD (default: build), in order, with a header
# for each, then the Python ones (examples/ffi, through ctypes on BUILD's
# library).  Stops at, and exits non-zero for, the first example that fails.
#   examples/run-all.sh build
set -uo pipefail
build=${1:-build}
examples=(fibonacci_blocking synchronous pause errbacks deferred_list call_later fibonacci_reactor
          inline_callbacks poetry_transform job_scheduler)

if [ ! -d "$build/examples" ]; then
    echo "run-all.sh: no $build/examples (configure with -Dexamples=true and build first)" >&2
    exit 2
fi
for name in "${examples[@]}"; do
    echo "== $name =="
    if ! "$build/examples/$name"; then
        echo "run-all.sh: example '$name' failed" >&2
        exit 1
    fi
    echo
done
# No binding: Python calls the library through ctypes.
python_examples=(ffi/fibonacci.py)
for name in "${python_examples[@]}"; do
    echo "== $name =="
    if ! DFR_LIBPATH="$build/src/libdeferred.so.0" /usr/bin/python3 "$(dirname "$0")/$name"; then
        echo "run-all.sh: example '$name' failed" >&2
        exit 1
    fi
    echo
done
echo "== the poetry system (examples/poetry) =="
if ! bash "$(dirname "$0")/poetry/run-system.sh" "$build/examples/poetry" "$(dirname "$0")/poetry"; then
    echo "run-all.sh: the poetry system failed" >&2
    exit 1
fi
echo
echo "all $((${#examples[@]} + ${#python_examples[@]})) examples and the poetry system passed"

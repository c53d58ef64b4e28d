#!/bin/sh
# Compile each public header alone, pedantic and warning-free, as C11 and as C++17.
set -eu
inc=$1 cc=$2 cxx=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Every public header, found by globbing (a new header is checked without a list to edit).
for path in "$inc"/deferred.h "$inc"/deferred/*.h; do
    h=${path#"$inc"/}
    printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' "$h" "$h" > "$tmp/t.c"
    "$cc" -std=c11 -Wall -Wextra -pedantic -Werror -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o"
    cp "$tmp/t.c" "$tmp/t.cpp"
    "$cxx" -std=c++17 -Wall -Wextra -pedantic -Werror -I"$inc" -c "$tmp/t.cpp" -o "$tmp/t.o"
    echo "ok $h"
done

#!/usr/bin/env bash
# Run the seed's poetry system on loopback, ephemeral ports:
#   a transform server, two poetry servers (one slow), client 7.0;
#   then again with one poetry server stopped, and with the transform
#   server stopped, to show each error path.
#     examples/poetry/run-system.sh BIN_DIR [POEM_DIR]
# Servers print their port on their first line; we read it from there.
set -uo pipefail
bin=${1:?usage: run-system.sh BIN_DIR [POEM_DIR]}
poems=${2:-$(dirname "$0")}
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME CMD...: run a server in the background, print its port.
start() {
    local name=$1
    shift
    "$@" >"$tmp/$name.out" 2>&1 &
    pids+=($!)
    eval "${name}_pid=$!"
    for _ in $(seq 600); do  # up to 30 s: CI machines can be slow
        local port
        port=$(grep -o 'port [0-9]*' "$tmp/$name.out" 2>/dev/null | head -1 | cut -d' ' -f2)
        if [ -n "$port" ]; then
            eval "${name}_port=$port"
            return 0
        fi
        sleep 0.05
    done
    echo "run-system.sh: $name did not start:" >&2
    cat "$tmp/$name.out" >&2
    exit 1
}

# client TITLE EXPECTED_STDERR_LINES...: run client 7.0, show its output,
# check its exit code and the error messages expected.
client() {
    local title=$1
    shift
    echo "-- $title"
    echo "\$ poetry-client ${client_ports[*]}"
    "$bin/poetry-client" "${client_ports[@]}" >"$tmp/client.out" 2>"$tmp/client.err"
    local rc=$?
    cat "$tmp/client.out"
    sed 's/^/[stderr] /' "$tmp/client.err"
    if [ $rc -ne 0 ]; then
        echo "run-system.sh: poetry-client exited with $rc" >&2
        exit 1
    fi
    for want in "$@"; do
        if ! grep -q "$want" "$tmp/client.err" "$tmp/client.out"; then
            echo "run-system.sh: expected '$want' in the client's output" >&2
            exit 1
        fi
    done
    echo
}

start xform "$bin/transform-server" --port 0
start fascination "$bin/poetry-server" --port 0 --num-bytes 40 --delay 0.02 \
    "$poems/fascination.txt"
start science "$bin/poetry-server" --port 0 "$poems/science.txt"
echo "transform server on $xform_port; poetry servers on $fascination_port (slow), $science_port"
echo

# The wire formats are the seed's: Twisted's own protocols talk to our servers.
if /usr/bin/python3 -c 'import twisted' 2>/dev/null; then
    echo "-- Twisted's protocols against our servers"
    out=$(/usr/bin/python3 "$(dirname "$0")/twisted_peer.py" "$xform_port" "$science_port" 2>&1)
    echo "$out"
    grep -q "got: hello from twisted" <<<"$out" && grep -q "first line: Field Notes" <<<"$out" ||
        { echo "run-system.sh: Twisted could not talk to our servers" >&2; exit 1; }
    echo

    # And the other way: our client 7.0 against Twisted's transform server
    # and a slow Twisted poetry server (with one of ours beside it).
    twisted=$(dirname "$0")/twisted_servers.py
    start txform /usr/bin/python3 "$twisted" xform
    start tpoetry /usr/bin/python3 "$twisted" poetry "$poems/fascination.txt" 40 0.02
    client_ports=("$txform_port" "$tpoetry_port" "$science_port")
    client "our client, Twisted's transform and poetry servers" "i kept a lantern" "i measured the puddle"
    grep -q "The poem download failed\|Cummingsify failed" "$tmp/client.err" &&
        { echo "run-system.sh: unexpected failure against Twisted's servers" >&2; exit 1; }
    kill "$txform_pid" "$tpoetry_pid"; wait "$txform_pid" "$tpoetry_pid" 2>/dev/null
fi

client_ports=("$xform_port" "$fascination_port" "$science_port")
client "all servers up: both poems, cummingsified" "i kept a lantern" "i measured the puddle"
grep -q "The poem download failed\|Cummingsify failed" "$tmp/client.err" &&
    { echo "run-system.sh: unexpected failure" >&2; exit 1; }

kill "$science_pid"; wait "$science_pid" 2>/dev/null
client "the science server stopped: its download fails" \
    "The poem download failed: connection refused" "i kept a lantern"

kill "$xform_pid"; wait "$xform_pid" 2>/dev/null
client "the transform server stopped too: the original poem is kept" \
    "Cummingsify failed!" "I KEPT A LANTERN" "The poem download failed"
echo "poetry system: all three runs as expected"

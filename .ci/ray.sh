# A Ray cluster on loopback for the Ray tests (tests/sweeps/test_ray.py); stopped at exit.
#
# Sourced by .ci/run after .ci/services.sh (`bash .ci/ray.sh start|stop` by hand: see the end).
# Exports RAY_ADDRESS (so `hydra.launcher.ray.init.address=auto` finds this cluster, as on a
# head node after `ray start --head`), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, RAY_AUTH_MODE and
# RAY_AUTH_TOKEN_PATH, and TRAINER_TEST_RAY_ADDRESS, the cluster the tests use (without it they
# start their own through this script).
#
# - Loopback only. On Linux, Ray listens on all interfaces and rewrites 127.0.0.1 into the
#   host's outward address, unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: then every Ray service
#   listens on 127.0.0.1 only. The sweep command (the Ray driver) needs the variable too, or
#   ray.init tries the outward address: it is exported.
# - One node with 2 CPUs, not a head and a second node of 1 CPU each: with that variable,
#   `ray start --address=...` refuses a second node ("Multi-node Ray clusters are not supported
#   on Windows and OSX"), and without it both nodes would listen on every interface. A second
#   node on loopback needs a private function of Ray (its node-IP lookup pinned); ours would
#   run the same processes. The tests count the Ray worker processes that ran trials.
# - `ray start --block`, in the background: its PID is the node's; SIGTERM to it stops every
#   process of the node (about 3 s). Its own --temp-dir and ports keep it apart from any other
#   Ray on the machine (`ray stop` would stop those too).
# - Token authentication with a token of its own (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN_PATH in
#   its temp dir, both exported): left to itself, Ray turns it on when ~/.ray/auth_token exists
#   (a `ray.init()` that starts a local cluster writes one) and clients that do not know it
#   are refused.

_RAY_DIR=
_RAY_PID=

_ray_log() { echo "ray: $*" >&2; }
# Ray's CLI of the Python on PATH (the one the tests and the sweep commands run on); an array,
# not a function, so that `&` starts it as a process of its own whose PID is $!
_RAY_CLI=(python -m ray.scripts.scripts)

_ray_free_port() {
    python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ray_stop() {  # stops the node this script started, by its PID (safe under set -e)
    if [ -n "$_RAY_PID" ] && kill -0 "$_RAY_PID" 2>/dev/null; then
        kill "$_RAY_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$_RAY_PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$_RAY_PID" 2>/dev/null || true
        wait "$_RAY_PID" 2>/dev/null || true
    fi
    _RAY_PID=
    if [ -n "$_RAY_DIR" ]; then rm -rf "$_RAY_DIR" || true; fi
    _RAY_DIR=
}

ray_start() {  # 0: running; 2: Ray is not installed; 1: it did not start
    if ! python -c 'import ray' >/dev/null 2>&1; then
        _ray_log "not installed (pip install -e \".[ray]\")"
        return 2
    fi
    _RAY_DIR=$(mktemp -d /tmp/trainer-ci-ray.XXXXXX)
    local port client_port agent_port status
    port=$(_ray_free_port); client_port=$(_ray_free_port); agent_port=$(_ray_free_port)
    export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=token
    export RAY_AUTH_TOKEN_PATH="$_RAY_DIR/auth_token"
    (umask 077 && python -c 'import secrets; print(secrets.token_hex(32))' >"$RAY_AUTH_TOKEN_PATH")
    "${_RAY_CLI[@]}" start --head --block --node-ip-address=127.0.0.1 --port="$port" --num-cpus=2 \
        --ray-client-server-port="$client_port" --dashboard-agent-listen-port="$agent_port" \
        --include-dashboard=false --disable-usage-stats --temp-dir="$_RAY_DIR" \
        >"$_RAY_DIR/ray-start.log" 2>&1 </dev/null &
    _RAY_PID=$!
    # ready when the raylet has registered its CPUs (about 10-15 s on 2 busy cores)
    local deadline=$((SECONDS + 120))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! kill -0 "$_RAY_PID" 2>/dev/null; then
            _ray_log "ray start exited:"; tail -20 "$_RAY_DIR/ray-start.log" >&2; return 1
        fi
        # (read whole, then searched: under pipefail, `| grep -q` may fail a pipeline it matched)
        status=$("${_RAY_CLI[@]}" status --address="127.0.0.1:$port" 2>/dev/null || true)
        if grep -q "/2.0 CPU" <<<"$status"; then
            export RAY_ADDRESS="127.0.0.1:$port" TRAINER_TEST_RAY_ADDRESS="127.0.0.1:$port"
            _ray_log "a node with 2 CPUs on $RAY_ADDRESS (pid $_RAY_PID)"
            return 0
        fi
        sleep 1
    done
    _ray_log "the node did not register its CPUs within 2 minutes:"
    tail -20 "$_RAY_DIR/ray-start.log" >&2
    return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # executed: start in the foreground, stop on Ctrl-C
    set -uo pipefail
    ray_start || exit $?
    echo "export RAY_ADDRESS=$RAY_ADDRESS RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0" \
        "RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$RAY_AUTH_TOKEN_PATH   # Ctrl-C stops the node"
    trap 'ray_stop; exit 0' INT TERM
    wait "$_RAY_PID"
    exit $?
fi

# Sourced: start now, stop when the shell exits (before what an earlier EXIT trap runs).
if ray_start; then
    _RAY_EARLIER_EXIT=$(trap -p EXIT)
    _ray_on_exit() {
        ray_stop
        if [ -n "$_RAY_EARLIER_EXIT" ]; then  # `trap -- 'COMMANDS' EXIT`, quoted by bash
            eval "set -- $_RAY_EARLIER_EXIT"
            eval "$3"
        fi
    }
    trap _ray_on_exit EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
else
    _ray_status=$?
    ray_stop
    if [ "$_ray_status" = 2 ] && [ "${TRAINER_TEST_CLUSTER:-}" != required ]; then
        _ray_log "the Ray tests will skip"
    else
        _ray_log "no Ray cluster (TRAINER_TEST_CLUSTER=${TRAINER_TEST_CLUSTER:-})"
        return 1 2>/dev/null || exit 1
    fi
fi

#!/usr/bin/env bash
# `sam local invoke` against Gazette's local stack.
#
#   infra/sam-local.sh FUNCTION EVENT [SAM OPTION...]  sam build (reused while up to date), then
#                                  sam local invoke FUNCTION -e EVENT --env-vars <generated> --skip-pull-image
#   infra/sam-local.sh up          only prepare: engine, stand-in image, stack (what invoke does first)
#   infra/sam-local.sh build       only sam build (into $GAZETTE_SAM_DIR/build)
#   infra/sam-local.sh exec CMD... run CMD where sam runs (inside the namespace without Docker)
#   infra/sam-local.sh status      what runs
#   infra/sam-local.sh stop        stop what up started: the stack, dockerd, the namespace
#
# With a Docker engine (a laptop) it uses it and the stack of `make stack-up`.
# Without one (CI), as root, it starts its own: dockerd inside a network namespace
# with only loopback and Docker's bridge (no link to the host's network), a stand-in
# base image built from busybox (nothing can be pulled), and a stack of its own inside
# that namespace; it stays up between invokes until `infra/sam-local.sh stop`.
#
# Variables: GAZETTE_SAM_ENGINE auto|docker|netns (auto), GAZETTE_SAM_BUILD
# auto|reuse|always (auto: rebuild when a source is newer), GAZETTE_SAM_DIR (out/sam-local),
# GAZETTE_SAM_NETNS (gazette-sam), GAZETTE_SAM_DOCKER_ROOT, GAZETTE_SAM_PURGE=1 (stop
# also deletes the images), GAZETTE_SAM_ENDPOINT_HOST (Docker engine: the address
# containers reach the stack at, default host.docker.internal).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/infra/sam-local.sh"
STACK_SH="$ROOT/infra/stack.sh"
TOOLS="${GAZETTE_TOOLS:-$HOME/.cache/gazette-tools}"
SAM="$TOOLS/venv/bin/sam"
PY="$TOOLS/venv/bin/python"

# auto: a reachable Docker engine if there is one, else netns. docker | netns force one.
ENGINE="${GAZETTE_SAM_ENGINE:-auto}"
# auto: sam build again when a source is newer than the build; reuse: never rebuild
# an existing build; always: rebuild each time.
BUILD_MODE="${GAZETTE_SAM_BUILD:-auto}"
# Build output, generated env-vars file and (netns) the namespace's own stack.
STATE="${GAZETTE_SAM_DIR:-$ROOT/out/sam-local}"
BUILD="$STATE/build"
NS="${GAZETTE_SAM_NETNS:-gazette-sam}"
# Short and private: containerd's sockets live under the exec root (108-byte limit).
RUN_DIR="/run/gazette-sam/$NS"
DOCKER_SOCK="$RUN_DIR/docker.sock"
# Images and layers; kept across stop (the stand-in image is cheap, SAM's rapid image too).
DOCKER_ROOT="${GAZETTE_SAM_DOCKER_ROOT:-$TOOLS/sam-docker/$NS}"
MOTO_PORT="${GAZETTE_MOTO_PORT:-5000}"
SES_PORT="${GAZETTE_SES_PORT:-8005}"
# Nothing listens on port 9 (discard) here or in the namespace: SAM's STS call fails at once.
STS_CLOSED_PORT="${GAZETTE_SAM_STS_PORT:-9}"

# The template's functions are x86_64 (Globals.Function.Architectures).
ARCH=x86_64
BASE_IMAGE="public.ecr.aws/lambda/provided:al2023-$ARCH"
STANDIN_LABEL="dev.gazette.sam-local.stand-in"

say() { printf 'sam-local: %s\n' "$*" >&2; }
die() { printf 'sam-local: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- environment

# sam_env exports what SAM itself needs: no telemetry, no version check, dummy
# credentials, no instance metadata, and STS on a closed local port (SAM asks STS
# on every local invoke). Nothing reaches AWS.
sam_env() {
    export SAM_CLI_TELEMETRY=0
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    export AWS_ENDPOINT_URL_STS="http://127.0.0.1:$STS_CLOSED_PORT" AWS_MAX_ATTEMPTS=1
    unset AWS_PROFILE AWS_DEFAULT_PROFILE
    # A version check younger than a day is not repeated (samcli/lib/utils/version_checker.py).
    mkdir -p "$HOME/.aws-sam"
    "$PY" - "$HOME/.aws-sam/metadata.json" <<'EOF'
import json, sys, time
path = sys.argv[1]
try:
    with open(path) as f:
        meta = json.load(f)
except (OSError, ValueError):
    meta = {}
meta["lastVersionCheck"] = time.time()
meta["telemetryEnabled"] = False
with open(path, "w") as f:
    json.dump(meta, f, indent=4)
EOF
}

need_tools() {
    [[ -x "$SAM" ]] || "$STACK_SH" install
    [[ -x "$SAM" ]] || die "no sam at $SAM after infra/stack.sh install"
}

# ---------------------------------------------------------------- engine choice

docker_engine_up() { docker info >/dev/null 2>&1; }

# in_ns is true when this process already runs inside the namespace.
in_ns() { [[ "$(ip netns identify $$ 2>/dev/null)" == "$NS" ]]; }

mode() {
    if in_ns; then
        echo netns
        return
    fi
    case "$ENGINE" in
        docker | netns) echo "$ENGINE" ;;
        *)
            # Our own dockerd from an earlier up is not "a Docker engine": keep using the namespace.
            if [[ "${DOCKER_HOST:-}" != "unix://$DOCKER_SOCK" ]] && docker_engine_up; then
                echo docker
            else
                echo netns
            fi
            ;;
    esac
}

# ---------------------------------------------------------------- netns: packages

ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    # The stand-in image needs a static busybox, not just any.
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || missing+=(busybox-static)
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null 2>&1 || die "no Docker engine, and ${missing[*]} cannot be installed without apt-get: start Docker, or install them"
    say "installing Debian packages: ${missing[*]}"
    # The package would start the system's dockerd (and its bridge) in the host's
    # namespace: policy-rc.d keeps every service down while it installs.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 || rc=$?
    if ((rc != 0)); then
        say "apt-get install failed; running apt-get update once and retrying"
        rc=0
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; } || rc=$?
    fi
    ((made_policy)) && rm -f "$policy"
    command -v dockerd >/dev/null 2>&1 && [[ -x /bin/busybox ]] \
        || die "could not install ${missing[*]} (apt-get exit $rc): without them no Docker engine can start here"
}

# ---------------------------------------------------------------- netns: namespace and dockerd

ns_run() { nsenter --net="/run/netns/$NS" -- "$@"; }

ensure_netns() {
    if ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS"; then
        ip netns add "$NS" || die "cannot create network namespace $NS (needs root and CONFIG_NET_NS)"
        say "created network namespace $NS"
    fi
    ip -n "$NS" link set lo up
    # Loopback, Docker's bridge and its veths only: nothing that leads out of the machine.
    local stray
    stray="$(ip -n "$NS" -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -Ev '^(lo|docker0|veth.*)$' || true)"
    [[ -z "$stray" ]] || die "namespace $NS has interfaces other than loopback and Docker's bridge: $stray"
}

dockerd_pid() {
    local pid
    [[ -f "$RUN_DIR/dockerd.pid" ]] || return 1
    pid="$(cat "$RUN_DIR/dockerd.pid")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

ensure_dockerd() {
    export DOCKER_HOST="unix://$DOCKER_SOCK"
    if dockerd_pid >/dev/null && docker_engine_up; then
        return 0
    fi
    mkdir -p "$RUN_DIR" "$DOCKER_ROOT" "$STATE"
    local had_host_bridge=0 log="$STATE/dockerd.log"
    ip link show docker0 >/dev/null 2>&1 && had_host_bridge=1
    say "starting dockerd in namespace $NS (socket $DOCKER_SOCK, data $DOCKER_ROOT, log $log)"
    # nsenter, not `ip netns exec`: that one also remounts /sys, which hides the
    # cgroup mounts dockerd needs ("Devices cgroup isn't mounted").
    setsid nsenter --net="/run/netns/$NS" -- dockerd \
        --host "unix://$DOCKER_SOCK" \
        --data-root "$DOCKER_ROOT" \
        --exec-root "$RUN_DIR/exec" \
        --pidfile "$RUN_DIR/dockerd.pid" \
        --containerd-namespace "$NS" \
        --containerd-plugins-namespace "$NS-plugins" \
        --log-level warn \
        >>"$log" 2>&1 </dev/null &
    local launcher=$! i
    for ((i = 0; i < 300; i++)); do
        docker_engine_up && break
        if ! kill -0 "$launcher" 2>/dev/null; then
            tail -n 15 "$log" >&2 || true
            die "dockerd could not start in network namespace $NS (it needs root, overlayfs, cgroups and iptables; log $log). Without a Docker engine sam local invoke cannot run here."
        fi
        sleep 0.2
    done
    docker_engine_up || {
        tail -n 15 "$log" >&2 || true
        die "dockerd did not answer on $DOCKER_SOCK within 60 s (log $log)"
    }
    if ((!had_host_bridge)) && ip link show docker0 >/dev/null 2>&1; then
        die "a docker0 bridge appeared in the host's namespace: refusing to go on"
    fi
    say "dockerd up (pid $(dockerd_pid)), bridge $(gateway) inside $NS only"
}

# gateway is Docker's bridge address in the namespace: where containers reach the emulators.
gateway() {
    local gw
    gw="$(ns_run ip -4 -o addr show dev docker0 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')"
    [[ -n "$gw" ]] || die "no docker0 address in namespace $NS"
    echo "$gw"
}

# ensure_image builds the stand-in for SAM's base image: busybox, static, FROM scratch.
# SAM builds its own image on top (samcli/local/docker/lambda_image.py):
#   FROM public.ecr.aws/lambda/provided:al2023-x86_64
#   ADD aws-lambda-rie-x86_64 /var/rapid/
#   RUN mv /var/rapid/aws-lambda-rie-x86_64 /var/rapid/aws-lambda-rie && chmod +x /var/rapid/aws-lambda-rie
# (the RIE is the one shipped in the aws-sam-cli package, samcli/local/rapid/), and
# runs it with entrypoint /var/rapid/aws-lambda-rie, which starts /var/task/bootstrap:
# our static Go binary, mounted from the build directory. A shell, mv, chmod and cp
# are all the image must bring.
ensure_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    [[ "$(uname -m)" == "x86_64" ]] || die "the functions are $ARCH and this machine is $(uname -m): no stand-in image"
    local rootfs
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs"/{bin,etc,tmp,opt,var/task,var/runtime,var/rapid}
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    local app
    for app in sh mv chmod cp rm ls cat mkdir ln env; do
        ln -s busybox "$rootfs/bin/$app"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
    echo 'root:x:0:' >"$rootfs/etc/group"
    tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -c . | docker import \
        --change "LABEL $STANDIN_LABEL=busybox" \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin LANG=en_US.UTF-8 TZ=:/etc/localtime LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime' \
        --change 'WORKDIR /var/task' \
        - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    say "built stand-in image $BASE_IMAGE (busybox, no pull)"
}

# ---------------------------------------------------------------- stack

ns_stack_dir() { echo "$STATE/stack"; }

# ns_stack CMD runs infra/stack.sh CMD inside the namespace, for the namespace's own
# stack: its own state directory, and emulators bound to the namespace's 0.0.0.0.
ns_stack() {
    ns_run env GAZETTE_STACK_DIR="$(ns_stack_dir)" GAZETTE_BIND_HOST=0.0.0.0 \
        GAZETTE_MOTO_PORT="$MOTO_PORT" GAZETTE_SES_PORT="$SES_PORT" "$STACK_SH" "$@"
}

# ensure_ns_stack starts a stack of its own inside the namespace. Its emulators
# listen on 0.0.0.0 of the namespace, i.e. on 127.0.0.1 and Docker's bridge
# address only: no other interface exists there.
ensure_ns_stack() {
    local gw
    gw="$(gateway)"
    if [[ -f "$(ns_stack_dir)/stack.json" ]] \
        && ns_run curl -s -o /dev/null --max-time 2 "http://$gw:$MOTO_PORT/moto-api/" \
        && ns_run curl -s -o /dev/null --max-time 2 "http://$gw:$SES_PORT/health-check"; then
        return 0
    fi
    say "starting the local stack inside $NS (state $(ns_stack_dir))"
    ns_stack up >&2 || {
        ns_stack down >&2 || true
        die "the local stack did not start inside $NS (logs in $(ns_stack_dir))"
    }
    ns_run curl -s -o /dev/null --max-time 2 "http://$gw:$MOTO_PORT/moto-api/" \
        || die "moto does not answer on Docker's bridge ($gw:$MOTO_PORT) inside $NS: infra/stack.sh must honour GAZETTE_BIND_HOST"
    ns_run curl -s -o /dev/null --max-time 2 "http://$gw:$SES_PORT/health-check" \
        || die "the SES emulator does not answer on Docker's bridge ($gw:$SES_PORT) inside $NS: infra/stack.sh must honour GAZETTE_BIND_HOST"
}

# ensure_host_stack: with Docker, the stack of `make stack-up` (started if it is not up).
HOST_STACK_DIR="${GAZETTE_STACK_DIR:-$ROOT/out/stack}"
ensure_host_stack() {
    if [[ -f "$HOST_STACK_DIR/stack.json" ]] \
        && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$MOTO_PORT/moto-api/"; then
        return 0
    fi
    say "the local stack is not up: infra/stack.sh up"
    "$STACK_SH" up >&2
}

# warn_loopback_only: on Linux, containers on Docker's bridge cannot reach a stack
# that listens on 127.0.0.1 only (Docker Desktop forwards host.docker.internal to
# the host's loopback; a plain Linux engine does not).
warn_loopback_only() {
    [[ "$(uname -s)" == Linux && -z "${GAZETTE_SAM_ENDPOINT_HOST:-}" ]] || return 0
    command -v ss >/dev/null 2>&1 || return 0
    if ss -ltnH "sport = :$MOTO_PORT" 2>/dev/null | awk '{print $4}' | grep -q '^127\.0\.0\.1:'; then
        say "warning: moto listens on 127.0.0.1 only, which the function's container cannot reach through Docker's bridge."
        say "  Either restart the stack on all addresses (make stack-down; GAZETTE_BIND_HOST=0.0.0.0 make stack-up: mind your firewall),"
        say "  or keep everything private: sudo GAZETTE_SAM_ENGINE=netns infra/sam-local.sh FUNCTION EVENT"
    fi
}

# ---------------------------------------------------------------- build and invoke

build_stale() {
    [[ -f "$BUILD/template.yaml" ]] || return 0
    case "$BUILD_MODE" in
        reuse) return 1 ;;
        always) return 0 ;;
    esac
    [[ -n "$(find "$ROOT/template.yaml" "$ROOT/Makefile" "$ROOT/go.mod" "$ROOT/go.sum" \
        "$ROOT/functions" "$ROOT/internal" "$ROOT/templates" \
        -newer "$BUILD/template.yaml" -type f -print -quit 2>/dev/null)" ]]
}

cmd_build() {
    need_tools
    sam_env
    if [[ "${1:-}" != "--force" ]] && ! build_stale; then
        say "reusing sam build in $BUILD (up to date)"
        return 0
    fi
    say "sam build --build-in-source --build-dir $BUILD"
    mkdir -p "$STATE"
    # The build must never see a half-written template: build aside, then swap.
    rm -rf "$BUILD.new"
    (cd "$ROOT" && "$SAM" build --build-in-source --build-dir "$BUILD.new" --region us-east-1 >&2)
    rm -rf "$BUILD"
    mv "$BUILD.new" "$BUILD"
}

# invoke runs where SAM must run: inside the namespace (netns) or here (docker).
invoke() {
    local fn="$1" event="$2" endpoint_host="$3" stack_json="$4"
    shift 4
    [[ -f "$stack_json" ]] || die "no $stack_json: the stack was not provisioned"
    "$PY" "$ROOT/infra/samlocal/prepare.py" --stack "$stack_json" --template "$BUILD/template.yaml" \
        --out-template "$BUILD/template.samlocal.yaml" --env-vars "$STATE/env-vars.json" \
        --endpoint-host "$endpoint_host"
    sam_env
    say "sam local invoke $fn -e $event (endpoints http://$endpoint_host:$MOTO_PORT, http://$endpoint_host:$SES_PORT)"
    (cd "$ROOT" && exec "$SAM" local invoke "$fn" \
        --template "$BUILD/template.samlocal.yaml" \
        --event "$event" \
        --env-vars "$STATE/env-vars.json" \
        --skip-pull-image \
        --no-memory-limit \
        --region us-east-1 \
        "$@")
}

check_function() {
    local fn="$1" event="$2"
    grep -Eq "^  $fn:$" "$ROOT/template.yaml" || die "no function $fn in template.yaml ($(grep -Eo '^  [A-Za-z]+Function:' "$ROOT/template.yaml" | tr -d ' :' | tr '\n' ' '))"
    [[ -f "$event" ]] || die "no event file $event"
}

cmd_invoke() {
    [[ $# -ge 2 ]] || usage
    local fn="$1" event
    event="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")" || die "no event file $2"
    shift 2
    check_function "$fn" "$event"
    case "$(mode)" in
        docker)
            need_tools
            ensure_host_stack
            warn_loopback_only
            cmd_build
            # Docker Desktop resolves host.docker.internal to the host itself; on Linux
            # host-gateway is docker0's address, where the stack must then listen
            # (GAZETTE_BIND_HOST, or run as root with GAZETTE_SAM_ENGINE=netns).
            invoke "$fn" "$event" "${GAZETTE_SAM_ENDPOINT_HOST:-host.docker.internal}" "$HOST_STACK_DIR/stack.json" \
                --add-host host.docker.internal:host-gateway "$@"
            ;;
        netns)
            if in_ns; then
                export DOCKER_HOST="unix://$DOCKER_SOCK"
                docker_engine_up || die "dockerd of $NS does not answer: run infra/sam-local.sh up"
                cmd_build
                local gw
                gw="$(gateway)"
                invoke "$fn" "$event" "$gw" "$(ns_stack_dir)/stack.json" "$@"
            else
                cmd_up
                cmd_build
                # Built out here (the Go proxy is reachable); inside, the build is reused.
                ns_run env DOCKER_HOST="unix://$DOCKER_SOCK" GAZETTE_SAM_BUILD=reuse "$SELF" "$fn" "$event" "$@"
            fi
            ;;
    esac
}

cmd_up() {
    case "$(mode)" in
        docker)
            need_tools
            ensure_host_stack
            say "using the Docker engine at ${DOCKER_HOST:-its default socket} and the stack of make stack-up"
            ;;
        netns)
            in_ns && return 0
            ((EUID == 0)) || die "no Docker engine is reachable, and starting a private one needs root: run as root (CI does), or start Docker"
            need_tools
            ensure_packages
            # Whatever fails from here on leaves nothing behind.
            trap 'say "up failed: stopping what it started"; cmd_stop >/dev/null 2>&1 || true' EXIT
            ensure_netns
            ensure_dockerd
            ensure_image
            ensure_ns_stack
            trap - EXIT
            cat >&2 <<EOF
sam-local: ready: namespace $NS (loopback + Docker bridge $(gateway)), dockerd $DOCKER_SOCK,
  stand-in image $BASE_IMAGE, local stack inside $NS (state $(ns_stack_dir)).
  Invoke:  infra/sam-local.sh FUNCTION events/<file>.json
  Stop:    infra/sam-local.sh stop
EOF
            ;;
    esac
}

cmd_exec() {
    [[ $# -ge 1 ]] || usage
    case "$(mode)" in
        docker) exec "$@" ;;
        netns)
            if in_ns; then
                exec env DOCKER_HOST="unix://$DOCKER_SOCK" "$@"
            fi
            dockerd_pid >/dev/null || die "namespace $NS is not up: run infra/sam-local.sh up"
            exec nsenter --net="/run/netns/$NS" -- env DOCKER_HOST="unix://$DOCKER_SOCK" \
                GAZETTE_SAM_DIR="$STATE" GAZETTE_SAM_NETNS="$NS" GAZETTE_SAM_DOCKER_ROOT="$DOCKER_ROOT" "$@"
            ;;
    esac
}

# stop_pid PID NAME: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
    local pid="$1" name="$2" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "$name (pid $pid) ignored SIGTERM for 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
    in_ns && die "stop from outside the namespace"
    if [[ ! -e "/run/netns/$NS" && ! -d "$RUN_DIR" ]]; then
        say "nothing to stop: no namespace $NS (with a Docker engine of your own, stop the stack with make stack-down)"
        return 0
    fi
    ((EUID == 0)) || die "stopping namespace $NS needs root"
    local pid left
    if [[ -e "/run/netns/$NS" ]]; then
        ns_stack down >&2 || say "stack down inside $NS reported an error"
    fi
    if pid="$(dockerd_pid)"; then
        # dockerd stops its containers and its containerd on SIGTERM.
        stop_pid "$pid" dockerd
        say "stopped dockerd (pid $pid)"
    fi
    if [[ -e "/run/netns/$NS" ]]; then
        # Anything still running in the namespace was started by us (stack, dockerd, containers).
        left="$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')"
        for pid in $left; do
            [[ -r "/proc/$pid/cmdline" ]] || continue # ended with its parent meanwhile
            say "still in $NS: pid $pid ($( (tr '\0' ' ' <"/proc/$pid/cmdline") 2>/dev/null | cut -c1-80)): stopping it"
            stop_pid "$pid" "pid $pid"
        done
    fi
    # Mounts dockerd may leave after a hard stop.
    local m
    for m in $(awk -v a="$DOCKER_ROOT/" -v b="$RUN_DIR/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    if [[ -e "/run/netns/$NS" ]]; then
        ip netns delete "$NS"
        say "removed network namespace $NS"
    fi
    rm -rf "$RUN_DIR"
    if [[ "${GAZETTE_SAM_PURGE:-}" == 1 ]]; then
        rm -rf "$DOCKER_ROOT"
        say "removed $DOCKER_ROOT"
    fi
}

cmd_status() {
    if [[ "$(mode)" == docker ]]; then
        say "Docker engine at ${DOCKER_HOST:-its default socket}; stack: infra/stack.sh status"
        return 0
    fi
    if [[ -e "/run/netns/$NS" ]]; then
        say "namespace $NS: $(ip -n "$NS" -o link show | awk -F': ' '{sub(/@.*/, "", $2); printf "%s ", $2}')"
    else
        say "namespace $NS: absent"
    fi
    if pid="$(dockerd_pid)"; then
        say "dockerd: running (pid $pid), socket $DOCKER_SOCK"
        DOCKER_HOST="unix://$DOCKER_SOCK" docker image ls --format '  {{.Repository}}:{{.Tag}} {{.Size}}' >&2 || true
    else
        say "dockerd: not running"
    fi
    if [[ -e "/run/netns/$NS" ]]; then
        ns_stack status || true
    fi
}

usage() {
    sed -n '2,22p' "$SELF" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

case "$ENGINE" in
    auto | docker | netns) ;;
    *) die "GAZETTE_SAM_ENGINE must be auto, docker or netns, not $ENGINE" ;;
esac
case "$BUILD_MODE" in
    auto | reuse | always) ;;
    *) die "GAZETTE_SAM_BUILD must be auto, reuse or always, not $BUILD_MODE" ;;
esac

case "${1:-}" in
    "" | -h | --help | help) usage ;;
    up) cmd_up ;;
    build) shift; cmd_build "$@" ;;
    exec) shift; cmd_exec "$@" ;;
    status) cmd_status ;;
    stop | down) cmd_stop ;;
    invoke) shift; cmd_invoke "$@" ;;
    *) cmd_invoke "$@" ;;
esac

#!/usr/bin/env bash
# Gazette's local stack: moto server (S3, DynamoDB, SQS, SNS, Secrets Manager),
# aws-ses-v2-local (SES v2), and `gazette stack serve` (the functions under
# aws-lambda-rie, the SQS pollers, the HTTP API on :3000, the invoke API on :3001).
#
#   infra/stack.sh install   install the pinned tools outside the tree (idempotent)
#   infra/stack.sh check     compare installed tool versions with infra/versions.env
#   infra/stack.sh up        install if needed, start, provision from template.yaml, serve
#   infra/stack.sh down      stop all that up started (also after a failed up), verify ports are free
#   infra/stack.sh status    what runs where
#
# Everything listens on 127.0.0.1 only. Ports, tools dir and state dir can be
# overridden with the variables below. GAZETTE_BIND_HOST (default 127.0.0.1) is
# where moto and the SES emulator listen: infra/sam-local.sh sets 0.0.0.0 inside
# its private network namespace, so that function containers reach them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The tools live outside the tree: `sam build` copies the whole tree per function.
TOOLS="${GAZETTE_TOOLS:-$HOME/.cache/gazette-tools}"
STATE="${GAZETTE_STACK_DIR:-$ROOT/out/stack}"
BIN_DIR="${GAZETTE_BIN_DIR:-$ROOT/out/bin}"

BIND_HOST="${GAZETTE_BIND_HOST:-127.0.0.1}"
MOTO_PORT="${GAZETTE_MOTO_PORT:-5000}"
SES_PORT="${GAZETTE_SES_PORT:-8005}"
API_PORT="${GAZETTE_API_PORT:-3000}"
LAMBDA_PORT="${GAZETTE_LAMBDA_PORT:-3001}"
# Each function's RIE gets 127.0.0.1:91NN (invoke) and 127.0.0.1:92NN (runtime API).
RIE_PORT_BASE="${GAZETTE_RIE_PORT_BASE:-9100}"
RIE_API_PORT_BASE="${GAZETTE_RIE_API_PORT_BASE:-9200}"

# The SES emulator's GetAccount answer. aws-ses-v2-local validates it against the
# whole GetAccount schema (dist/v2/getAccount.js: every field required) and answers
# 400 otherwise. MaxSendRate 14/s: a production account's starting quota, so the
# senders' rate limiting has something real to respect.
DEFAULT_SES_ACCOUNT='{"DedicatedIpAutoWarmupEnabled":false,"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"MARKETING","ReviewDetails":{"CaseId":"local","Status":"GRANTED"},"UseCaseDescription":"Gazette local stack","WebsiteURL":"http://127.0.0.1"},"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,"SendQuota":{"Max24HourSend":50000,"MaxSendRate":14,"SentLast24Hours":0},"SuppressionAttributes":{"SuppressedReasons":["BOUNCE","COMPLAINT"]}}'
SES_ACCOUNT="${GAZETTE_SES_ACCOUNT:-$DEFAULT_SES_ACCOUNT}"

# Dummy credentials: nothing here may ever reach real AWS.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$SES_PORT"
export GAZETTE_MOTO_PORT="$MOTO_PORT" GAZETTE_SES_PORT="$SES_PORT"
export GAZETTE_API_PORT="$API_PORT" GAZETTE_LAMBDA_PORT="$LAMBDA_PORT"
export GAZETTE_RIE_PORT_BASE="$RIE_PORT_BASE" GAZETTE_RIE_API_PORT_BASE="$RIE_API_PORT_BASE"

# shellcheck source=infra/versions.env
source "$ROOT/infra/versions.env"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- versions

# installed_versions prints "name installed-version" lines ("-" when missing).
installed_versions() {
    local py="$TOOLS/venv/bin/python"
    if [[ -x "$py" ]]; then
        "$py" - <<'EOF'
import importlib.metadata as md
for name in ("moto", "aws-sam-cli", "cfn-lint"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "-")
EOF
    else
        printf '%s -\n' moto aws-sam-cli cfn-lint
    fi
    local ses_pkg="$TOOLS/ses/node_modules/aws-ses-v2-local/package.json"
    if [[ -f "$ses_pkg" ]]; then
        printf 'aws-ses-v2-local %s\n' "$(node -p "require('$ses_pkg').version")"
    else
        echo "aws-ses-v2-local -"
    fi
    local rie="$TOOLS/bin/aws-lambda-rie" v="-"
    if [[ -x "$rie" ]]; then
        # The module version is stamped into the binary by `go install`.
        v="$(go version -m "$rie" | awk '$1 == "mod" { print $3 }')"
    fi
    echo "aws-lambda-rie ${v:--}"
}

wanted_version() {
    case "$1" in
        moto) echo "$MOTO_VERSION" ;;
        aws-sam-cli) echo "$AWS_SAM_CLI_VERSION" ;;
        cfn-lint) echo "$CFN_LINT_VERSION" ;;
        aws-ses-v2-local) echo "$AWS_SES_V2_LOCAL_VERSION" ;;
        aws-lambda-rie) echo "$AWS_LAMBDA_RIE_VERSION" ;;
    esac
}

# check_versions fails with one line per tool that is missing or not the pinned version.
check_versions() {
    local bad=0 name have want
    while read -r name have; do
        want="$(wanted_version "$name")"
        if [[ "$have" == "$want" ]]; then
            say "ok       $name $have"
        elif [[ "$have" == "-" ]]; then
            say "MISSING  $name (want $want): run infra/stack.sh install"
            bad=1
        else
            say "MISMATCH $name installed $have, infra/versions.env wants $want: run infra/stack.sh install"
            bad=1
        fi
    done < <(installed_versions)
    # The lockfile pins aws-ses-v2-local too; it must agree with versions.env.
    if ! grep -q "\"aws-ses-v2-local\": \"$AWS_SES_V2_LOCAL_VERSION\"" "$ROOT/infra/ses/package.json"; then
        say "MISMATCH infra/ses/package.json does not pin aws-ses-v2-local $AWS_SES_V2_LOCAL_VERSION"
        bad=1
    fi
    if [[ -f "$TOOLS/ses/package-lock.json" ]] && ! cmp -s "$ROOT/infra/ses/package-lock.json" "$TOOLS/ses/package-lock.json"; then
        say "MISMATCH installed aws-ses-v2-local tree was not made from infra/ses/package-lock.json: run infra/stack.sh install"
        bad=1
    fi
    return "$bad"
}

# ---------------------------------------------------------------- install

install_python() {
    local py="$TOOLS/venv/bin/python"
    if [[ ! -x "$py" ]]; then
        say "creating venv $TOOLS/venv"
        python3 -m venv "$TOOLS/venv"
        "$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
    fi
    if [[ "$(installed_versions | awk '$1=="moto"||$1=="aws-sam-cli"||$1=="cfn-lint" {print $1"="$2}' | sort | tr '\n' ' ')" \
        == "aws-sam-cli=$AWS_SAM_CLI_VERSION cfn-lint=$CFN_LINT_VERSION moto=$MOTO_VERSION " ]]; then
        return
    fi
    say "pip install moto[server]==$MOTO_VERSION aws-sam-cli==$AWS_SAM_CLI_VERSION cfn-lint==$CFN_LINT_VERSION"
    "$py" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
}

install_ses() {
    local dir="$TOOLS/ses"
    mkdir -p "$dir"
    if cmp -s "$ROOT/infra/ses/package-lock.json" "$dir/package-lock.json" \
        && [[ -f "$dir/node_modules/aws-ses-v2-local/package.json" ]]; then
        return
    fi
    say "npm ci aws-ses-v2-local (infra/ses/package-lock.json) into $dir"
    cp "$ROOT/infra/ses/package.json" "$ROOT/infra/ses/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

install_rie() {
    local have
    have="$(installed_versions | awk '$1=="aws-lambda-rie" {print $2}')"
    [[ "$have" == "$AWS_LAMBDA_RIE_VERSION" ]] && return
    say "go install aws-lambda-rie@$AWS_LAMBDA_RIE_VERSION into $TOOLS/bin"
    mkdir -p "$TOOLS/bin"
    # Built outside this module (GOFLAGS=-mod=mod would touch our go.mod otherwise).
    (cd "$TOOLS" && GOBIN="$TOOLS/bin" CGO_ENABLED=0 GOFLAGS= \
        go install "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$AWS_LAMBDA_RIE_VERSION")
}

cmd_install() {
    mkdir -p "$TOOLS"
    install_python
    install_ses
    install_rie
    check_versions || die "installed tools do not match infra/versions.env"
}

# ---------------------------------------------------------------- processes

pidfile() { echo "$STATE/$1.pid"; }

running() {
    local f pid
    f="$(pidfile "$1")"
    [[ -f "$f" ]] || return 1
    pid="$(cat "$f")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# start NAME LOGFILE CMD... runs CMD in its own session (so stop can end its whole
# process group, RIE children included) and records its pid.
start() {
    local name="$1" log="$2"
    shift 2
    setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$(pidfile "$name")"
    say "started $name (pid $!), log $log"
}

stop() {
    local name="$1" f pid i
    f="$(pidfile "$name")"
    [[ -f "$f" ]] || return 0
    pid="$(cat "$f")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        # The group may outlive its leader (a child that ignored the signal).
        kill -KILL -- "-$pid" 2>/dev/null || true
        say "stopped $name (pid $pid)"
    fi
    rm -f "$f"
}

# listening prints the stack's ports that something listens on, one "port process" a line.
listening() {
    ss -ltnpH 2>/dev/null | awk -v ports=" $MOTO_PORT $SES_PORT $API_PORT $LAMBDA_PORT " \
        -v rie="$RIE_PORT_BASE" -v api="$RIE_API_PORT_BASE" '{
            n = split($4, a, ":"); p = a[n] + 0
            if (index(ports, " " p " ") || (p >= rie && p < rie + 100) || (p >= api && p < api + 100))
                print p, $6
        }'
}

# wait_http URL SECONDS NAME waits until URL answers any HTTP status.
wait_http() {
    local url="$1" secs="$2" name="$3" i
    for ((i = 0; i < secs * 5; i++)); do
        if curl -s -o /dev/null --max-time 2 "$url"; then
            return 0
        fi
        if [[ -n "$name" ]] && ! running "$name"; then
            tail -n 20 "$STATE/$name.log" >&2 || true
            die "$name exited while starting (log $STATE/$name.log); run infra/stack.sh down"
        fi
        sleep 0.2
    done
    tail -n 20 "$STATE/$name.log" >&2 || true
    die "$name did not answer on $url within ${secs}s (log $STATE/$name.log); run infra/stack.sh down"
}

gazette() {
    # A fresh build each time: cheap when cached, and never a stale provisioner.
    (cd "$ROOT" && go build -o "$ROOT/out/bin/gazette" ./cmd/gazette)
    "$ROOT/out/bin/gazette" "$@"
}

cmd_up() {
    check_versions >/dev/null 2>&1 || cmd_install
    mkdir -p "$STATE/logs"
    # Re-runnable: whatever an earlier up left is stopped first.
    stop_all
    local busy
    busy="$(listening)"
    [[ -z "$busy" ]] || die "ports of the stack are taken by something else:
$busy"

    start moto "$STATE/moto.log" "$TOOLS/venv/bin/moto_server" -H "$BIND_HOST" -p "$MOTO_PORT"
    AWS_SES_ACCOUNT="$SES_ACCOUNT" start ses "$STATE/ses.log" \
        node "$TOOLS/ses/node_modules/aws-ses-v2-local/dist/cli.js" --host "$BIND_HOST" --port "$SES_PORT"
    wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" 60 moto
    wait_http "http://127.0.0.1:$SES_PORT/health-check" 30 ses

    # Links in mails must point at the local HTTP API, so the !If picks PublicBaseUrl.
    if ! gazette stack provision --template "$ROOT/template.yaml" --state "$STATE" \
        --param "PublicBaseUrl=http://127.0.0.1:$API_PORT" 2>"$STATE/provision.log"; then
        tail -n 20 "$STATE/provision.log" >&2
        die "provisioning failed (log $STATE/provision.log); run infra/stack.sh down"
    fi

    start serve "$STATE/serve.log" "$ROOT/out/bin/gazette" stack serve --bin "$BIN_DIR" --state "$STATE"
    wait_http "http://127.0.0.1:$LAMBDA_PORT/_stack/status" 30 serve
    wait_http "http://127.0.0.1:$API_PORT/" 10 serve

    cat <<EOF
Gazette local stack is up (state in $STATE):
  moto (S3, DynamoDB, SQS, SNS, Secrets Manager)  http://127.0.0.1:$MOTO_PORT   dashboard http://127.0.0.1:$MOTO_PORT/moto-api/
  SES v2 (aws-ses-v2-local)                       http://127.0.0.1:$SES_PORT   mail UI http://127.0.0.1:$SES_PORT/  sent mail GET /store
  subscription HTTP API                           http://127.0.0.1:$API_PORT
  Lambda invoke API                               http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/{LogicalId}/invocations
  resources, functions, event sources             $STATE/stack.json (provisioning log: provision.log)
  function logs                                   $STATE/logs/<LogicalId>.log (RIE's own lines: <LogicalId>.rie.log)
Use it with: export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SESV2=$AWS_ENDPOINT_URL_SESV2 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=$AWS_REGION
Stop it with: infra/stack.sh down
EOF
}

stop_all() {
    stop serve
    stop ses
    stop moto
}

cmd_down() {
    mkdir -p "$STATE"
    stop_all
    local busy i
    # Sockets close a moment after their process ends.
    for ((i = 0; i < 50; i++)); do
        busy="$(listening)"
        [[ -z "$busy" ]] && break
        sleep 0.1
    done
    [[ -z "$busy" ]] || die "still listening on the stack's ports after down:
$busy"
    say "down: nothing listens on the stack's ports"
}

cmd_status() {
    local name port
    for name in moto ses serve; do
        if running "$name"; then
            say "$(printf '%-6s running (pid %s)' "$name" "$(cat "$(pidfile "$name")")")"
        else
            say "$(printf '%-6s not running' "$name")"
        fi
    done
    for port in "$MOTO_PORT" "$SES_PORT" "$API_PORT" "$LAMBDA_PORT"; do
        if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
            say "127.0.0.1:$port answers"
        else
            say "127.0.0.1:$port does not answer"
        fi
    done
    if running serve; then
        "$ROOT/out/bin/gazette" stack status --state "$STATE" || true
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    check) check_versions ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac

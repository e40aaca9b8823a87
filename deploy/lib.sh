# shellcheck shell=bash
# Shared by deploy/rolling, deploy/rollback and deploy/blue-green (sourced).
#
# Inventory: one instance a line, blank lines and # comments ignored:
#   # name   host       port  admin_port  colour  release_dir
#   blue1    127.0.0.1  4001  4101        blue    /srv/switchboard/blue1
# `name` is the instance's HAProxy slot (server-template blue1..blue10,
# green1..green10) and its node name. `release_dir` holds:
#   releases/<version>/     extracted tarballs (bin/, etc/, VERSION)
#   current -> releases/…   the release that runs
#   previous -> releases/…  the one before it (rollback target)
#   shared/switchboard.env  the instance's own settings and secrets (KEY=VALUE),
#                           copied into each release's etc/switchboard.env
#   shared/log/             the server's log (switchboardctl daemon)
#
# Settings (environment):
#   DEPLOY_INVENTORY            inventory file (default deploy/inventory)
#   DEPLOY_MODE                 local (processes on this machine) or ssh
#   DEPLOY_SSH                  ssh command for ssh mode (default "ssh -o BatchMode=yes")
#   SWITCHBOARD_HAPROXY_SOCKET  HAProxy stats socket (admin level)
#   SWITCHBOARD_ACTIVE_MAP      the map HAProxy reads the active colour from, as
#                               HAProxy names it; default: the one map HAProxy has
#   DEPLOY_ACTIVE_MAP_FILE      that file's path here, when HAProxy's name does
#                               not lead to it (rewritten on a switch)
#   SWITCHBOARD_ADMIN_TOKEN     the instances' admin token
#   DEPLOY_DRAIN_WINDOW         window a node's connections are closed over (default 30s)
#   DEPLOY_READY_TIMEOUT        seconds a started instance has to answer /readyz (default 60)
#   DEPLOY_REBALANCE_TOLERANCE  default 10%;  DEPLOY_REBALANCE_WINDOW default 10s
#
# Safety rules every script follows:
# - The state a deploy acts on (the active colour, each slot's state, each
#   instance's version) is read from HAProxy and the instances before anything
#   is touched (read_state); a script that cannot read it refuses to start.
# - Before a step takes an instance out of rotation or stops it, guard_live
#   checks that it is not the last serving instance of the live colour.
# - A script ends with `finish`: exit 0 only when everything went as planned,
#   otherwise exit 1 with one line per problem.
# - Errors: `fail` prints one line and exits. Inside `$(…)` it only ends the
#   subshell, so every `x="$(…)"` that can fail is followed by `|| exit 1`
#   (the line is already printed); inherit_errexit makes a failing command
#   inside `$(…)` end the substitution instead of being ignored.

shopt -s inherit_errexit

DEPLOY_INVENTORY="${DEPLOY_INVENTORY:-deploy/inventory}"
DEPLOY_MODE="${DEPLOY_MODE:-local}"
DEPLOY_SSH="${DEPLOY_SSH:-ssh -o BatchMode=yes}"
SWITCHBOARD_HAPROXY_SOCKET="${SWITCHBOARD_HAPROXY_SOCKET:-/run/haproxy/switchboard.sock}"
SWITCHBOARD_ACTIVE_MAP="${SWITCHBOARD_ACTIVE_MAP:-}"
DEPLOY_ACTIVE_MAP_FILE="${DEPLOY_ACTIVE_MAP_FILE:-}"
DEPLOY_DRAIN_WINDOW="${DEPLOY_DRAIN_WINDOW:-30s}"
DEPLOY_READY_TIMEOUT="${DEPLOY_READY_TIMEOUT:-60}"
DEPLOY_REBALANCE_TOLERANCE="${DEPLOY_REBALANCE_TOLERANCE:-10%}"
DEPLOY_REBALANCE_WINDOW="${DEPLOY_REBALANCE_WINDOW:-10s}"

fail() { echo "deploy: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
note() { echo "    $*"; }

# Things that did not go as planned but did not stop the deploy; `finish`
# turns them into exit 1. Call `problem` from the script's own shell only
# (not inside `$(…)` or `( … )`, where the list would be lost).
PROBLEMS=()
problem() {
    echo "deploy: problem: $*" >&2
    PROBLEMS+=("$*")
}

# finish SUMMARY: "done: SUMMARY" and exit 0, or exit 1 listing the problems.
finish() {
    if [ "${#PROBLEMS[@]}" -gt 0 ]; then
        echo "deploy: error: not everything went as planned (${#PROBLEMS[@]} problem(s)); $1:" >&2
        printf '    %s\n' "${PROBLEMS[@]}" >&2
        exit 1
    fi
    step "done: $1"
    exit 0
}

# --- inventory ---------------------------------------------------------------
# INSTANCES: names in inventory order; I_HOST[name], I_PORT, I_ADMIN, I_COLOUR, I_DIR.
declare -a INSTANCES=()
declare -A I_HOST=() I_PORT=() I_ADMIN=() I_COLOUR=() I_DIR=()

load_inventory() {
    [ -f "$DEPLOY_INVENTORY" ] || fail "no inventory at $DEPLOY_INVENTORY (set DEPLOY_INVENTORY)"
    case "$DEPLOY_MODE" in local|ssh) ;; *) fail "DEPLOY_MODE must be local or ssh, not \"$DEPLOY_MODE\"" ;; esac
    local line_number=0 name host port admin colour dir extra
    while IFS= read -r line || [ -n "$line" ]; do
        line_number=$((line_number + 1))
        line="${line%%#*}"
        [ -n "${line//[[:space:]]/}" ] || continue
        read -r name host port admin colour dir extra <<<"$line"
        if [ -z "$dir" ] || [ -n "$extra" ]; then
            fail "$DEPLOY_INVENTORY:$line_number: expected: name host port admin_port colour release_dir"
        fi
        [[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || fail "$DEPLOY_INVENTORY:$line_number: bad name \"$name\""
        [[ "$port" =~ ^[0-9]+$ && "$admin" =~ ^[0-9]+$ ]] || fail "$DEPLOY_INVENTORY:$line_number: ports must be numbers"
        [[ "$colour" == blue || "$colour" == green ]] || fail "$DEPLOY_INVENTORY:$line_number: colour must be blue or green"
        [[ "$dir" == /* ]] || fail "$DEPLOY_INVENTORY:$line_number: release_dir must be absolute"
        [ -z "${I_HOST[$name]:-}" ] || fail "$DEPLOY_INVENTORY:$line_number: instance $name listed twice"
        INSTANCES+=("$name")
        I_HOST[$name]="$host"; I_PORT[$name]="$port"; I_ADMIN[$name]="$admin"
        I_COLOUR[$name]="$colour"; I_DIR[$name]="$dir"
    done < "$DEPLOY_INVENTORY"
    [ "${#INSTANCES[@]}" -gt 0 ] || fail "$DEPLOY_INVENTORY lists no instance"
}

# Instances of one colour, in inventory order.
instances_of() {
    local name
    for name in "${INSTANCES[@]}"; do
        if [ "${I_COLOUR[$name]}" = "$1" ]; then echo "$name"; fi
    done
}

# --- running commands on an instance's host ------------------------------------
# on_host NAME COMMAND...: runs the command (words quoted) in the instance's
# release_dir, locally or through ssh.
on_host() {
    local name="$1"; shift
    local command
    command="cd $(printf '%q' "${I_DIR[$name]}") && $(printf '%q ' "$@")"
    if [ "$DEPLOY_MODE" = ssh ]; then
        # shellcheck disable=SC2086
        $DEPLOY_SSH "${I_HOST[$name]}" "bash -c $(printf '%q' "$command")"
    else
        bash -c "$command"
    fi
}

# copy_to_host NAME LOCAL_FILE REMOTE_PATH
copy_to_host() {
    if [ "$DEPLOY_MODE" = ssh ]; then
        # shellcheck disable=SC2086
        $DEPLOY_SSH "${I_HOST[$1]}" "cat > $(printf '%q' "$3")" < "$2"
    else
        cp "$2" "$3"
    fi
}

# The instance's admin API as seen from its own host (the admin listener
# is on loopback by default; in local mode the host is this machine).
admin_url() {
    if [ "$DEPLOY_MODE" = ssh ]; then echo "http://127.0.0.1:${I_ADMIN[$1]}"; else echo "http://${I_HOST[$1]}:${I_ADMIN[$1]}"; fi
}

# admin NAME SUBCOMMAND [ARGS…]: `switchboard admin` of the instance's current
# release, against its admin API, with the token from the deploy's environment
# (read_state has checked that it is set).
admin() {
    local name="$1"; shift
    on_host "$name" env "SWITCHBOARD_ADMIN_TOKEN=$SWITCHBOARD_ADMIN_TOKEN" \
        current/bin/switchboard admin "$@" --url "$(admin_url "$name")"
}

# ctl NAME COMMAND: bin/switchboardctl of the instance's `current` release.
ctl() {
    on_host "$1" current/bin/switchboardctl "$2"
}

# Whether the instance's server runs (switchboardctl status of `current`).
is_running() {
    on_host "$1" current/bin/switchboardctl status >/dev/null 2>&1
}

# --- HTTP checks (from this machine) -----------------------------------------
# http_status URL: the HTTP status, or 000 when nothing answers. Never fails.
http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

# wait_ready NAME TIMEOUT_SECONDS: until GET /readyz answers 200.
wait_ready() {
    local name="$1" timeout="$2" deadline=$((SECONDS + $2)) status
    while :; do
        status="$(http_status "http://${I_HOST[$name]}:${I_PORT[$name]}/readyz")"
        [ "$status" = 200 ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || { note "$name: /readyz answered ${status/000/nothing} for ${timeout}s"; return 1; }
        sleep 0.5
    done
}

# The version /healthz reports, or nothing when the instance does not answer.
# Never fails.
running_version() {
    { curl -s --max-time 3 "http://${I_HOST[$1]}:${I_PORT[$1]}/healthz" 2>/dev/null || true; } \
        | sed -n 's/.*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}

# The node's open connections (admin /stats), or nothing when the admin API
# does not answer. Never fails.
connection_count() {
    # The first "connections" of the answer is the node's own (top level).
    { admin "$1" stats --json 2>/dev/null || true; } | { grep -o '"connections"[[:space:]]*:[[:space:]]*[0-9]*' || true; } \
        | head -n 1 | grep -o '[0-9]*$' || true
}

# wait_drained NAME TIMEOUT_SECONDS: until the node holds no connection;
# 1 when it still does, or when its admin API stops answering.
wait_drained() {
    local name="$1" deadline=$((SECONDS + $2)) count
    while :; do
        count="$(connection_count "$name")"
        [ "$count" = 0 ] && return 0
        if [ -z "$count" ]; then note "$name: its admin API does not answer"; return 1; fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            note "$name: still $count connections after ${2}s; its stats: $(admin "$name" stats --json 2>&1 | tr -d '\n')"
            return 1
        fi
        sleep 1
    done
}

# Seconds in a duration such as 30s, 2m, 500ms or 45 (rounded up).
duration_seconds() {
    local value="$1"
    case "$value" in
        *ms) echo $(( (${value%ms} + 999) / 1000 )) ;;
        *s) echo "${value%s}" ;;
        *m) echo $(( ${value%m} * 60 )) ;;
        *h) echo $(( ${value%h} * 3600 )) ;;
        *) echo "$value" ;;
    esac
}

# --- HAProxy runtime API ------------------------------------------------------
# haproxy_cmd COMMAND: HAProxy's answer; fails when the socket does not answer.
haproxy_cmd() {
    local answer
    [ -S "$SWITCHBOARD_HAPROXY_SOCKET" ] \
        || fail "no HAProxy stats socket at $SWITCHBOARD_HAPROXY_SOCKET (set SWITCHBOARD_HAPROXY_SOCKET to the path of haproxy.cfg's \`stats socket\`)"
    answer="$(printf '%s\n' "$1" | socat -t 5 stdio "UNIX-CONNECT:$SWITCHBOARD_HAPROXY_SOCKET" 2>&1)" \
        || fail "HAProxy runtime API at $SWITCHBOARD_HAPROXY_SOCKET: \"$1\" failed: $answer"
    printf '%s' "$answer"
}

# haproxy_change COMMAND: a command that changes something; HAProxy answers
# nothing when it did (or, for `set server … addr`, what it changed).
haproxy_change() {
    local answer
    answer="$(haproxy_cmd "$1")" || exit 1
    answer="$(printf '%s' "$answer" | tr -d '\n')"
    case "$answer" in
        ""|*"changed from"*|*"no need to change"*) ;;
        *) fail "HAProxy refused \"$1\": $answer" ;;
    esac
}

# SLOT_STATUS[colour/name]: every blue and green slot's status in `show stat`
# (UP, UP 1/2, DOWN, DRAIN, MAINT, …), as HAProxy sees it now.
declare -A SLOT_STATUS=()
load_slots() {
    local stat backend server status
    stat="$(haproxy_cmd "show stat")" || exit 1
    SLOT_STATUS=()
    while IFS=$'\t' read -r backend server status; do
        SLOT_STATUS["$backend/$server"]="$status"
    done < <(awk -F, '($1 == "blue" || $1 == "green") && $2 != "BACKEND" { print $1 "\t" $2 "\t" $18 }' <<<"$stat")
    [ "${#SLOT_STATUS[@]}" -gt 0 ] \
        || fail "HAProxy at $SWITCHBOARD_HAPROXY_SOCKET has no blue or green backend: is it running the repository's haproxy.cfg?"
}

# Whether HAProxy sends new connections to the slot (status UP, or UP going down).
slot_serves() {
    [[ "${SLOT_STATUS[$1]:-}" == UP* ]]
}

# Serving slots of a colour, from the last load_slots.
serving_count() {
    local slot count=0
    for slot in "${!SLOT_STATUS[@]}"; do
        if [[ "$slot" == "$1/"* ]] && slot_serves "$slot"; then count=$((count + 1)); fi
    done
    echo "$count"
}

# haproxy_set NAME STATE: ready, drain or maint for the instance's slot
# (<colour>/<name>); `ready` also points the slot at the instance's address.
haproxy_set() {
    local name="$1" state="$2" slot="${I_COLOUR[$1]}/$1"
    if [ "$state" = ready ]; then
        haproxy_change "set server $slot addr ${I_HOST[$name]} port ${I_PORT[$name]}"
    fi
    haproxy_change "set server $slot state $state"
    note "haproxy: $slot $state"
}

# The slot's status in `show stat` now.
haproxy_status() {
    load_slots
    echo "${SLOT_STATUS[${I_COLOUR[$1]}/$1]:-}"
}

# wait_haproxy_up NAME TIMEOUT_SECONDS: until HAProxy's checks see the slot UP.
wait_haproxy_up() {
    local name="$1" deadline=$((SECONDS + $2)) status
    while :; do
        status="$(haproxy_status "$name")" || exit 1
        [[ "$status" == UP* ]] && return 0
        [ "$SECONDS" -lt "$deadline" ] || { note "haproxy: ${I_COLOUR[$name]}/$name is ${status:-unknown} after ${2}s"; return 1; }
        sleep 0.5
    done
}

# guard_live NAME WHAT: refuses (exit 1) to WHAT the instance when it is the
# last serving instance of the live colour: HAProxy sees its slot UP and no
# other slot of that colour UP. Called before every step that takes an
# instance out of rotation or stops it.
guard_live() {
    local name="$1" what="$2" colour="${I_COLOUR[$1]}" others
    read_active_colour
    [ "$colour" = "$ACTIVE" ] || return 0
    load_slots
    slot_serves "$colour/$name" || return 0
    others="$(serving_count "$colour")"
    [ "$others" -gt 1 ] \
        || fail "refusing to $what $name: it is the last serving instance of the live colour $colour (HAProxy sees no other $colour slot UP); nothing was changed on $name"
}

# --- the active colour --------------------------------------------------------
# ACTIVE_MAP: the map as HAProxy names it; ACTIVE_MAP_FILE: that file here;
# ACTIVE: the colour it names.
ACTIVE_MAP=""
ACTIVE_MAP_FILE=""
ACTIVE=""

# resolve_active_map: finds the map among those HAProxy has loaded (`show
# map`): SWITCHBOARD_ACTIVE_MAP when set (it must be one of them), otherwise
# the only one. Its file is DEPLOY_ACTIVE_MAP_FILE, or HAProxy's name for it
# (relative to HAProxy's working directory, read from /proc).
resolve_active_map() {
    local listing pid cwd candidate
    local -a names=()
    listing="$(haproxy_cmd "show map")" || exit 1
    mapfile -t names < <(sed -n 's/^-\{0,1\}[0-9][0-9]* (\(.*\)) pattern loaded from file .*/\1/p' <<<"$listing")
    if [ -n "$SWITCHBOARD_ACTIVE_MAP" ]; then
        for candidate in "${names[@]}"; do
            if [ "$candidate" = "$SWITCHBOARD_ACTIVE_MAP" ]; then ACTIVE_MAP="$candidate"; fi
        done
        [ -n "$ACTIVE_MAP" ] \
            || fail "HAProxy has no map \"$SWITCHBOARD_ACTIVE_MAP\" (SWITCHBOARD_ACTIVE_MAP); its maps: ${names[*]:-none}. Set SWITCHBOARD_ACTIVE_MAP to the value HAProxy was started with, or leave it unset"
    else
        [ "${#names[@]}" -eq 1 ] \
            || fail "SWITCHBOARD_ACTIVE_MAP is not set and HAProxy has ${#names[@]} maps (${names[*]:-none}): set it to the active-colour map"
        ACTIVE_MAP="${names[0]}"
    fi
    if [ -n "$DEPLOY_ACTIVE_MAP_FILE" ]; then
        ACTIVE_MAP_FILE="$DEPLOY_ACTIVE_MAP_FILE"
    elif [[ "$ACTIVE_MAP" == /* ]]; then
        ACTIVE_MAP_FILE="$ACTIVE_MAP"
    else
        listing="$(haproxy_cmd "show info")" || exit 1
        pid="$(sed -n 's/^Pid: *\([0-9][0-9]*\).*/\1/p' <<<"$listing")"
        cwd="$(readlink "/proc/${pid:-0}/cwd" 2>/dev/null || true)"
        [ -n "$cwd" ] \
            || fail "HAProxy names its map \"$ACTIVE_MAP\", relative to its working directory, which cannot be read here: set DEPLOY_ACTIVE_MAP_FILE to the file's path"
        ACTIVE_MAP_FILE="$cwd/$ACTIVE_MAP"
    fi
    [[ -f "$ACTIVE_MAP_FILE" && -w "$ACTIVE_MAP_FILE" ]] \
        || fail "the active-colour map file $ACTIVE_MAP_FILE (HAProxy's \"$ACTIVE_MAP\") is not a writable file here: set DEPLOY_ACTIVE_MAP_FILE to its path"
}

# read_active_colour: ACTIVE from HAProxy's runtime map (not the file).
read_active_colour() {
    local entries
    entries="$(haproxy_cmd "show map $ACTIVE_MAP")" || exit 1
    case "$entries" in
        *"Unknown map"*|*"nknown"*) fail "HAProxy does not know the map \"$ACTIVE_MAP\": $entries" ;;
    esac
    ACTIVE="$(awk '$2 == "active" { print $3 }' <<<"$entries")"
    case "$ACTIVE" in
        blue|green) ;;
        # haproxy.cfg routes to blue when the map has no "active" entry.
        "") ACTIVE=blue ;;
        *) fail "HAProxy's map $ACTIVE_MAP has \"active\" set to \"${ACTIVE//$'\n'/ }\": expected one blue or green" ;;
    esac
}

# set_active_colour COLOUR: runtime `set map`, then the file, so a reload keeps it.
set_active_colour() {
    haproxy_change "set map $ACTIVE_MAP active $1"
    read_active_colour
    [ "$ACTIVE" = "$1" ] || fail "HAProxy's map still names $ACTIVE active after \`set map $ACTIVE_MAP active $1\`"
    local file="$ACTIVE_MAP_FILE" temporary
    temporary="$(mktemp "$(dirname "$file")/.active.map.XXXXXX")" || fail "cannot write beside $file"
    {
        grep -v '^active[[:space:]]' "$file" || true
        echo "active $1"
    } > "$temporary"
    mv -f "$temporary" "$file"
    note "haproxy: active backend $1 (runtime map $ACTIVE_MAP and $file)"
}

# --- the state a deploy starts from ------------------------------------------
# RUNNING_VERSION[name]: the version the instance's /healthz reports, or "".
declare -A RUNNING_VERSION=()

# read_state: the active colour, every inventory slot's state and every
# instance's version, read from HAProxy and the instances and printed; exits 1
# when any of it cannot be read.
read_state() {
    local name slot in_file
    [ -n "${SWITCHBOARD_ADMIN_TOKEN:-}" ] || fail "SWITCHBOARD_ADMIN_TOKEN is not set (the instances' admin token)"
    command -v socat >/dev/null || fail "socat is not installed (it talks to HAProxy's stats socket)"
    command -v curl >/dev/null || fail "curl is not installed (it runs the health checks)"
    resolve_active_map
    read_active_colour
    load_slots
    step "state: $ACTIVE is active (HAProxy map $ACTIVE_MAP, file $ACTIVE_MAP_FILE)"
    in_file="$(awk '$1 == "active" { print $2 }' "$ACTIVE_MAP_FILE" | tail -n 1)"
    if [ "${in_file:-blue}" != "$ACTIVE" ]; then
        note "warning: $ACTIVE_MAP_FILE names ${in_file:-no colour} active, HAProxy $ACTIVE: a reload of HAProxy would switch colours"
    fi
    for name in "${INSTANCES[@]}"; do
        slot="${I_COLOUR[$name]}/$name"
        [ -n "${SLOT_STATUS[$slot]:-}" ] \
            || fail "HAProxy has no slot $slot (haproxy.cfg's server-template has blue1…blue10 and green1…green10): is $SWITCHBOARD_HAPROXY_SOCKET the right HAProxy?"
        RUNNING_VERSION[$name]="$(running_version "$name")"
        if slot_serves "$slot" && [ -z "${RUNNING_VERSION[$name]}" ]; then
            fail "HAProxy sees $slot ${SLOT_STATUS[$slot]} but $name's /healthz does not answer from here (http://${I_HOST[$name]}:${I_PORT[$name]}): cannot tell what it runs"
        fi
        note "$(printf '%-10s haproxy=%-8s version=%s' "$name" "${SLOT_STATUS[$slot]}" "${RUNNING_VERSION[$name]:-(not running)}")"
    done
}

# --- releases ----------------------------------------------------------------
# preflight TARBALL VERSION NAME: the release's binary runs on NAME's host and
# reports VERSION, and serves on a spare port (catches a broken build before
# any instance is touched). Harmless while NAME runs that very release.
preflight() {
    local tarball="$1" version="$2" name="$3" reported
    install_release "$name" "$tarball" "$version"
    reported="$(on_host "$name" "releases/$version/bin/switchboard" --version 2>&1)" \
        || fail "deploy aborted: release $version does not run on ${I_HOST[$name]}: $reported"
    [ "$reported" = "$version" ] || fail "deploy aborted: release $version's binary reports \"$reported\""
    reported="$(on_host "$name" bash -c "$TRIAL_START" trial "releases/$version" "$DEPLOY_READY_TIMEOUT" 2>&1)" \
        || fail "deploy aborted: release $version does not serve on ${I_HOST[$name]} (no instance was touched): $reported"
    note "trial start: $version answered /readyz on a spare port"
}

# Run on an instance's host from its release_dir, with the release folder and
# a timeout: starts the release beside the instance on a spare port (local
# adapter, so it stays out of the cluster; admin on a spare port too; its own
# pid file, so an instance running this release is no obstacle) and waits for
# /readyz, then stops it. A release that cannot start is caught before any
# instance is drained.
# shellcheck disable=SC2016 # expanded by the bash that runs it
TRIAL_START='
release="$1" timeout="$2" scratch="$(mktemp -d)"
SWITCHBOARDCTL_PID_FILE="$scratch/trial.pid" "$release/bin/switchboardctl" start --host 127.0.0.1 --port 0 --admin-port 0 --adapter local --log-level info >"$scratch/log" 2>&1 &
pid=$!
trap "kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf $scratch" EXIT
deadline=$((SECONDS + timeout))
while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "it exited at start:"; tail -n 5 "$scratch/log"; exit 1; fi
    port="$(sed -n "s|.* listening on http://[^ ]*:\([0-9][0-9]*\) .*|\1|p" "$scratch/log" | head -n 1)"
    if [ -n "$port" ] && [ "$(curl -s -o /dev/null -w "%{http_code}" --max-time 2 "http://127.0.0.1:$port/readyz" || true)" = 200 ]; then
        exit 0
    fi
    sleep 0.3
done
echo "not ready within ${timeout}s:"; tail -n 5 "$scratch/log"; exit 1
'

# tarball_version TARBALL: the VERSION inside a release tarball.
tarball_version() {
    [ -f "$1" ] || fail "no release tarball at $1"
    local version
    version="$(tar --occurrence=1 -xzOf "$1" VERSION 2>/dev/null | head -n 1 | tr -d '[:space:]')" \
        || fail "$1 is not a release tarball (no VERSION inside)"
    [[ "$version" =~ ^[A-Za-z0-9._+-]{1,64}$ ]] || fail "$1: bad VERSION \"$version\""
    echo "$version"
}

# The release `current` (or `previous`) points at, or nothing. Never fails.
release_of() {
    { on_host "$1" readlink "$2" 2>/dev/null || true; } | sed 's|.*/||'
}

# install_release NAME TARBALL VERSION: extracts into releases/VERSION (kept
# when already there) and writes its etc/switchboard.env from the instance's.
install_release() {
    local name="$1" tarball="$2" version="$3" dir="${I_DIR[$1]}"
    local target="$dir/releases/$version"
    if on_host "$name" test -x "releases/$version/bin/switchboard"; then
        note "$name: release $version already installed in $target"
    else
        note "$name: extracting $(basename "$tarball") into $target"
        on_host "$name" mkdir -p "releases/$version.partial" shared/log || fail "$name: cannot create releases/ in $dir"
        copy_to_host "$name" "$tarball" "$dir/releases/$version.tar.gz" || fail "$name: cannot copy $tarball to $dir"
        # Low priority: the instances still serving share this CPU in local mode.
        on_host "$name" nice -n 10 tar -xzf "releases/$version.tar.gz" -C "releases/$version.partial" \
            || fail "$name: cannot extract $tarball"
        on_host "$name" rm -f "releases/$version.tar.gz"
        on_host "$name" mv -T "releases/$version.partial" "releases/$version" || fail "$name: cannot move releases/$version in place"
    fi
    write_release_env "$name" "$version"
}

# The instance's environment for a release: shared/switchboard.env plus its
# address, ports and node name from the inventory.
write_release_env() {
    local name="$1" version="$2" env_file
    env_file="$(mktemp)"
    {
        on_host "$name" cat shared/switchboard.env 2>/dev/null || true
        echo "SWITCHBOARD_HOST=${I_HOST[$name]}"
        echo "SWITCHBOARD_PORT=${I_PORT[$name]}"
        echo "SWITCHBOARD_ADMIN_PORT=${I_ADMIN[$name]}"
        echo "SWITCHBOARD_NODE_NAME=$name"
    } > "$env_file"
    on_host "$name" mkdir -p "releases/$version/etc" || fail "$name: cannot write releases/$version/etc"
    copy_to_host "$name" "$env_file" "${I_DIR[$name]}/releases/$version/etc/switchboard.env" \
        || fail "$name: cannot write releases/$version/etc/switchboard.env"
    rm -f "$env_file"
}

# switch_release NAME VERSION: previous -> what current was, current -> VERSION.
switch_release() {
    local name="$1" version="$2" old
    old="$(release_of "$name" current)"
    if [ -n "$old" ] && [ "$old" != "$version" ]; then
        on_host "$name" ln -sfn "releases/$old" previous || fail "$name: cannot point previous at releases/$old"
    fi
    on_host "$name" ln -sfn "releases/$version" current || fail "$name: cannot point current at releases/$version"
    note "$name: current -> releases/$version${old:+ (previous: $old)}"
}

# start_instance NAME: starts current and waits for /readyz; 1 on failure.
start_instance() {
    local name="$1" release
    release="$(release_of "$name" current)"
    note "$name: starting $release"
    ctl "$name" daemon | sed 's/^/    /' || { note "$name: switchboardctl daemon failed"; return 1; }
    wait_ready "$name" "$DEPLOY_READY_TIMEOUT"
}

# stop_instance NAME: SIGTERM through switchboardctl of current (waits for
# the drain and the exit); nothing when no release is installed.
stop_instance() {
    if ! on_host "$1" test -x current/bin/switchboardctl; then
        note "$1: no release installed"
        return 0
    fi
    guard_live "$1" stop
    ctl "$1" stop | sed 's/^/    /' || fail "$1: switchboardctl stop failed"
}

# drain_instance NAME: out of HAProxy rotation, then closes every connection
# over the drain window through the admin API, and waits until none is left.
drain_instance() {
    local name="$1" window
    guard_live "$name" "drain"
    if ! is_running "$name"; then
        note "$name: not running, nothing to drain"
        haproxy_set "$name" maint
        return 0
    fi
    haproxy_set "$name" drain
    admin "$name" drain --over "$DEPLOY_DRAIN_WINDOW" | sed 's/^/    /' \
        || fail "$name: admin drain failed (is SWITCHBOARD_ADMIN_TOKEN right?)"
    window="$(duration_seconds "$DEPLOY_DRAIN_WINDOW")"
    wait_drained "$name" $((window + 30)) || problem "$name: not drained within $((window + 30))s; stopped with connections left (SIGTERM drains the rest)"
    haproxy_set "$name" maint
}

# bring_up NAME: HAProxy slot ready and seen UP by its checks.
bring_up() {
    haproxy_set "$1" ready
    wait_haproxy_up "$1" 30 || fail "$1: HAProxy does not see ${I_COLOUR[$1]}/$1 up"
}

# replace_release NAME VERSION: drain, stop, switch to VERSION, start, ready.
# An instance that already runs VERSION (current, /healthz, /readyz) is only
# made sure to be ready in HAProxy: re-running a deploy resumes it. On a
# failed start the instance goes back to the release it ran, started and
# ready, and replace_release returns 1.
replace_release() {
    local name="$1" version="$2" old old_previous running
    old="$(release_of "$name" current)"
    old_previous="$(release_of "$name" previous)"
    running="$(running_version "$name")"
    if [ "$old" = "$version" ] && [ "$running" = "$version" ] \
        && [ "$(http_status "http://${I_HOST[$name]}:${I_PORT[$name]}/readyz")" = 200 ]; then
        note "$name: already runs $version"
        bring_up "$name"
        return 0
    fi
    drain_instance "$name"
    stop_instance "$name"
    switch_release "$name" "$version"
    if start_instance "$name"; then
        bring_up "$name"
        running="$(running_version "$name")"
        note "$name: runs $running"
        return 0
    fi
    echo "deploy: $name failed its health check on $version; putting it back on ${old:-nothing}" >&2
    { on_host "$name" tail -n 20 "shared/log/switchboard.log" 2>/dev/null || true; } | sed 's/^/    log: /' >&2
    ctl "$name" stop | sed 's/^/    /' || true
    [ -n "$old" ] || return 1
    on_host "$name" ln -sfn "releases/$old" current || fail "$name: cannot point current back at releases/$old"
    if [ -n "$old_previous" ]; then on_host "$name" ln -sfn "releases/$old_previous" previous || true; fi
    start_instance "$name" || fail "$name: its previous release $old does not start either"
    bring_up "$name"
    return 1
}

# rebalance NAME: cluster rebalance through NAME's admin API, then the counts.
rebalance() {
    local name="$1" window
    step "rebalance the cluster (tolerance $DEPLOY_REBALANCE_TOLERANCE, over $DEPLOY_REBALANCE_WINDOW)"
    admin "$name" rebalance --tolerance "$DEPLOY_REBALANCE_TOLERANCE" --over "$DEPLOY_REBALANCE_WINDOW" | sed 's/^/    /' \
        || fail "rebalance failed: \`switchboard admin rebalance\` through $name (does this release have it?)"
    window="$(duration_seconds "$DEPLOY_REBALANCE_WINDOW")"
    sleep "$((window + 2))"
}

# Prints one line per instance: name, colour, release, version, connections.
show_cluster() {
    local name release version count
    for name in "$@"; do
        release="$(release_of "$name" current)"
        version="$(running_version "$name")"
        count="$(connection_count "$name")"
        note "$(printf '%-10s %-6s current=%-12s version=%-12s connections=%s' \
            "$name" "${I_COLOUR[$name]}" "$release" "$version" "$count")"
    done
}

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
#
# Settings (environment):
#   DEPLOY_INVENTORY            inventory file (default deploy/inventory)
#   DEPLOY_MODE                 local (processes on this machine) or ssh
#   DEPLOY_SSH                  ssh command for ssh mode (default "ssh -o BatchMode=yes")
#   SWITCHBOARD_HAPROXY_SOCKET  HAProxy stats socket (admin level)
#   SWITCHBOARD_ACTIVE_MAP      the map file HAProxy reads the active colour from,
#                               as HAProxy names it (runtime `set map`)
#   DEPLOY_ACTIVE_MAP_FILE      that file's path here, when it differs (rewritten)
#   SWITCHBOARD_ADMIN_TOKEN     the instances' admin token
#   DEPLOY_DRAIN_WINDOW         window a node's connections are closed over (default 30s)
#   DEPLOY_READY_TIMEOUT        seconds a started instance has to answer /readyz (default 60)
#   DEPLOY_REBALANCE_TOLERANCE  default 10%;  DEPLOY_REBALANCE_WINDOW default 10s

DEPLOY_INVENTORY="${DEPLOY_INVENTORY:-deploy/inventory}"
DEPLOY_MODE="${DEPLOY_MODE:-local}"
DEPLOY_SSH="${DEPLOY_SSH:-ssh -o BatchMode=yes}"
SWITCHBOARD_HAPROXY_SOCKET="${SWITCHBOARD_HAPROXY_SOCKET:-/run/haproxy/switchboard.sock}"
SWITCHBOARD_ACTIVE_MAP="${SWITCHBOARD_ACTIVE_MAP:-deploy/haproxy/active.map}"
DEPLOY_ACTIVE_MAP_FILE="${DEPLOY_ACTIVE_MAP_FILE:-$SWITCHBOARD_ACTIVE_MAP}"
DEPLOY_DRAIN_WINDOW="${DEPLOY_DRAIN_WINDOW:-30s}"
DEPLOY_READY_TIMEOUT="${DEPLOY_READY_TIMEOUT:-60}"
DEPLOY_REBALANCE_TOLERANCE="${DEPLOY_REBALANCE_TOLERANCE:-10%}"
DEPLOY_REBALANCE_WINDOW="${DEPLOY_REBALANCE_WINDOW:-10s}"

fail() { echo "deploy: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
note() { echo "    $*"; }

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
        [ -n "$dir" ] && [ -z "$extra" ] \
            || fail "$DEPLOY_INVENTORY:$line_number: expected: name host port admin_port colour release_dir"
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
        [ "${I_COLOUR[$name]}" = "$1" ] && echo "$name"
    done
    return 0
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
# release, against its admin API, with the token from the deploy's environment.
admin() {
    local name="$1"; shift
    [ -n "${SWITCHBOARD_ADMIN_TOKEN:-}" ] || fail "SWITCHBOARD_ADMIN_TOKEN is not set (the instances' admin token)"
    on_host "$name" env "SWITCHBOARD_ADMIN_TOKEN=$SWITCHBOARD_ADMIN_TOKEN" \
        current/bin/switchboard admin "$@" --url "$(admin_url "$name")"
}

# ctl NAME COMMAND [RELEASE]: bin/switchboardctl of `current` (or of releases/RELEASE).
ctl() {
    local release="${3:+releases/$3}"
    on_host "$1" "${release:-current}/bin/switchboardctl" "$2"
}

# --- HTTP checks (from this machine) -----------------------------------------
# http_status URL: the HTTP status, or 000 when nothing answers.
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

# The version /healthz reports, or nothing.
running_version() {
    curl -s --max-time 3 "http://${I_HOST[$1]}:${I_PORT[$1]}/healthz" 2>/dev/null \
        | sed -n 's/.*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}

# The node's open connections (admin /stats), or nothing.
connection_count() {
    # The first "connections" of the answer is the node's own (top level).
    admin "$1" stats --json 2>/dev/null | grep -o '"connections"[[:space:]]*:[[:space:]]*[0-9]*' \
        | head -n 1 | grep -o '[0-9]*$'
}

# wait_drained NAME TIMEOUT_SECONDS: until the node holds no connection.
wait_drained() {
    local name="$1" deadline=$((SECONDS + $2)) count
    while :; do
        count="$(connection_count "$name" || true)"
        [ "$count" = 0 ] && return 0
        if [ -z "$count" ]; then note "$name: admin API not answering; treating it as drained"; return 0; fi
        [ "$SECONDS" -lt "$deadline" ] || { note "$name: still $count connections after ${2}s"; return 1; }
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
haproxy_cmd() {
    local answer
    [ -S "$SWITCHBOARD_HAPROXY_SOCKET" ] || fail "no HAProxy stats socket at $SWITCHBOARD_HAPROXY_SOCKET (set SWITCHBOARD_HAPROXY_SOCKET)"
    answer="$(echo "$1" | socat -t 5 stdio "UNIX-CONNECT:$SWITCHBOARD_HAPROXY_SOCKET")" \
        || fail "HAProxy runtime API: \"$1\" failed"
    # Commands that change something answer nothing, or a message on error.
    case "$answer" in
        ""|*"Done."*|*"done"*) ;;
        *) [ "${2:-}" = quiet ] || note "haproxy: $answer" ;;
    esac
    printf '%s' "$answer"
}

# haproxy_set NAME STATE: ready, drain or maint for the instance's slot
# (<colour>/<name>); `ready` also points the slot at the instance's address.
haproxy_set() {
    local name="$1" state="$2" slot="${I_COLOUR[$1]}/$1"
    if [ "$state" = ready ]; then
        haproxy_cmd "set server $slot addr ${I_HOST[$name]} port ${I_PORT[$name]}" quiet >/dev/null
    fi
    haproxy_cmd "set server $slot state $state" >/dev/null
    note "haproxy: $slot $state"
}

# The slot's status in `show stat` (UP, DOWN, MAINT, DRAIN, …).
haproxy_status() {
    haproxy_cmd "show stat" quiet | awk -F, -v b="${I_COLOUR[$1]}" -v s="$1" '$1 == b && $2 == s { print $18 }'
}

# wait_haproxy_up NAME TIMEOUT_SECONDS: until HAProxy's checks see the slot UP.
wait_haproxy_up() {
    local name="$1" deadline=$((SECONDS + $2)) status
    while :; do
        status="$(haproxy_status "$name")"
        [[ "$status" == UP* ]] && return 0
        [ "$SECONDS" -lt "$deadline" ] || { note "haproxy: ${I_COLOUR[$name]}/$name is ${status:-unknown} after ${2}s"; return 1; }
        sleep 0.5
    done
}

# The active colour, from HAProxy's map.
active_colour() {
    local colour
    colour="$(haproxy_cmd "show map $SWITCHBOARD_ACTIVE_MAP" quiet | awk '$2 == "active" { print $3 }')"
    echo "${colour:-blue}"
}

# set_active_colour COLOUR: runtime `set map` and the file, so a reload keeps it.
set_active_colour() {
    haproxy_cmd "set map $SWITCHBOARD_ACTIVE_MAP active $1" >/dev/null
    local file="$DEPLOY_ACTIVE_MAP_FILE" temporary
    temporary="$(mktemp "$(dirname "$file")/.active.map.XXXXXX")"
    {
        grep -v '^active[[:space:]]' "$file" 2>/dev/null || true
        echo "active $1"
    } > "$temporary"
    mv -f "$temporary" "$file"
    note "haproxy: active backend $1 (runtime map and $file)"
}

# --- releases ----------------------------------------------------------------
# preflight TARBALL VERSION NAME: the release's binary runs on NAME's host and
# reports VERSION (catches a broken build before any instance is touched).
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
# adapter, so it stays out of the cluster; admin on a spare port too) and
# waits for /readyz, then stops it. A release that cannot start is caught
# before any instance is drained.
TRIAL_START='
release="$1" timeout="$2" log="$(mktemp)"
"$release/bin/switchboardctl" start --host 127.0.0.1 --port 0 --admin-port 0 --adapter local --log-level info >"$log" 2>&1 &
pid=$!
trap "kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f $log" EXIT
deadline=$((SECONDS + timeout))
while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "it exited at start:"; tail -n 5 "$log"; exit 1; fi
    port="$(sed -n "s|.* listening on http://[^ ]*:\([0-9][0-9]*\) .*|\1|p" "$log" | head -n 1)"
    if [ -n "$port" ] && [ "$(curl -s -o /dev/null -w "%{http_code}" --max-time 2 "http://127.0.0.1:$port/readyz")" = 200 ]; then
        exit 0
    fi
    sleep 0.3
done
echo "not ready within ${timeout}s:"; tail -n 5 "$log"; exit 1
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

# The release `current` (or `previous`) points at, or nothing.
release_of() {
    on_host "$1" readlink "$2" 2>/dev/null | sed 's|.*/||' || true
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
        on_host "$name" mkdir -p "releases/$version.partial" shared
        copy_to_host "$name" "$tarball" "$dir/releases/$version.tar.gz"
        # Low priority: the instances still serving share this CPU in local mode.
        on_host "$name" nice -n 10 tar -xzf "releases/$version.tar.gz" -C "releases/$version.partial"
        on_host "$name" rm -f "releases/$version.tar.gz"
        on_host "$name" mv -T "releases/$version.partial" "releases/$version"
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
    on_host "$name" mkdir -p "releases/$version/etc"
    copy_to_host "$name" "$env_file" "${I_DIR[$name]}/releases/$version/etc/switchboard.env"
    rm -f "$env_file"
}

# switch_release NAME VERSION: previous -> what current was, current -> VERSION.
switch_release() {
    local name="$1" version="$2" old
    old="$(release_of "$name" current)"
    if [ -n "$old" ] && [ "$old" != "$version" ]; then
        on_host "$name" ln -sfn "releases/$old" previous
    fi
    on_host "$name" ln -sfn "releases/$version" current
    note "$name: current -> releases/$version${old:+ (previous: $old)}"
}

# start_instance NAME: starts current and waits for /readyz; 1 on failure.
start_instance() {
    local name="$1"
    note "$name: starting $(release_of "$name" current)"
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
    ctl "$1" stop | sed 's/^/    /' || fail "$1: switchboardctl stop failed"
}

# drain_instance NAME: out of HAProxy rotation, then closes every connection
# over the drain window through the admin API, and waits until none is left.
drain_instance() {
    local name="$1"
    if ! on_host "$name" current/bin/switchboardctl status >/dev/null 2>&1; then
        note "$name: not running, nothing to drain"
        haproxy_set "$name" maint
        return 0
    fi
    haproxy_set "$name" drain
    admin "$name" drain --over "$DEPLOY_DRAIN_WINDOW" | sed 's/^/    /' \
        || fail "$name: admin drain failed (is SWITCHBOARD_ADMIN_TOKEN right?)"
    local window
    window="$(duration_seconds "$DEPLOY_DRAIN_WINDOW")"
    wait_drained "$name" $((window + 30)) || note "$name: stopping with connections left (SIGTERM drains the rest)"
    haproxy_set "$name" maint
}

# bring_up NAME: HAProxy slot ready and seen UP by its checks.
bring_up() {
    haproxy_set "$1" ready
    wait_haproxy_up "$1" 30 || fail "$1: HAProxy does not see ${I_COLOUR[$1]}/$1 up"
}

# replace_release NAME VERSION: drain, stop, switch to VERSION, start, ready.
# On a failed start the instance goes back to the release it ran, started
# and ready, and replace_release returns 1.
replace_release() {
    local name="$1" version="$2" old old_previous
    old="$(release_of "$name" current)"
    old_previous="$(release_of "$name" previous)"
    if [ "$old" = "$version" ] && [ "$(running_version "$name")" = "$version" ] \
        && [ "$(http_status "http://${I_HOST[$name]}:${I_PORT[$name]}/readyz")" = 200 ]; then
        note "$name: already runs $version"
        bring_up "$name"
        return 0
    fi
    drain_instance "$name"
    stop_instance "$name"
    switch_release "$name" "$version" || fail "$name: cannot switch current to $version"
    if start_instance "$name"; then
        bring_up "$name"
        note "$name: runs $(running_version "$name")"
        return 0
    fi
    echo "deploy: $name failed its health check on $version; putting it back on ${old:-nothing}" >&2
    on_host "$name" tail -n 20 "current/log/switchboard.log" 2>/dev/null | sed 's/^/    log: /' >&2 || true
    stop_instance "$name" || true
    [ -n "$old" ] || return 1
    on_host "$name" ln -sfn "releases/$old" current
    if [ -n "$old_previous" ]; then on_host "$name" ln -sfn "releases/$old_previous" previous; fi
    start_instance "$name" || fail "$name: its previous release $old does not start either"
    bring_up "$name"
    return 1
}

# rebalance NAME: cluster rebalance through NAME's admin API, then the counts.
rebalance() {
    local name="$1"
    step "rebalance the cluster (tolerance $DEPLOY_REBALANCE_TOLERANCE, over $DEPLOY_REBALANCE_WINDOW)"
    admin "$name" rebalance --tolerance "$DEPLOY_REBALANCE_TOLERANCE" --over "$DEPLOY_REBALANCE_WINDOW" | sed 's/^/    /' \
        || fail "rebalance failed: \`switchboard admin rebalance\` through $name (does this release have it?)"
    sleep "$(( $(duration_seconds "$DEPLOY_REBALANCE_WINDOW") + 2 ))"
}

# Prints one line per instance: name, colour, release, version, connections.
show_cluster() {
    local name
    for name in "$@"; do
        note "$(printf '%-10s %-6s current=%-12s version=%-12s connections=%s' \
            "$name" "${I_COLOUR[$name]}" "$(release_of "$name" current)" \
            "$(running_version "$name")" "$(connection_count "$name")")"
    done
}

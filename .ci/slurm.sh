# A real single-node SLURM cluster for the SLURM tests (tests/sweeps/test_slurm.py), started
# without systemd and stopped by PID. Debian's packages, as root.
#
#   source .ci/slurm.sh          # a shell: start (idempotent), stop at the shell's exit
#   source .ci/slurm.sh required # .ci/run: the same, and no cluster is an error
#   bash .ci/slurm.sh start|stop|status   # by hand: a cluster that stays up until `stop`
#
# Sourced, it installs what is missing (apt-get install slurmctld slurmd slurm-client munge
# slurmdbd mariadb-server, about 20 s), starts munged, mariadbd, slurmdbd, slurmctld and slurmd
# directly (3 to 5 s to a ready node), exports TRAINER_TEST_SLURM=required and stops, at the
# shell's exit, the daemons it started. A cluster this script started in another shell that is
# still alive (or one started by hand) is used and left to it; one whose shell is gone is taken
# over. Where SLURM cannot be installed (not root, no apt-get) it says so and the SLURM tests
# skip, unless it was sourced with `required` (or TRAINER_TEST_SLURM=required): then it fails.
#
# What the configuration must hold here, each trap measured on a 2-core machine:
# - accounting (slurmdbd + MariaDB): submitit learns that a job ended without a result
#   (cancelled, timed out, killed) only through `sacct`; without it, it waits forever;
# - KillWait=5: submitit jobs ignore SIGTERM, and a COMPLETING job blocks the node (default 30 s);
# - SchedulerParameters=batch_sched_delay=0,sched_interval=5: a job starts in about 1 s (not 3),
#   and a requeued job is seen within 5 s;
# - AuthInfo=cred_expire=10: a requeued job may start again after 10 s (default 120 s);
# - one node with this machine's CPUs (2 here): a job asking for more stays pending forever;
# - without slurmctld state, job ids restart at 1: the old accounting database is dropped, or
#   `sacct -j ID` (what submitit reads) returns an earlier job's rows.
#
# Knobs: TRAINER_CI_SLURM_DIR (PID files, default /tmp/trainer-ci-slurm).

_SLURM_DIR=${TRAINER_CI_SLURM_DIR:-/tmp/trainer-ci-slurm}
_SLURM_CLUSTER=trainer-ci
_SLURM_PARTITION=cpu            # the partition README recipe 3a names
_SLURM_CONF=/etc/slurm/slurm.conf
_SLURM_DBD_CONF=/etc/slurm/slurmdbd.conf
_SLURM_CTLD_SPOOL=/var/spool/slurmctld
_SLURM_D_SPOOL=/var/spool/slurmd
_SLURM_LOGS=/var/log/slurm
_SLURM_MARKER="# written by the trainer project's .ci/slurm.sh"
_SLURM_PACKAGES="slurmctld slurmd slurm-client munge slurmdbd mariadb-server"
_SLURM_DAEMONS="slurmd slurmctld slurmdbd mariadbd munged"   # the order they stop in

_slurm_log() { echo "slurm: $*" >&2; }

# _slurm_alive PID NAME: PID runs NAME (guards against a reused PID) and is not a zombie (a
# killed daemon stays one for a second or so here).
_slurm_alive() {
    [ -n "${1:-}" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] \
        && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
# _slurm_ours NAME: a daemon NAME this script started still runs
_slurm_ours() { [ -f "$_SLURM_DIR/$1.pid" ] && _slurm_alive "$(cat "$_SLURM_DIR/$1.pid")" "$1"; }
# _slurm_wait SECONDS CMD...: poll CMD every 0.1 s
_slurm_wait() {
    local end=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.1; done
}
_slurm_pidfile_ready() { [ -s "$1" ] && _slurm_alive "$(cat "$1")" "$2"; }

# _slurm_start_daemon NAME PIDFILE CMD...: start NAME unless it runs; PIDFILE is the one the
# daemon writes. A daemon running that this script did not start is left alone.
_slurm_start_daemon() {
    local name=$1 pidfile=$2; shift 2
    _slurm_ours "$name" && return 0
    rm -f "$_SLURM_DIR/$name.pid"
    if _slurm_pidfile_ready "$pidfile" "$name"; then
        _slurm_log "$name already runs (pid $(cat "$pidfile")), not started here: left alone"
        return 0
    fi
    rm -f "$pidfile"
    "$@" || { _slurm_log "$name did not start"; return 1; }
    if ! _slurm_wait 30 _slurm_pidfile_ready "$pidfile" "$name"; then
        _slurm_log "$name did not start (its log: $_SLURM_LOGS/)"; return 1
    fi
    cat "$pidfile" >"$_SLURM_DIR/$name.pid"
}

_slurm_installed() {
    local binary
    for binary in slurmctld slurmd slurmdbd munged mariadbd; do
        [ -x "/usr/sbin/$binary" ] || return 1
    done
    command -v sbatch >/dev/null 2>&1
}

_slurm_install() {
    _slurm_installed && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        _slurm_log "cannot install SLURM here (needs root and apt-get: apt-get install -y" \
            "$_SLURM_PACKAGES)"
        return 1
    fi
    _slurm_log "installing $_SLURM_PACKAGES"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $_SLURM_PACKAGES >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                 $_SLURM_PACKAGES >/dev/null; }
}

_slurm_write_if_changed() {  # FILE MODE OWNER: stdin to FILE when it differs; 0 when written
    local file=$1 mode=$2 owner=$3 new
    new=$(mktemp)
    cat >"$new"
    if cmp -s "$new" "$file"; then rm -f "$new"; return 1; fi
    if [ -f "$file" ] && ! grep -qF "$_SLURM_MARKER" "$file"; then
        cp -p "$file" "$file.before-trainer-ci"
        _slurm_log "kept the $file found here as $file.before-trainer-ci"
    fi
    install -m "$mode" -o "$owner" -g "$owner" "$new" "$file"
    rm -f "$new"
}

_slurm_configure() {
    local host cpus sockets cores threads memory
    host=$(hostname -s)
    # the node as slurmd sees it; RealMemory 1 GiB below the total, never above it
    read -r cpus sockets cores threads < <(/usr/sbin/slurmd -C | head -1 | sed -E \
        's/.* CPUs=([0-9]+) .*SocketsPerBoard=([0-9]+) CoresPerSocket=([0-9]+) ThreadsPerCore=([0-9]+).*/\1 \2 \3 \4/')
    memory=$(free -m | awk '/^Mem:/ {print $2}')
    memory=$(( memory > 2048 ? memory - 1024 : memory / 2 ))
    install -d -o slurm -g slurm -m 755 "$_SLURM_CTLD_SPOOL" "$_SLURM_LOGS"
    install -d -m 755 "$_SLURM_D_SPOOL" /etc/slurm
    _slurm_write_if_changed "$_SLURM_CONF" 644 root <<EOF && _SLURM_CONF_CHANGED=1
$_SLURM_MARKER
ClusterName=$_SLURM_CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# how long a requeued job waits before it may start again (default 120 s)
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$_SLURM_CTLD_SPOOL/slurmctld.pid
SlurmdPidFile=$_SLURM_D_SPOOL/slurmd.pid
SlurmdSpoolDir=$_SLURM_D_SPOOL
StateSaveLocation=$_SLURM_CTLD_SPOOL
SlurmctldLogFile=$_SLURM_LOGS/slurmctld.log
SlurmdLogFile=$_SLURM_LOGS/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MailProg=/bin/true
SchedulerType=sched/backfill
# jobs start at once (default batch_sched_delay=3); the whole queue is scanned every 5 s
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000,sched_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
InactiveLimit=0
# submitit jobs ignore SIGTERM: SIGKILL 5 s later (default 30 s, a COMPLETING job blocks the node)
KillWait=5
MinJobAge=300
SlurmctldTimeout=120
SlurmdTimeout=300
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Sockets=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$memory State=UNKNOWN
PartitionName=$_SLURM_PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

_slurm_start_accounting() {
    install -d -o mysql -g root -m 755 /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null || return 1
    fi
    _slurm_start_daemon mariadbd /run/mysqld/mysqld.pid sh -c "setsid /usr/sbin/mariadbd \
        --user=mysql --pid-file=/run/mysqld/mysqld.pid --socket=/run/mysqld/mysqld.sock \
        --bind-address=127.0.0.1 >>$_SLURM_LOGS/mariadb.log 2>&1 </dev/null &" || return 1
    _slurm_wait 60 mysqladmin ping || { _slurm_log "MariaDB does not answer"; return 1; }
    # No slurmctld state: job ids restart at 1, so the accounting rows of earlier ids go too.
    if [ ! -e "$_SLURM_CTLD_SPOOL/job_state" ] && ! _slurm_ours slurmctld \
            && ! _slurm_ours slurmdbd \
            && [ -n "$(mysql -N -e "SHOW DATABASES LIKE 'slurm_acct_db'")" ]; then
        mysql -e "DROP DATABASE slurm_acct_db"
    fi
    # MariaDB on loopback, this throw-away cluster's only user: the password guards nothing.
    mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              ALTER USER 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || return 1
    _slurm_write_if_changed "$_SLURM_DBD_CONF" 600 slurm <<EOF && _slurm_stop_daemon slurmdbd
$_SLURM_MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=$_SLURM_LOGS/slurmdbd.log
PidFile=$_SLURM_CTLD_SPOOL/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    _slurm_start_daemon slurmdbd "$_SLURM_CTLD_SPOOL/slurmdbd.pid" /usr/sbin/slurmdbd || return 1
    _slurm_wait 60 sacctmgr -n -P show cluster || { _slurm_log "slurmdbd does not answer"; return 1; }
    if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$_SLURM_CLUSTER"; then
        sacctmgr -i add cluster "$_SLURM_CLUSTER" >/dev/null || return 1
    fi
}

_slurm_node_ready() {
    sinfo -h -n "$(hostname -s)" -o %T | grep -qE '^(idle|mixed|allocated|completing)$'
}

# _slurm_owner_alive: the shell that started the cluster still runs (or it was started by hand)
_slurm_owner_alive() {
    local owner
    owner=$(cat "$_SLURM_DIR/owner" 2>/dev/null) || return 1
    [ "$owner" = manual ] || kill -0 "$owner" 2>/dev/null
}

slurm_start() {  # OWNER: the shell that stops it (its $$), or "manual"
    local owner=$1 t0=$SECONDS
    mkdir -p "$_SLURM_DIR"
    _slurm_install || return 2
    # A cluster another live shell started (or one started by hand): used, and left to it.
    if [ "$(cat "$_SLURM_DIR/owner" 2>/dev/null)" != "$owner" ] && _slurm_owner_alive \
            && _slurm_ours slurmd && _slurm_node_ready; then
        _slurm_log "using the cluster that $(cat "$_SLURM_DIR/owner") started"
        return 0
    fi
    echo "$owner" >"$_SLURM_DIR/owner"
    # munge: every daemon and command authenticates through it
    [ -s /etc/munge/munge.key ] || /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/log/munge
    if ! _slurm_ours munged && ! _slurm_pidfile_ready /run/munge/munged.pid munged \
            && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        _slurm_log "a munged not started here answers: using it"
    else  # --force: past the socket a killed munged left behind
        _slurm_start_daemon munged /run/munge/munged.pid \
            runuser -u munge -- /usr/sbin/munged --force || return 1
    fi
    _slurm_wait 10 sh -c 'munge -n | unmunge' || { _slurm_log "munge does not work"; return 1; }

    _SLURM_CONF_CHANGED=0
    _slurm_configure
    if [ "$_SLURM_CONF_CHANGED" = 1 ]; then  # a running controller must read it again
        _slurm_stop_daemon slurmd; _slurm_stop_daemon slurmctld
    fi
    _slurm_start_accounting || return 1
    _slurm_start_daemon slurmctld "$_SLURM_CTLD_SPOOL/slurmctld.pid" /usr/sbin/slurmctld || return 1
    _slurm_wait 30 scontrol ping || { _slurm_log "slurmctld does not answer"; return 1; }
    _slurm_start_daemon slurmd "$_SLURM_D_SPOOL/slurmd.pid" /usr/sbin/slurmd || return 1
    if ! _slurm_wait 60 _slurm_node_ready; then
        scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1
        _slurm_wait 30 _slurm_node_ready \
            || { _slurm_log "node not usable: $(sinfo -h -o '%T %E')"; return 1; }
    fi
    _slurm_log "ready in $((SECONDS - t0)) s: partition $_SLURM_PARTITION, $(sinfo -h -o '%c CPUs on %N')"
}

_slurm_stop_daemon() {  # NAME: stop the daemon this script started, by its recorded PID
    local name=$1 file="$_SLURM_DIR/$1.pid" pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if _slurm_alive "$pid" "$name"; then
        kill -TERM "$pid"
        for _ in $(seq 300); do _slurm_alive "$pid" "$name" || break; sleep 0.1; done
        if _slurm_alive "$pid" "$name"; then kill -KILL "$pid"; sleep 0.5; fi
    fi
    rm -f "$file"
}

slurm_stop() {  # OWNER: stops only the cluster OWNER started ("any": whoever did)
    [ "$1" = any ] || [ "$(cat "$_SLURM_DIR/owner" 2>/dev/null)" = "$1" ] || return 0
    if _slurm_ours slurmctld && [ -n "$(squeue -h -o %A 2>/dev/null)" ]; then
        # no job outlives slurmd
        scancel $(squeue -h -o %A | sort -u) 2>/dev/null
        for _ in $(seq 150); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
    fi
    local name
    for name in $_SLURM_DAEMONS; do _slurm_stop_daemon "$name"; done
    rm -f "$_SLURM_DIR/owner"
}

slurm_status() {
    local name
    for name in $_SLURM_DAEMONS; do
        if _slurm_ours "$name"; then echo "$name: pid $(cat "$_SLURM_DIR/$name.pid")"
        else echo "$name: not started here"; fi
    done
    command -v sinfo >/dev/null 2>&1 && sinfo 2>&1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # executed: one action
    set -uo pipefail
    case "${1:-}" in
        start) slurm_start manual ;;
        stop) slurm_stop any ;;
        status) slurm_status ;;
        *) echo "usage: bash .ci/slurm.sh start|stop|status (or: source .ci/slurm.sh)" >&2; exit 2 ;;
    esac
    exit $?
fi

# Sourced: start now, stop when the shell exits (after what an earlier EXIT trap runs).
# `source .ci/slurm.sh required` (CI): the SLURM tests must run, so no cluster is an error.
[ "${1:-}" = required ] && export TRAINER_TEST_SLURM=required
if slurm_start "$$"; then
    export TRAINER_TEST_SLURM=required
    if [ "$(trap -p EXIT)" != "trap -- '_slurm_on_exit' EXIT" ]; then  # sourced once already
        _SLURM_EARLIER_EXIT=$(trap -p EXIT)
        _slurm_on_exit() {
            slurm_stop "$$"
            if [ -n "$_SLURM_EARLIER_EXIT" ]; then  # `trap -- 'COMMANDS' EXIT`, quoted by bash
                eval "set -- $_SLURM_EARLIER_EXIT"
                eval "$3"
            fi
        }
        trap _slurm_on_exit EXIT
        trap 'exit 143' TERM
        trap 'exit 130' INT
    fi
else
    _slurm_status=$?
    slurm_stop "$$"
    if [ "$_slurm_status" = 2 ] && [ "${TRAINER_TEST_SLURM:-}" != required ]; then
        _slurm_log "the SLURM tests will skip"
    else
        _slurm_log "no SLURM cluster, and TRAINER_TEST_SLURM=required"
        return 1 2>/dev/null || exit 1
    fi
fi

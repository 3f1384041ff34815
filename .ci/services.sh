# Sourced by .ci/run: the services the scale-out tests need (tests/cluster/), stopped at exit.
#
# - PostgreSQL 15 (in the machine's image, not running): started only if down, and stopped
#   again only if this script started it. A role with a password (TCP logins on 127.0.0.1 need
#   one) and its databases are created idempotently and dropped at exit: a machine may be reused.
# - An MLflow tracking server on that PostgreSQL with proxied artifacts (workers share no
#   files with it), on 127.0.0.1:5400.
#
# Exports TRAINER_TEST_PG_URL (an Optuna storage; the role may create databases, for the tests
# that need a fresh one), TRAINER_TEST_MLFLOW_URL, and TRAINER_TEST_CLUSTER=required so that
# those tests fail instead of skipping when a service is missing.

_PG_VERSION=15
# Several copies may run on one machine at once (each its own role, databases and port).
_PG_ROLE=${TRAINER_CI_PG_ROLE:-trainer_ci}
# A password that appears nowhere else (not the role's or a database's name), so that a test can
# search every output of a sweep for it.
_PG_PASSWORD="ci-pw-$(printf %s "$_PG_ROLE" | md5sum | cut -c1-12)"
_PG_PORT=5432
_MLFLOW_PORT=${TRAINER_CI_MLFLOW_PORT:-5400}
_SERVICES_DIR=$(mktemp -d /tmp/trainer-ci-services.XXXXXX)
_PG_STARTED_HERE=0
_MLFLOW_PID=

_psql() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAX -p $_PG_PORT $*"; }

_stop_services() {
    set +e
    if [ -n "$_MLFLOW_PID" ]; then
        kill "$_MLFLOW_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$_MLFLOW_PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$_MLFLOW_PID" 2>/dev/null
    fi
    # This role's databases (its two and those its tests created, ROLE_fresh_*) and the role go;
    # the cluster stops if it was ours.
    for db in $(_psql "-c \"SELECT datname FROM pg_database WHERE datname IN ('${_PG_ROLE}_optuna', '${_PG_ROLE}_mlflow') OR starts_with(datname, '${_PG_ROLE}_fresh_')\"" 2>/dev/null); do
        _psql "-c 'DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)'" >/dev/null 2>&1
    done
    _psql "-c 'DROP ROLE IF EXISTS $_PG_ROLE'" >/dev/null 2>&1
    if [ "$_PG_STARTED_HERE" = 1 ]; then
        pg_ctlcluster --skip-systemctl-redirect "$_PG_VERSION" main stop >/dev/null 2>&1
    fi
    rm -rf "$_SERVICES_DIR"
}
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v mlflow >/dev/null 2>&1; then
    echo "services: PostgreSQL or mlflow not installed here; the cluster tests will skip" >&2
    return 0
fi
trap _stop_services EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if ! pg_lsclusters --no-header 2>/dev/null | awk -v v="$_PG_VERSION" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect "$_PG_VERSION" main start
    _PG_STARTED_HERE=1
fi
_psql "-c \"DO \\\$\\\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$_PG_ROLE') THEN
        CREATE ROLE $_PG_ROLE LOGIN CREATEDB;
    END IF;
    ALTER ROLE $_PG_ROLE PASSWORD '$_PG_PASSWORD'; END \\\$\\\$\""
for db in "${_PG_ROLE}_optuna" "${_PG_ROLE}_mlflow"; do
    if [ -z "$(_psql "-c \"SELECT 1 FROM pg_database WHERE datname = '$db'\"")" ]; then
        _psql "-c 'CREATE DATABASE $db OWNER $_PG_ROLE'"
    fi
done

_PG_BASE="postgresql+psycopg2://$_PG_ROLE:$_PG_PASSWORD@127.0.0.1:$_PG_PORT"
export TRAINER_TEST_PG_URL="$_PG_BASE/${_PG_ROLE}_optuna"
export TRAINER_TEST_MLFLOW_URL="http://127.0.0.1:$_MLFLOW_PORT"
export TRAINER_TEST_CLUSTER=required

# Job execution (MLflow's background job runner) only slows a busy machine's start-up.
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow server --workers 1 \
    --backend-store-uri "$_PG_BASE/${_PG_ROLE}_mlflow" \
    --artifacts-destination "$_SERVICES_DIR/artifacts" \
    --host 127.0.0.1 --port "$_MLFLOW_PORT" >"$_SERVICES_DIR/mlflow.log" 2>&1 &
_MLFLOW_PID=$!
# The first start creates MLflow's tables: one to two minutes on 2 busy cores.
for _ in $(seq 360); do
    if curl -fsS "$TRAINER_TEST_MLFLOW_URL/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$_MLFLOW_PID" 2>/dev/null; then
        echo "the MLflow server exited:" >&2; tail -20 "$_SERVICES_DIR/mlflow.log" >&2; exit 1
    fi
    sleep 0.5
done
if ! curl -fsS "$TRAINER_TEST_MLFLOW_URL/health" >/dev/null 2>&1; then
    echo "the MLflow server did not answer $TRAINER_TEST_MLFLOW_URL/health within 3 minutes:" >&2
    tail -20 "$_SERVICES_DIR/mlflow.log" >&2
    exit 1
fi
echo "services: PostgreSQL $_PG_VERSION on 127.0.0.1:$_PG_PORT, MLflow server on $TRAINER_TEST_MLFLOW_URL"

# Services the tests need, started on loopback and stopped on exit (sourced by scripts/test and
# scripts/services). Each start_* function exports the URL tests read:
#   FASHION_TEST_DATABASE_URL  a throwaway PostgreSQL cluster (initdb + pg_ctl)
#   FASHION_TEST_AWS_ENDPOINT  an AWS emulator (moto server from a local Python virtualenv)
#   FASHION_TEST_PYTHON        a Python with pyarrow and DuckDB, to prove other engines read the lake
# Tests that need a service fail with a clear message when its variable is unset; they never skip.

FASHION_CACHE="${FASHION_CACHE:-$HOME/.cache/fashion-pipeline}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
_cleanup_cmds=()

_cleanup() {
  local i
  for ((i = ${#_cleanup_cmds[@]} - 1; i >= 0; i--)); do
    eval "${_cleanup_cmds[$i]}" || true
  done
}
trap _cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  echo "PostgreSQL server binaries (initdb, pg_ctl) not found" >&2
  return 1
}

start_postgres() {
  local bin dir port as=()
  bin=$(pg_bindir)
  dir=$(mktemp -d /tmp/fashion-pg.XXXXXX)
  port=$(free_port)
  # PostgreSQL refuses to run as root: run the cluster as the postgres system user then.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U fashion -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
  _cleanup_cmds+=("${as[*]} $bin/pg_ctl -D $dir/data -m immediate stop >/dev/null 2>&1; rm -rf $dir")
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U fashion fashion_test
  export FASHION_TEST_DATABASE_URL="postgres://fashion@127.0.0.1:$port/fashion_test"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
}

start_moto() {
  local venv="$FASHION_CACHE/venv-moto-$MOTO_VERSION" port pid log
  if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  port=$(free_port)
  log=$(mktemp /tmp/fashion-moto.XXXXXX.log)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  pid=$!
  _cleanup_cmds+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f $log")
  local i
  for i in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      export FASHION_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
      echo "moto $MOTO_VERSION on 127.0.0.1:$port (pid $pid)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  cat "$log" >&2
  echo "moto server did not start" >&2
  return 1
}

prepare_lake_readers() {
  local venv="$FASHION_CACHE/venv-lake-readers"
  if ! "$venv/bin/python" -c 'import pyarrow, duckdb' >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pyarrow==26.0.1" "duckdb==2.0.1"
  fi
  export FASHION_TEST_PYTHON="$venv/bin/python"
  echo "lake readers: $("$venv/bin/python" -c 'import pyarrow, duckdb; print("pyarrow", pyarrow.__version__, "duckdb", duckdb.__version__)')"
}

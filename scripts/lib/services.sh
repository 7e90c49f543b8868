# Services the tests need, started on loopback and stopped on exit (sourced by scripts/test and
# scripts/services). Each start_* function exports the URL tests read:
#   FASHION_TEST_DATABASE_URL  a throwaway PostgreSQL cluster (initdb + pg_ctl)
#   FASHION_TEST_AWS_ENDPOINT  an AWS emulator (moto server from a local Python virtualenv), or
#                              LocalStack in Docker; none on real AWS (see start_aws_backend)
#   FASHION_TEST_MOTO_SERVER   the moto_server program, for tests that restart an emulator of
#                              their own
#   FASHION_TEST_PYTHON        a Python with pyarrow and DuckDB, to prove other engines read the lake
#   FASHION_TEST_BROWSER_PYTHON, FASHION_TEST_BROWSER_SCRIPT
#                              a Python with Selenium, and the script that drives Debian's Chromium
#                              through the shop page, the tracker and the dashboard (prepare_browser)
# Tests that need a service fail with a clear message when its variable is unset; they never skip.

FASHION_CACHE="${FASHION_CACHE:-$HOME/.cache/fashion-pipeline}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
SELENIUM_VERSION="${SELENIUM_VERSION:-4.51.0}"
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
      # Tests that stop and restart an emulator of their own start this server.
      export FASHION_TEST_MOTO_SERVER="$venv/bin/moto_server"
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

# LocalStack in Docker, through testcontainers (the `localstack` binary of fashion-tests, built
# with its `localstack` feature): it prints the endpoint once LocalStack is ready and removes the
# container when killed. Fails with "LocalStack needs a Docker engine" without one.
start_localstack() {
  local out log pid url
  out=$(mktemp /tmp/fashion-localstack.XXXXXX.out)
  log=$(mktemp /tmp/fashion-localstack.XXXXXX.log)
  # `cargo run` execs the binary (Unix), so $! is its pid and the kill reaches it.
  cargo run --quiet --locked -p fashion-tests --features localstack --bin localstack \
    >"$out" 2>"$log" &
  pid=$!
  _cleanup_cmds+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f $out $log")
  echo "starting LocalStack in Docker (first run: builds the starter, pulls the image)..."
  # No deadline here: the build is bounded by cargo, the container's start by the binary itself.
  while kill -0 "$pid" 2>/dev/null; do
    # `read` succeeds only on a whole line: the URL is never read half-written.
    if IFS= read -r url <"$out"; then
      export FASHION_TEST_AWS_BACKEND=localstack
      export FASHION_TEST_AWS_ENDPOINT="$url"
      echo "LocalStack on $url (pid $pid)"
      return 0
    fi
    sleep 0.5
  done
  cat "$log" >&2
  echo "LocalStack did not start" >&2
  return 1
}

# Real AWS: no emulator and no endpoint; the tests take the standard credential chain and region
# (AWS_PROFILE, AWS_REGION, ...; us-east-1 when none is named). Only with the explicit opt-in, since
# the tests create (and then delete) streams, tables, buckets and Glue databases there.
use_real_aws() {
  if [ "${FASHION_TEST_AWS_I_UNDERSTAND_THIS_CREATES_RESOURCES:-}" != 1 ]; then
    echo "FASHION_TEST_AWS_BACKEND=aws runs the AWS contract suites against real AWS, in the account and" >&2
    echo "region of your credentials: they create and delete Kinesis streams, DynamoDB tables, S3 buckets" >&2
    echo "and Glue databases, which costs money. Set FASHION_TEST_AWS_I_UNDERSTAND_THIS_CREATES_RESOURCES=1" >&2
    echo "to go ahead (and run them with scripts/test-aws)." >&2
    return 1
  fi
  unset FASHION_TEST_AWS_ENDPOINT
  export FASHION_TEST_AWS_BACKEND=aws
  echo "real AWS: credentials from the standard chain${AWS_PROFILE:+ (profile $AWS_PROFILE)}," \
    "region ${AWS_REGION:-${AWS_DEFAULT_REGION:-of the profile, else us-east-1}}"
}

# The AWS backend of the tests, picked by FASHION_TEST_AWS_BACKEND:
#   moto (default)  start_moto
#   localstack      start_localstack (needs Docker)
#   aws             use_real_aws (needs FASHION_TEST_AWS_I_UNDERSTAND_THIS_CREATES_RESOURCES=1)
start_aws_backend() {
  case "${FASHION_TEST_AWS_BACKEND:-moto}" in
    moto) start_moto ;;
    localstack) start_localstack ;;
    aws) use_real_aws ;;
    *)
      echo "FASHION_TEST_AWS_BACKEND=$FASHION_TEST_AWS_BACKEND: expected moto (the default), localstack or aws" >&2
      return 1
      ;;
  esac
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

# Headless Chromium for the browser test: Debian's chromium and chromium-driver (installed when
# missing), driven by Selenium from a local virtualenv. The test script names both binaries, so
# Selenium Manager never downloads a browser or a driver.
prepare_browser() {
  local venv="$FASHION_CACHE/venv-browser" script sudo=()
  script="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/apps/api/tests/browser/browser_test.py"
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    [ "$(id -u)" = 0 ] || sudo=(sudo -n)
    echo "installing Debian's chromium and chromium-driver..."
    # Wait for another apt (e.g. unattended upgrades) rather than fail on its lock.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq \
      && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        install -y -qq chromium chromium-driver >/dev/null \
      || { echo "could not install chromium and chromium-driver with apt-get" >&2; return 1; }
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
      echo "apt-get installed chromium and chromium-driver, but /usr/bin/chromium or /usr/bin/chromedriver is missing" >&2
      return 1
    fi
  fi
  if ! "$venv/bin/python" -c "import sys, selenium; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" >/dev/null 2>&1; then
    python3 -m venv "$venv" \
      && "$venv/bin/pip" install --quiet --disable-pip-version-check "selenium==$SELENIUM_VERSION" \
      || { echo "could not install selenium $SELENIUM_VERSION into $venv" >&2; return 1; }
  fi
  export FASHION_TEST_BROWSER_PYTHON="$venv/bin/python"
  export FASHION_TEST_BROWSER_SCRIPT="$script"
  # (Debian's launcher warns about its /dev/shm check on stderr: not ours to fix.)
  echo "browser: $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version | cut -d' ' -f1-2)," \
    "selenium $("$venv/bin/python" -c 'import selenium; print(selenium.__version__)')"
}

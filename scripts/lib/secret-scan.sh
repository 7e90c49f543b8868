#!/usr/bin/env bash
# Scans the repository's tracked files (git ls-files) for committed secrets with detect-secrets,
# a maintained scanner pinned by version and installed into a virtualenv under the project's cache
# (like moto in scripts/lib/services.sh), and fails naming every finding. Needs python3 with venv
# and pip, and git.
#   scripts/lib/secret-scan.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DETECT_SECRETS_VERSION=1.5.0
FASHION_CACHE="${FASHION_CACHE:-$HOME/.cache/fashion-pipeline}"
venv="$FASHION_CACHE/venv-detect-secrets-$DETECT_SECRETS_VERSION"

if [ "$("$venv/bin/detect-secrets" --version 2>/dev/null)" != "$DETECT_SECRETS_VERSION" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "detect-secrets==$DETECT_SECRETS_VERSION"
fi

# The allow-list: exact values (anchored regular expressions), each a fake that only looks like a
# secret. Add a value here only with the place it comes from; never a pattern that could match a
# real credential.
allowed=(
  # apps/lambda/tests/it/daily_job.rs: the password of a throwaway secret in the emulator test.
  'not-in-any-file'
  # provisioning/src/providers/aws/lambda.rs: the SHA-256 (base64) a unit test expects of a package.
  'ungWv48Bz\+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='
  # moto's documented fake credentials, which the emulator tests use.
  'testing'
)
exclude="^($(IFS='|'; echo "${allowed[*]}"))$"

report=$(mktemp /tmp/fashion-secret-scan.XXXXXX.json)
trap 'rm -f "$report"' EXIT
# Without arguments, detect-secrets scans the files git tracks under the current directory.
# This file is left out: it holds the allow-list's fake values themselves (escaped as regular
# expressions, so they would not match their own exclusion).
"$venv/bin/detect-secrets" scan --exclude-secrets "$exclude" \
  --exclude-files '^scripts/lib/secret-scan\.sh$' >"$report"

python3 - "$report" <<'EOF'
import json
import subprocess
import sys

results = json.load(open(sys.argv[1]))["results"]
findings = [(path, r["line_number"], r["type"]) for path, rs in sorted(results.items()) for r in rs]
for path, line, kind in findings:
    print(f"{path}:{line}: {kind}", file=sys.stderr)
if findings:
    print(
        f"secret scan: {len(findings)} possible secret(s) in tracked files (above); remove them, "
        "or, for a fake value, add it to the allow-list in scripts/lib/secret-scan.sh",
        file=sys.stderr,
    )
    sys.exit(1)
n = len(subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.splitlines())
print(f"secret scan: no secrets in {n} tracked files")
EOF

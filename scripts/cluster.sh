#!/usr/bin/env bash
# A real Kubernetes API server for the cluster tests, on loopback: etcd and
# k8s.io/apiextensions-apiserver (the Kubernetes 1.35 release), standalone.
#
#   scripts/cluster.sh up DIR     start both (free ports), install the CRDs, write DIR/kubeconfig,
#                                 print its path (the only line on stdout)
#   scripts/cluster.sh down DIR   stop both; no process or port is left behind
#
# Reached as `scripts/upstream.sh cluster-up DIR` / `cluster-down DIR`.
#
# CRDs: $TRAFFIC_ENGINEER_CLUSTER_CRDS (a folder), else ../shared/crds beside the clone, else
# $TRAFFIC_ENGINEER_TEST_CRDS. They are read in place, never copied into the repository. The
# Gateway API has two channels with CRDs of the same names: the standard one is installed
# ($TRAFFIC_ENGINEER_CLUSTER_GATEWAY_CHANNEL=experimental for the other). Documents that are not
# CRDs (the Gateway API's ValidatingAdmissionPolicy) are skipped: this server does not serve them.
#
# Binaries: $TRAFFIC_ENGINEER_APIEXTENSIONS_APISERVER and $TRAFFIC_ENGINEER_ETCD when set, else
# `scripts/upstream.sh apiextensions-apiserver` / `scripts/upstream.sh etcd` (Go module proxy;
# caches outside the clone). $TRAFFIC_ENGINEER_UPSTREAM_SH names another upstream.sh.
#
# Authentication: the server trusts a CA made here for client certificates; the kubeconfig's
# user holds a certificate in the group system:masters, which the server's delegated
# authorization always allows, so no core API server is needed for TokenReview or
# SubjectAccessReview. The delegation kubeconfig points at a closed loopback port (as the
# module's own integration fixtures do); admission plugins that need kube-apiserver are off.
# The server serves custom resources only: no Namespace, Service, Deployment or Secret.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() { die "usage: $0 up DIR | down DIR"; }

[ $# -eq 2 ] || usage
cmd="$1"
dir="$2"

# A pid file's process is ours only when its command line names our folder (pids are reused).
ours() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/" || return 1
  echo "$pid"
}

stop_one() {
  local pidfile="$1" pid i
  if pid="$(ours "$pidfile")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    kill -0 "$pid" 2>/dev/null && die "process $pid ($pidfile) does not stop"
  fi
  rm -f "$pidfile"
}

port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
# SO_REUSEADDR: connections of the stopped server left in TIME_WAIT do not count, a listener does
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

down() {
  [ -d "$dir" ] || return 0
  dir="$(cd "$dir" && pwd)"
  # the API server first: it holds connections to etcd
  stop_one "$dir/apiserver.pid"
  stop_one "$dir/etcd.pid"
  local p
  if [ -f "$dir/ports" ]; then
    for p in $(cat "$dir/ports"); do
      port_free "$p" || die "port $p on 127.0.0.1 is still in use after stopping"
    done
    rm -f "$dir/ports"
  fi
  rm -rf "$dir/etcd-data"
}

upstream_bin() {
  local var="$1" name="$2" path
  path="${!var:-}"
  if [ -z "$path" ]; then
    local up="${TRAFFIC_ENGINEER_UPSTREAM_SH:-$here/upstream.sh}"
    [ -x "$up" ] || die "$up not found: set $var to the $name binary"
    path="$("$up" "$name" | tail -n 1)" || die "scripts/upstream.sh $name failed"
  fi
  [ -x "$path" ] || die "$name: $path is not an executable ($var or scripts/upstream.sh $name)"
  echo "$path"
}

crd_dir() {
  local d="${TRAFFIC_ENGINEER_CLUSTER_CRDS:-}"
  if [ -z "$d" ] && [ -d "$repo/../shared/crds" ]; then d="$repo/../shared/crds"; fi
  if [ -z "$d" ]; then d="${TRAFFIC_ENGINEER_TEST_CRDS:-}"; fi
  [ -n "$d" ] && [ -d "$d" ] || die "no CRD folder: set TRAFFIC_ENGINEER_CLUSTER_CRDS (../shared/crds is absent)"
  (cd "$d" && pwd)
}

certs() {
  local c="$dir/pki"
  mkdir -p "$c"
  chmod 700 "$c"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$c/ca.key" -subj "/CN=traffic-engineer-test-ca" -days 2 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$c/ca.crt" 2>/dev/null
  local who
  for who in server client; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/$who.key" 2>/dev/null
  done
  openssl req -new -key "$c/server.key" -subj "/CN=127.0.0.1" -out "$c/server.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$c/server.ext"
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
    -days 2 -extfile "$c/server.ext" -out "$c/server.crt" 2>/dev/null
  # the group system:masters is what the delegated authorizer always allows
  openssl req -new -key "$c/client.key" -subj "/O=system:masters/CN=traffic-engineer-test" \
    -out "$c/client.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" >"$c/client.ext"
  openssl x509 -req -in "$c/client.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
    -days 2 -extfile "$c/client.ext" -out "$c/client.crt" 2>/dev/null
  chmod 600 "$c"/*.key
}

free_ports() {
  # bind to port 0 and release: the kernel's pick; a lost race fails the start and is retried
  python3 - <<'PY'
import socket
socks = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# run CMD... with its output to LOG, in its own session, recording its pid in PIDFILE
spawn() {
  local pidfile="$1" log="$2"
  shift 2
  setsid "$@" </dev/null >"$log" 2>&1 &
  echo $! >"$pidfile"
}

wait_for() {
  local what="$1" pidfile="$2" log="$3" i
  shift 3
  for i in $(seq 1 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! ours "$pidfile" >/dev/null; then
      echo "cluster.sh: $what exited; the end of $log:" >&2
      tail -n 30 "$log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "cluster.sh: $what not healthy after 60 s; the end of $log:" >&2
  tail -n 30 "$log" >&2 || true
  return 1
}

start_once() {
  local etcd_port peer_port api_port
  read -r etcd_port peer_port api_port <<<"$(free_ports)"
  echo "$etcd_port $peer_port $api_port" >"$dir/ports"
  rm -rf "$dir/etcd-data"
  spawn "$dir/etcd.pid" "$dir/etcd.log" "$etcd_bin" \
    --name te-test --data-dir "$dir/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "te-test=http://127.0.0.1:$peer_port" \
    --log-level warn
  wait_for etcd "$dir/etcd.pid" "$dir/etcd.log" \
    curl -fsS "http://127.0.0.1:$etcd_port/health" || return 1

  spawn "$dir/apiserver.pid" "$dir/apiserver.log" "$aes_bin" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$dir/pki" \
    --tls-cert-file "$dir/pki/server.crt" --tls-private-key-file "$dir/pki/server.key" \
    --client-ca-file "$dir/pki/ca.crt" \
    --authentication-skip-lookup \
    --authentication-kubeconfig "$dir/delegate.kubeconfig" \
    --authorization-kubeconfig "$dir/delegate.kubeconfig" \
    --kubeconfig "$dir/delegate.kubeconfig" \
    --enable-priority-and-fairness=false \
    --disable-admission-plugins NamespaceLifecycle,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,MutatingAdmissionPolicy
  wait_for apiextensions-apiserver "$dir/apiserver.pid" "$dir/apiserver.log" \
    curl -fsS --cacert "$dir/pki/ca.crt" --cert "$dir/pki/client.crt" --key "$dir/pki/client.key" \
    "https://127.0.0.1:$api_port/healthz" || return 1
  api_url="https://127.0.0.1:$api_port"
}

write_kubeconfigs() {
  # where the server would delegate TokenReview/SubjectAccessReview and list core objects: a
  # closed port (system:masters never reaches it)
  cat >"$dir/delegate.kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
clusters:
- name: none
  cluster:
    server: http://127.0.0.1:1
contexts:
- name: none
  context: {cluster: none, user: none}
current-context: none
users:
- name: none
  user: {}
EOF
}

write_kubeconfig() {
  local b64="base64 -w0"
  umask 077
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: traffic-engineer-test
  cluster:
    server: $api_url
    certificate-authority-data: $($b64 <"$dir/pki/ca.crt")
contexts:
- name: traffic-engineer-test
  context:
    cluster: traffic-engineer-test
    user: traffic-engineer-test
current-context: traffic-engineer-test
users:
- name: traffic-engineer-test
  user:
    client-certificate-data: $($b64 <"$dir/pki/client.crt")
    client-key-data: $($b64 <"$dir/pki/client.key")
EOF
}

install_crds() {
  local crds="$1"
  python3 - "$crds" "$api_url" "$dir/pki" "${TRAFFIC_ENGINEER_CLUSTER_GATEWAY_CHANNEL:-standard}" <<'PY'
# POST each CRD document as YAML (the API server decodes it), then wait until every one is
# Established. Standard library only.
import json, os, re, ssl, sys, time, urllib.error, urllib.request

crds, url, pki, channel = sys.argv[1:5]
other = "experimental" if channel == "standard" else "standard"
ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
ctx.load_cert_chain(os.path.join(pki, "client.crt"), os.path.join(pki, "client.key"))
base = url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

def call(method, u, body=None, ctype="application/yaml"):
    req = urllib.request.Request(u, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", ctype)
    req.add_header("Accept", "application/json")
    with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
        return json.load(r)

names = []
files = []
for root, dirs, fs in os.walk(crds):
    dirs.sort()
    if other in os.path.relpath(root, crds).split(os.sep):
        continue
    files += [os.path.join(root, f) for f in sorted(fs) if f.endswith((".yaml", ".yml"))]
for path in files:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for doc in re.split(r"(?m)^---\s*$", text):
        if not re.search(r"(?m)^kind:\s*CustomResourceDefinition\s*$", doc):
            continue
        try:
            obj = call("POST", base, doc.encode())
            names.append(obj["metadata"]["name"])
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            if e.code == 409:
                m = re.search(r"(?m)^  name:\s*(\S+)\s*$", doc)
                if m:
                    names.append(m.group(1))
                    continue
            sys.exit(f"cluster.sh: {path}: HTTP {e.code}: {detail[:2000]}")
deadline = time.time() + 120
pending = set(names)
while pending and time.time() < deadline:
    for n in sorted(pending):
        obj = call("GET", f"{base}/{n}")
        conds = obj.get("status", {}).get("conditions", [])
        if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
            pending.discard(n)
    if pending:
        time.sleep(0.2)
if pending:
    sys.exit(f"cluster.sh: CRDs not Established after 120 s: {sorted(pending)}")
print(f"cluster.sh: {len(names)} CRDs installed and Established from {crds} (Gateway API {channel} channel)", file=sys.stderr)
PY
}

up() {
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if ours "$dir/apiserver.pid" >/dev/null || ours "$dir/etcd.pid" >/dev/null; then
    die "$dir already holds a running cluster: run '$0 down $dir' first"
  fi
  command -v openssl >/dev/null || die "openssl not found"
  command -v curl >/dev/null || die "curl not found"
  command -v python3 >/dev/null || die "python3 not found"
  local crds
  crds="$(crd_dir)"
  etcd_bin="$(upstream_bin TRAFFIC_ENGINEER_ETCD etcd)"
  aes_bin="$(upstream_bin TRAFFIC_ENGINEER_APIEXTENSIONS_APISERVER apiextensions-apiserver)"
  certs
  write_kubeconfigs
  local try
  for try in 1 2 3; do
    if start_once; then break; fi
    down
    [ "$try" -lt 3 ] || die "could not start etcd and the apiextensions-apiserver (logs in $dir)"
    echo "cluster.sh: start failed (a port taken meanwhile?); retrying" >&2
  done
  write_kubeconfig
  if ! install_crds "$crds"; then
    down
    die "installing the CRDs failed (logs in $dir)"
  fi
  echo "$dir/kubeconfig"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) usage ;;
esac

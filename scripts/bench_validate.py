#!/usr/bin/env python3
"""Validate benchmark, side by side with the upstream validators, in one run (figures only; it
asserts nothing). Re-take every figure of the README's validate section with:

    scripts/bench_validate.py                      # everything
    scripts/bench_validate.py --sizes 1000,10000   # smaller corpora only
    scripts/bench_validate.py --quick              # fewer runs

What it measures (release build, wall clock, medians):
  1. the Task API stack (generated from examples/task-api/traffic-spec.md): `traffic-engineer
     validate --crds CRDS DIR` including CRD loading (and, through TRAFFIC_ENGINEER_OPENAPI, the
     built-in kinds' OpenAPI documents read on first use), against `kubeconform -strict` on the same
     files with its schemas already local (warm), runs interleaved;
  2. the MCP server: time from spawn to the answer of the first `validate` tool call, and the
     resident memory after it;
  3. the shared corpus (`../shared/bench/gen_corpus.py N`): documents/s on one core
     (`taskset -c 0`) and on two, peak resident memory; kubeconform and kubectl-validate on the
     same corpus for the record.

traffic-engineer's figures are taken with its load cache (the user's cache folder's load-cache/,
see the README) warm after the first run: the Task API stack's untimed first run fills it, and a
median hides a corpus's first run. TRAFFIC_ENGINEER_NO_CACHE=1 in the environment measures without
it.

Everything generated (stacks, corpora, the JSON schemas kubeconform reads, converted from the
upstream CRDs and Kubernetes OpenAPI documents) goes to a folder outside the clone:
${TRAFFIC_ENGINEER_BENCH_DIR:-${XDG_CACHE_HOME:-~/.cache}/traffic-engineer/bench}. kubeconform and
kubectl-validate come from scripts/upstream.sh (skipped, and said so, when it cannot provide them).
Needs Python 3 with PyYAML (as gen_corpus.py does).
"""
import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# the read-only reference data beside the clone (../shared), or where TRAFFIC_ENGINEER_SHARED says
SHARED = Path(os.environ.get("TRAFFIC_ENGINEER_SHARED", ROOT.parent / "shared"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


GNU_TIME = "/usr/bin/time"


def run_timed(cmd, cpus=None, stdin=None):
    """(wall seconds, peak RSS in MB, exit code, CPU seconds user+system) of one run; stdout
    discarded. CPU time is the figure to trust on a machine shared with other work.

    Linux carries a process's peak RSS across fork and exec, so a child of this script reports
    at least this script's own peak (about 40 MB once a corpus is generated): the peak is taken
    by GNU time (`/usr/bin/time -f %M`, a small parent) in a run of its own when it is there,
    and marked as a floor ("<=") when it is not."""
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=stdin)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    return wall, ru.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime


def peak_rss(cmd, cpus=None):
    """Peak RSS of one run in MB as text: by GNU time, else wait4's figure marked as a floor."""
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    if os.access(GNU_TIME, os.X_OK):
        r = subprocess.run([GNU_TIME, "-f", "%M", "--"] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        last = r.stderr.strip().splitlines()[-1:] or [""]
        if last[0].isdigit():
            return f"{int(last[0]) / 1024.0:6.1f}"
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    return f"<={ru.ru_maxrss / 1024.0:6.1f}"


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def upstream(name):
    """Path of an upstream program from scripts/upstream.sh, or None (said on stderr)."""
    script = os.environ.get("TRAFFIC_ENGINEER_UPSTREAM_SH", str(ROOT / "scripts" / "upstream.sh"))
    if not Path(script).exists():
        log(f"{name}: {script} does not exist: not measured")
        return None
    r = subprocess.run([script, name], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"{name}: scripts/upstream.sh failed: not measured\n{r.stderr[-2000:]}")
        return None
    return r.stdout.strip()


# ------------------------------------------------------------------------------------------------
# JSON schemas for kubeconform (it reads JSON Schema files, not CRDs)

def crd_folders(crds):
    return [crds / d for d in ["gateway-api/standard", "envoy-gateway", "keda", "keda-http-add-on",
                               "cert-manager", "ai-gateway"] if (crds / d).is_dir()]


def kubeconform_schemas(crds, out):
    """{group}/{kind}_{version}.json for every CRD version and the built-in kinds, like
    kubeconform's openapi2jsonschema (strict: closed objects)."""
    stamp = out / ".done"
    if stamp.exists():
        return
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    def close(s):
        if isinstance(s, dict):
            if s.get("type") == "object" and "properties" in s and "additionalProperties" not in s \
                    and not s.get("x-kubernetes-preserve-unknown-fields"):
                s["additionalProperties"] = False
            for v in s.values():
                close(v)
        elif isinstance(s, list):
            for v in s:
                close(v)

    for folder in crd_folders(crds):
        for f in sorted(folder.glob("*.yaml")):
            for doc in yaml.safe_load_all(f.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for v in spec["versions"]:
                    schema = v["schema"]["openAPIV3Schema"]
                    close(schema)
                    d = out / spec["group"]
                    d.mkdir(exist_ok=True)
                    (d / f"{spec['names']['kind'].lower()}_{v['name']}.json").write_text(json.dumps(schema))
    # built-in kinds: a $ref into the group-version's OpenAPI document
    openapi = SHARED / "openapi" / "kubernetes-v1.35"
    for doc_name, group in [("api__v1_openapi.json", ""), ("apis__apps__v1_openapi.json", "apps"),
                            ("apis__autoscaling__v2_openapi.json", "autoscaling")]:
        p = openapi / doc_name
        if not p.exists():
            continue
        comps = json.loads(p.read_text())["components"]
        for name, s in comps["schemas"].items():
            for gvk in s.get("x-kubernetes-group-version-kind", []):
                if gvk.get("group", "") != group:
                    continue
                d = out / group
                d.mkdir(exist_ok=True)
                wrapper = {"$ref": f"#/components/schemas/{name}", "components": comps}
                (d / f"{gvk['kind'].lower()}_{gvk['version']}.json").write_text(json.dumps(wrapper))
    stamp.write_text("ok\n")


def kubeconform_cmd(kc, schemas, target):
    # -ignore-missing-schemas: kubeconform 0.7.0 does not load the built-in kinds' schemas written
    # above (it reports "could not find schema"), so it checks the CRD kinds only: less work than
    # traffic-engineer does, a comparison in kubeconform's favour
    return [kc, "-strict", "-summary", "-ignore-missing-schemas", "-n", "2",
            "-ignore-filename-pattern", "kustomization.yaml",
            "-schema-location", str(schemas) + "/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json",
            str(target)]


# ------------------------------------------------------------------------------------------------
# 1. the Task API stack, CLI


def task_api(binary, crds, work, runs, kc, schemas):
    root = work / "task-api"
    if not (root / "traffic").is_dir():
        subprocess.run([binary, "generate", "--root", str(root), "--spec",
                        str(ROOT / "examples/task-api/traffic-spec.md")], check=True,
                       stdout=subprocess.DEVNULL)
    stack = root / "traffic"
    ours_cmd = [binary, "validate", "--crds", str(crds), str(stack)]
    kc_cmd = kubeconform_cmd(kc, schemas, stack) if kc else None
    code = subprocess.run(ours_cmd, capture_output=True).returncode
    if code == 2:
        sys.exit(f"traffic-engineer could not validate the Task API stack: {' '.join(ours_cmd)}")
    if kc_cmd:
        r = subprocess.run(kc_cmd, capture_output=True, text=True)
        log(f"kubeconform on the Task API stack: exit {r.returncode}: {r.stdout.strip()[-300:]}")
        run_timed(kc_cmd)  # warm
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(run_timed(ours_cmd))
        if kc_cmd:
            theirs.append(run_timed(kc_cmd))
    o, t = median([r[0] for r in ours]) * 1e3, median([r[0] for r in theirs]) * 1e3
    oc, tc = median([r[3] for r in ours]) * 1e3, median([r[3] for r in theirs]) * 1e3
    print(f"Task API stack ({len(list(stack.glob('*.yaml'))) - 1} files), {runs} runs interleaved, medians:")
    print(f"  traffic-engineer validate (CRD loading included, exit {code}): wall {o:.1f} ms, CPU {oc:.1f} ms")
    if kc_cmd:
        print(f"  kubeconform -strict (schemas local): wall {t:.1f} ms, CPU {tc:.1f} ms  -> wall {t / o:.1f}x")


# ------------------------------------------------------------------------------------------------
# 2. the MCP server


def rpc(p, msg):
    p.stdin.write((json.dumps(msg) + "\n").encode())
    p.stdin.flush()


def read_reply(p, want_id, deadline):
    buf = b""
    while time.perf_counter() < deadline:
        r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.perf_counter()))
        if not r:
            break
        chunk = os.read(p.stdout.fileno(), 1 << 20)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if m.get("id") == want_id:
                return m
    return None


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def mcp(binary, crds, work, runs):
    root = work / "task-api"
    firsts, rsss = [], []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.Popen([binary, "serve", "--root", str(root), "--crds", str(crds)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            rpc(p, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}})
            if read_reply(p, 1, time.perf_counter() + 10) is None:
                log("mcp: no initialize answer")
                return
            rpc(p, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            rpc(p, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "validate", "arguments": {}}})
            r = read_reply(p, 2, time.perf_counter() + 30)
            firsts.append(time.perf_counter() - t)
            rsss.append(rss_mb(p.pid))
            if r is None or r.get("result", {}).get("isError"):
                log(f"mcp: validate answered {json.dumps(r)[:400]}")
        finally:
            p.kill()
            p.wait()
    print(f"MCP server, {runs} starts: first validate answered {median(firsts) * 1e3:.1f} ms after spawn "
          f"(median; initialize included); resident after it {median(rsss):.1f} MB")


# ------------------------------------------------------------------------------------------------
# 3. the shared corpus


def corpus(binary, crds, work, sizes, runs, kc, schemas, kv):
    gen = SHARED / "bench" / "gen_corpus.py"
    print("shared corpus (gen_corpus.py N, 50 documents per file), full pipeline, median of "
          f"{runs}; docs/s = N / wall (start-up and CRD loading included):")
    for n in sizes:
        d = work / f"corpus-{n}"
        if not d.is_dir():
            subprocess.run([sys.executable, str(gen), str(n), str(d)], check=True, stdout=subprocess.DEVNULL)
        cmd = [binary, "validate", "--crds", str(crds), "--format", "json", str(d)]
        for label, cpus in [("1 core ", "0"), ("2 cores", "0,1")]:
            res = [run_timed(cmd, cpus) for _ in range(runs)]
            wall = median([r[0] for r in res])
            cpu = median([r[3] for r in res])
            rss = peak_rss(cmd, cpus)
            print(f"  {n:>7} docs, traffic-engineer, {label}: {wall:7.2f} s  {n / wall:9.0f} docs/s  "
                  f"(CPU {cpu:6.2f} s, {n / cpu:7.0f} docs per CPU-second)  peak RSS {rss} MB  (exit {res[0][2]})")
        if kc:
            res = [run_timed(kubeconform_cmd(kc, schemas, d), "0,1") for _ in range(runs)]
            wall = median([r[0] for r in res])
            cpu = median([r[3] for r in res])
            print(f"  {n:>7} docs, kubeconform -strict, 2 cores: {wall:7.2f} s  {n / wall:9.0f} docs/s  "
                  f"(CPU {cpu:6.2f} s)  peak RSS {peak_rss(kubeconform_cmd(kc, schemas, d), '0,1')} MB  (exit {res[0][2]})")
        if kv and n > 10000:
            print(f"  {n:>7} docs, kubectl-validate: not run (about 50-500 docs/s here: it would take most of an hour)")
        elif kv:
            kv_cmd = [kv, "--local-crds", str(work / "kv-crds"), "--local-schemas",
                      str(work / "kv-schemas"), str(d)]
            res = [run_timed(kv_cmd, "0,1") for _ in range(max(1, runs // 2))]
            wall = median([r[0] for r in res])
            cpu = median([r[3] for r in res])
            # one more run for the peak would double the longest figure: wait4's floor instead
            print(f"  {n:>7} docs, kubectl-validate, 2 cores: {wall:7.2f} s  {n / wall:9.0f} docs/s  "
                  f"(CPU {cpu:6.2f} s)  peak RSS <={max(r[1] for r in res):6.1f} MB  (exit {res[0][2]})")


def kv_inputs(crds, work):
    """One flat folder of the CRDs loaded (kubectl-validate reads a folder of CRD files), and
    the Kubernetes OpenAPI documents in the layout --local-schemas wants (api/v1.json,
    apis/<group>/<version>.json), as symbolic links."""
    out = work / "kv-crds"
    if not any(out.glob("*.yaml")):
        out.mkdir(parents=True, exist_ok=True)
        for folder in crd_folders(crds):
            for f in folder.glob("*.yaml"):
                shutil.copy(f, out / f.name)
    schemas = work / "kv-schemas"
    if not schemas.is_dir():
        for f in sorted((SHARED / "openapi" / "kubernetes-v1.35").glob("*_openapi.json")):
            parts = f.name[: -len("_openapi.json")].split("__")
            dest = schemas.joinpath(*parts[:-1]) / f"{parts[-1]}.json"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="a built traffic-engineer (default: cargo build --release)")
    ap.add_argument("--crds", default=str(SHARED / "crds"))
    ap.add_argument("--openapi", default=str(SHARED / "openapi" / "kubernetes-v1.35"),
                    help="Kubernetes' OpenAPI v3 documents (the built-in kinds' schemas)")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--runs", type=int, default=0, help="runs per figure (default 30 / 5 / 3)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true", help="skip kubeconform and kubectl-validate")
    a = ap.parse_args()
    work = Path(os.environ.get("TRAFFIC_ENGINEER_BENCH_DIR") or
                Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "traffic-engineer" / "bench")
    work.mkdir(parents=True, exist_ok=True)
    binary = a.bin
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        binary = str(target / "release" / "traffic-engineer")
    crds = Path(a.crds)
    if not Path(a.openapi).is_dir():
        sys.exit(f"no Kubernetes OpenAPI documents at {a.openapi}: give --openapi DIR")
    # every run below (CLI and server) checks the built-in kinds against them
    os.environ["TRAFFIC_ENGINEER_OPENAPI"] = a.openapi
    if not crds.is_dir() or not (SHARED / "bench" / "gen_corpus.py").exists():
        sys.exit(f"no CRDs at {crds} or no {SHARED}/bench/gen_corpus.py: set TRAFFIC_ENGINEER_SHARED")
    kc = kv = None
    schemas = work / "kubeconform-schemas"
    if not a.no_peers:
        kc = upstream("kubeconform")
        kv = upstream("kubectl-validate")
        if kc:
            kubeconform_schemas(crds, schemas)
        if kv:
            kv_inputs(crds, work)
    quick = a.quick
    task_api(binary, crds, work, a.runs or (10 if quick else 30), kc, schemas)
    mcp(binary, crds, work, a.runs or (5 if quick else 10))
    sizes = [int(s) for s in a.sizes.split(",") if s]
    corpus(binary, crds, work, sizes, a.runs or (1 if quick else 3), kc, schemas, kv)


if __name__ == "__main__":
    main()

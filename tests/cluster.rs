//! The cluster half against a real Kubernetes API server: k8s.io/apiextensions-apiserver (the
//! Kubernetes 1.35 release) with etcd, started by `scripts/upstream.sh cluster-up`, serving the
//! upstream CRDs of ../shared/crds. No mock: every refusal, conflict, dry run and status below is
//! the API server's own. The tests stand in for the controllers by writing status conditions
//! through the status subresource.
//!
//! `TRAFFIC_ENGINEER_KUBECONFIG` points the tests at a server already running; otherwise one is
//! started for this test binary (and stopped when it exits). A server that cannot start FAILS the
//! tests with the script's message: there is no silent skip.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use traffic_engineer::cluster::apply::Readiness;
use traffic_engineer::cluster::{
    ApplyMode, ApplyOptions, Cluster, ObjectAction, apply, status, validate_cluster,
};

#[path = "cluster/harness.rs"]
mod harness;
use harness::{cluster, namespace, repo, stack};

fn gateway(ns: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: {ns}
spec:
  gatewayClassName: eg
  listeners:
  - name: http
    protocol: HTTP
    port: 80
"
    )
}

fn route(ns: &str, path: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
  namespace: {ns}
spec:
  parentRefs:
  - name: gw
    sectionName: http
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: {path}
    backendRefs:
    - name: task-api
      port: 8000
"
    )
}

fn policy(ns: &str) -> String {
    format!(
        "apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: api-limits
  namespace: {ns}
spec:
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    name: api
  circuitBreaker:
    maxConnections: 50
"
    )
}

fn scaledobject(ns: &str) -> String {
    format!(
        "apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: task-api
  namespace: {ns}
spec:
  scaleTargetRef:
    name: task-api
  minReplicaCount: 1
  maxReplicaCount: 10
  triggers:
  - type: cpu
    metricType: Utilization
    metadata:
      value: \"70\"
"
    )
}

fn opts(mode: ApplyMode, timeout: Duration) -> ApplyOptions {
    ApplyOptions {
        mode,
        timeout,
        poll: Duration::from_millis(100),
        ..Default::default()
    }
}

fn api(
    c: &Cluster,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(c.client.clone(), ns, &ar)
}

fn gateways(c: &Cluster, ns: &str) -> Api<DynamicObject> {
    api(
        c,
        ns,
        "gateway.networking.k8s.io",
        "v1",
        "Gateway",
        "gateways",
    )
}
fn routes(c: &Cluster, ns: &str) -> Api<DynamicObject> {
    api(
        c,
        ns,
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
    )
}
fn policies(c: &Cluster, ns: &str) -> Api<DynamicObject> {
    api(
        c,
        ns,
        "gateway.envoyproxy.io",
        "v1alpha1",
        "BackendTrafficPolicy",
        "backendtrafficpolicies",
    )
}
fn scaledobjects(c: &Cluster, ns: &str) -> Api<DynamicObject> {
    api(
        c,
        ns,
        "keda.sh",
        "v1alpha1",
        "ScaledObject",
        "scaledobjects",
    )
}

fn rv(d: &DynamicObject) -> u64 {
    d.metadata
        .resource_version
        .as_deref()
        .unwrap_or("0")
        .parse()
        .unwrap()
}

fn actions(r: &traffic_engineer::cluster::ApplyReport) -> Vec<ObjectAction> {
    r.objects.iter().map(|o| o.action).collect()
}

fn no_progress() -> impl FnMut(usize, usize, &traffic_engineer::cluster::ObjectResult) + Send {
    |_, _, _| {}
}

#[tokio::test]
async fn apply_writes_in_the_kustomization_order_and_a_second_apply_changes_nothing() {
    let c = cluster().await;
    let ns = namespace("order");
    // the kustomization's order on purpose not alphabetical: policy, route, gateway would be
    // wrong; gateway, route, policy is what the kustomization says
    let (_root, s) = stack(
        &[
            ("gateway.yaml", &gateway(ns)),
            ("route.yaml", &route(ns, "/api")),
            ("policy.yaml", &policy(ns)),
        ],
        "",
    );
    let mut seen = Vec::new();
    let mut progress = |done: usize, total: usize, o: &traffic_engineer::cluster::ObjectResult| {
        seen.push((done, total, o.kind.clone()))
    };
    // the plan writes nothing
    let plan = apply(
        &c,
        &s,
        &opts(ApplyMode::Plan, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(
        actions(&plan),
        vec![ObjectAction::WouldCreate; 3],
        "{}",
        plan.to_text()
    );
    assert!(!plan.written);
    assert!(gateways(&c, ns).get_opt("gw").await.unwrap().is_none());

    let first = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::ZERO),
        &mut progress,
    )
    .await
    .unwrap();
    assert_eq!(
        actions(&first),
        vec![ObjectAction::Created; 3],
        "{}",
        first.to_text()
    );
    assert!(first.written && first.findings.is_empty());
    assert_eq!(
        seen,
        vec![
            (1, 3, "Gateway".to_string()),
            (2, 3, "HTTPRoute".to_string()),
            (3, 3, "BackendTrafficPolicy".to_string())
        ]
    );
    // the server's own record of the order: etcd revisions grow with each write
    let g = gateways(&c, ns).get("gw").await.unwrap();
    let r = routes(&c, ns).get("api").await.unwrap();
    let p = policies(&c, ns).get("api-limits").await.unwrap();
    assert!(
        rv(&g) < rv(&r) && rv(&r) < rv(&p),
        "{} {} {}",
        rv(&g),
        rv(&r),
        rv(&p)
    );
    for o in [&g, &r, &p] {
        let managers: Vec<&str> = o
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.as_deref())
            .collect();
        assert_eq!(managers, ["traffic-engineer"]);
    }

    let second = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(
        actions(&second),
        vec![ObjectAction::Unchanged; 3],
        "{}",
        second.to_text()
    );
    // unchanged content: no new revision of what traffic-engineer manages
    assert_eq!(
        gateways(&c, ns).get("gw").await.unwrap().data["spec"],
        g.data["spec"]
    );
    assert_eq!(rv(&routes(&c, ns).get("api").await.unwrap()), rv(&r));
    assert_eq!(
        rv(&policies(&c, ns).get("api-limits").await.unwrap()),
        rv(&p)
    );
    let again = apply(
        &c,
        &s,
        &opts(ApplyMode::Plan, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(actions(&again), vec![ObjectAction::WouldBeUnchanged; 3]);

    // a changed file is a change for that object only
    std::fs::write(s.dir().join("route.yaml"), route(ns, "/v2")).unwrap();
    let third = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(
        actions(&third),
        vec![
            ObjectAction::Unchanged,
            ObjectAction::Configured,
            ObjectAction::Unchanged
        ]
    );
}

#[tokio::test]
async fn a_refused_object_stops_the_whole_stack_before_anything_is_written() {
    let c = cluster().await;
    let ns = namespace("refused");
    // the Gateway API's CEL rule: a path must start with '/'
    let (_root, s) = stack(
        &[
            ("gateway.yaml", &gateway(ns)),
            ("route.yaml", &route(ns, "api-without-slash")),
            ("policy.yaml", &policy(ns)),
        ],
        "",
    );
    let r = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::from_secs(5)),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert!(!r.written, "{}", r.to_text());
    assert!(r.refused());
    assert_eq!(
        actions(&r),
        vec![
            ObjectAction::NotApplied,
            ObjectAction::Refused,
            ObjectAction::NotApplied
        ],
        "{}",
        r.to_text()
    );
    let f = &r.findings[0];
    assert_eq!(f.rule, "cluster/refused");
    assert_eq!(f.file.as_deref(), Some("traffic/route.yaml"));
    // the line of the offending field in route.yaml (`value: api-without-slash` is line 15,
    // or its nearest named ancestor the server pointed at)
    let line = f.line.unwrap();
    assert!((11..=15).contains(&line), "line {line}: {f:?}");
    assert!(
        f.message.contains(&format!("HTTPRoute {ns}/api")),
        "{}",
        f.message
    );
    // nothing written: not even the Gateway that was valid and came first
    assert!(gateways(&c, ns).get_opt("gw").await.unwrap().is_none());
    assert!(
        policies(&c, ns)
            .get_opt("api-limits")
            .await
            .unwrap()
            .is_none()
    );
    // a field the installed CRD does not have is refused too (not pruned silently)
    let (_root2, s2) = stack(
        &[(
            "gateway.yaml",
            &gateway(ns).replace("spec:\n", "spec:\n  defaultScope: All\n"),
        )],
        "",
    );
    let r2 = apply(
        &c,
        &s2,
        &opts(ApplyMode::Apply, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert!(!r2.written && r2.refused(), "{}", r2.to_text());
    assert!(
        r2.findings[0].message.contains("defaultScope"),
        "{}",
        r2.to_text()
    );
    assert!(gateways(&c, ns).get_opt("gw").await.unwrap().is_none());
}

#[tokio::test]
async fn a_conflict_is_reported_and_forced_only_when_asked() {
    let c = cluster().await;
    let ns = namespace("conflict");
    // someone else owns the gatewayClassName
    let other: Value =
        serde_yaml_like(&gateway(ns).replace("gatewayClassName: eg", "gatewayClassName: other"));
    gateways(&c, ns)
        .patch(
            "gw",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    let before = gateways(&c, ns).get("gw").await.unwrap();
    let (_root, s) = stack(
        &[
            ("gateway.yaml", &gateway(ns)),
            ("route.yaml", &route(ns, "/api")),
        ],
        "",
    );
    let r = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert!(!r.written, "{}", r.to_text());
    assert_eq!(
        actions(&r),
        vec![ObjectAction::Conflict, ObjectAction::NotApplied]
    );
    assert_eq!(r.findings[0].rule, "cluster/conflict");
    assert!(
        r.findings[0].message.contains("someone-else"),
        "{}",
        r.findings[0].message
    );
    assert!(
        r.findings[0].message.contains("gatewayClassName"),
        "{}",
        r.findings[0].message
    );
    let after = gateways(&c, ns).get("gw").await.unwrap();
    assert_eq!(rv(&after), rv(&before));
    assert!(routes(&c, ns).get_opt("api").await.unwrap().is_none());

    let mut forced = opts(ApplyMode::Apply, Duration::ZERO);
    forced.force_conflicts = true;
    let r = apply(&c, &s, &forced, &mut no_progress()).await.unwrap();
    assert_eq!(
        actions(&r),
        vec![ObjectAction::Configured, ObjectAction::Created],
        "{}",
        r.to_text()
    );
    let g = gateways(&c, ns).get("gw").await.unwrap();
    assert_eq!(g.data["spec"]["gatewayClassName"], "eg");
}

/// The YAML of these tests as JSON (they are plain enough for the product's own reader).
fn serde_yaml_like(text: &str) -> Value {
    traffic_engineer::yaml::parse_documents(text)
        .unwrap()
        .remove(0)
        .value
}

fn cond(t: &str, status: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation})
}

/// Stand in for the controllers: write each object's status once it exists.
async fn controllers(c: Cluster, ns: &'static str) {
    let gw = gateways(&c, ns);
    let rt = routes(&c, ns);
    let bp = policies(&c, ns);
    let so = scaledobjects(&c, ns);
    let pp = PatchParams::default();
    for _ in 0..600 {
        let ready = async {
            let g = gw.get_opt("gw").await.ok()??;
            let r = rt.get_opt("api").await.ok()??;
            let p = bp.get_opt("api-limits").await.ok()??;
            let s = so.get_opt("task-api").await.ok()??;
            Some((g, r, p, s))
        }
        .await;
        let Some((g, r, p, s)) = ready else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let generation = |d: &DynamicObject| d.metadata.generation.unwrap_or(1);
        gw.patch_status(
            "gw",
            &pp,
            &Patch::Merge(json!({"status": {"conditions": [
            cond("Accepted", "True", "Accepted", "accepted by eg", generation(&g)),
            cond("Programmed", "True", "Programmed", "address assigned", generation(&g))]}})),
        )
        .await
        .unwrap();
        rt.patch_status("api", &pp, &Patch::Merge(json!({"status": {"parents": [{
            "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw", "sectionName": "http"},
            "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
            "conditions": [cond("Accepted", "True", "Accepted", "route accepted", generation(&r)),
                           cond("ResolvedRefs", "True", "ResolvedRefs", "resolved all refs", generation(&r))]}]}})))
            .await
            .unwrap();
        bp.patch_status("api-limits", &pp, &Patch::Merge(json!({"status": {"ancestors": [{
            "ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw", "namespace": ns},
            "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
            "conditions": [cond("Accepted", "True", "Accepted", "Policy has been accepted.", generation(&p))]}]}})))
            .await
            .unwrap();
        so.patch_status("task-api", &pp, &Patch::Merge(json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "ScaledObjectReady", "message": "ScaledObject is defined correctly and is ready for scaling"},
            {"type": "Active", "status": "False", "reason": "ScalerNotActive", "message": "Scaling is not performed because triggers are not active"}]}})))
            .await
            .unwrap();
        let _ = s;
        return;
    }
    panic!("the objects never appeared");
}

const SPEC: &str = "# spec\n\n```yaml traffic-spec\nservice:\n  name: task-api\n  namespace: waits\nbackends:\n- name: task-api\n  port: 8000\ngateway:\n  name: gw\n  hostnames: [tasks.example.com]\n  http: {port: 80}\nroutes:\n- name: api\n  listener: http\n  rules:\n  - {name: api, path: /api, backend: task-api}\nautoscaling:\n  min: 1\n  max: 10\n  metric: cpu\n  threshold: 70\ncriteria:\n- {id: SC-001, check: gateway_access}\n- {id: SC-004, check: autoscaling}\n- {id: SC-007, check: generated}\n```\n";

#[tokio::test]
async fn apply_waits_for_the_controllers_verdicts_and_status_reports_them() {
    let c = cluster().await;
    let ns = namespace("waits");
    let (_root, s) = stack(
        &[
            ("gateway.yaml", &gateway(ns)),
            ("route.yaml", &route(ns, "/api")),
            ("policy.yaml", &policy(ns)),
            ("scaledobject.yaml", &scaledobject(ns)),
        ],
        "",
    );
    let writer = tokio::spawn(controllers(c.clone(), ns));
    let mut verdicts = Vec::new();
    let mut progress = |_: usize, _: usize, o: &traffic_engineer::cluster::ObjectResult| {
        if o.readiness == Readiness::Ready {
            verdicts.push(o.kind.clone());
        }
    };
    let r = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::from_secs(60)),
        &mut progress,
    )
    .await
    .unwrap();
    writer.await.unwrap();
    assert!(r.ready && !r.timed_out, "{}", r.to_text());
    assert!(
        r.objects.iter().all(|o| o.readiness == Readiness::Ready),
        "{}",
        r.to_text()
    );
    verdicts.sort();
    assert_eq!(
        verdicts,
        [
            "BackendTrafficPolicy",
            "Gateway",
            "HTTPRoute",
            "ScaledObject"
        ]
    );
    let text = r.to_text();
    assert!(
        text.contains(&format!(
            "parent Gateway {ns}/gw/http: ResolvedRefs=True ResolvedRefs: resolved all refs"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ancestor Gateway {ns}/gw: Accepted=True Accepted: Policy has been accepted."
        )),
        "{text}"
    );

    // status: the live conditions, and what they prove
    let spec = traffic_engineer::spec::parse(SPEC).unwrap().spec;
    let st = status(&c, &s, Some(&spec)).await.unwrap();
    assert!(
        st.objects.iter().all(|o| o.state == "present" && o.managed),
        "{}",
        st.to_text()
    );
    let rows: Vec<(&str, &str)> = st
        .criteria
        .iter()
        .map(|r| (r.id.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("SC-001", "ACCEPTED"),
            ("SC-004", "PASS"),
            ("SC-007", "PASS")
        ],
        "{}",
        st.to_text()
    );
    assert!(
        st.criteria[1]
            .evidence
            .contains("READY=True, MIN=1, MAX=10"),
        "{}",
        st.criteria[1].evidence
    );
    // verify takes SC-004 from the cluster instead of NEEDS-CLUSTER
    let intent = spec.intent().expect("the spec resolves");
    let (_, offline_rows) =
        traffic_engineer::spec::live::checks(&spec, &intent, &Default::default());
    assert_eq!(offline_rows[0].status, "NEEDS-CLUSTER");
    let rows = traffic_engineer::spec::live::with_cluster_verdicts(
        offline_rows,
        &st.cluster_verdicts(&spec),
    );
    assert_eq!(
        (rows[0].id.as_str(), rows[0].status.as_str()),
        ("SC-004", "PASS"),
        "{rows:?}"
    );
    assert!(
        rows[0].summary.contains("READY=True, MIN=1, MAX=10"),
        "{rows:?}"
    );

    // the ScaledObject loses Ready: SC-004 fails with the controller's message
    scaledobjects(&c, ns)
        .patch_status("task-api", &PatchParams::default(), &Patch::Merge(json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "ScaledObjectCheckFailed", "message": "Target resource doesn't exist"}]}})))
        .await
        .unwrap();
    let st = status(&c, &s, Some(&spec)).await.unwrap();
    assert_eq!(st.criteria[1].status, "FAIL");
    assert!(
        st.criteria[1].evidence.contains("READY=False"),
        "{}",
        st.criteria[1].evidence
    );
    assert!(
        st.to_text().contains("Target resource doesn't exist"),
        "{}",
        st.to_text()
    );

    // a spec asking for another range fails against the live object
    let other = traffic_engineer::spec::parse(&SPEC.replace("max: 10", "max: 20"))
        .unwrap()
        .spec;
    let st = status(&c, &s, Some(&other)).await.unwrap();
    assert!(
        st.criteria[1]
            .evidence
            .contains("MAX=10; expected READY=True, MIN=1, MAX=20"),
        "{}",
        st.criteria[1].evidence
    );
}

#[tokio::test]
async fn a_wait_that_gets_no_verdict_times_out_cleanly() {
    let c = cluster().await;
    let ns = namespace("timeout");
    let (_root, s) = stack(
        &[("gateway.yaml", &gateway(ns)), ("policy.yaml", &policy(ns))],
        "",
    );
    let r = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::from_secs(2)),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert!(r.written && r.timed_out && !r.ready, "{}", r.to_text());
    assert_eq!(actions(&r), vec![ObjectAction::Created; 2]);
    for o in &r.objects {
        assert_eq!(o.readiness, Readiness::NotReady);
        assert!(
            o.message.starts_with("not ready after 2 s:"),
            "{}",
            o.message
        );
    }
    // the Gateway CRD defaults its status to Unknown/Pending until a controller writes it
    assert!(
        r.objects[0]
            .message
            .contains("Programmed=Unknown Pending: Waiting for controller"),
        "{}",
        r.objects[0].message
    );
    assert!(
        r.objects[1].message.contains("ancestors: Accepted=missing"),
        "{}",
        r.objects[1].message
    );
    // a verdict of an older generation does not count
    let gw = gateways(&c, ns);
    let g = gw.get("gw").await.unwrap();
    let old = g.metadata.generation.unwrap() - 1;
    gw.patch_status("gw", &PatchParams::default(), &Patch::Merge(json!({"status": {"conditions": [
        cond("Accepted", "True", "Accepted", "old", old), cond("Programmed", "True", "Programmed", "old", old)]}})))
        .await
        .unwrap();
    let st = status(&c, &s, None).await.unwrap();
    assert_eq!(st.objects[0].ready, Some(false), "{}", st.to_text());
    assert!(st.objects[0].conditions.iter().all(|c| c.stale));
}

#[tokio::test]
async fn built_in_kinds_are_reported_as_not_served_and_nothing_is_written() {
    let c = cluster().await;
    let ns = namespace("builtins");
    let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: task-api\n  namespace: {ns}\nspec:\n  ports:\n  - port: 8000\n"
    );
    let (root, s) = stack(
        &[
            ("namespace.yaml", &namespace),
            ("gateway.yaml", &gateway(ns)),
            ("service.yaml", &service),
        ],
        &format!(
            "secretGenerator:\n- name: tls\n  namespace: {ns}\n  type: kubernetes.io/tls\n  files:\n  - tls.crt=tls.crt\n  - tls.key=tls.key\ngeneratorOptions:\n  disableNameSuffixHash: true\n"
        ),
    );
    // a stand-in key (random-looking base64, not a key), its markers built at run time so no
    // key-shaped text is committed
    let marker = |edge: &str| format!("-----{edge} {} KEY-----", "PRIVATE");
    let key = format!(
        "{}\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD\n{}\n",
        marker("BEGIN"),
        marker("END")
    );
    std::fs::write(root.path().join("traffic/tls.key"), key).unwrap();
    std::fs::write(
        root.path().join("traffic/tls.crt"),
        "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let r = apply(
        &c,
        &s,
        &opts(ApplyMode::Apply, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert!(!r.written, "{}", r.to_text());
    // Namespace, the generated Secret (after the Namespace, as kustomize orders it), Gateway, Service
    let kinds: Vec<&str> = r.objects.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, ["Namespace", "Secret", "Gateway", "Service"]);
    assert_eq!(
        actions(&r),
        vec![
            ObjectAction::NotServed,
            ObjectAction::NotServed,
            ObjectAction::NotApplied,
            ObjectAction::NotServed
        ]
    );
    let not_served: Vec<(&str, usize)> = r
        .findings
        .iter()
        .filter(|f| f.rule == "cluster/kind-not-served")
        .map(|f| (f.file.as_deref().unwrap(), f.line.unwrap()))
        .collect();
    assert_eq!(
        not_served,
        [
            ("traffic/namespace.yaml", 1),
            ("traffic/kustomization.yaml", 7),
            ("traffic/service.yaml", 1)
        ]
    );
    for f in &r.findings {
        assert!(
            f.message.contains("kind not served by this cluster"),
            "{}",
            f.message
        );
    }
    assert!(gateways(&c, ns).get_opt("gw").await.unwrap().is_none());
    // the Secret's bytes reach no result
    let json = serde_json::to_string(&r).unwrap();
    let begin = format!("BEGIN {} KEY", "PRIVATE");
    for needle in [
        "TUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD",
        begin.as_str(),
        "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t",
    ] {
        assert!(!json.contains(needle) && !r.to_text().contains(needle));
    }
    let st = status(&c, &s, None).await.unwrap();
    let states: Vec<&str> = st.objects.iter().map(|o| o.state.as_str()).collect();
    assert_eq!(states, ["not-served", "not-served", "absent", "not-served"]);
    assert!(st.to_text().contains("kind not served by this cluster"));
}

#[tokio::test]
async fn validate_cluster_checks_against_the_installed_crds() {
    let c = cluster().await;
    let ns = namespace("validate");
    // defaultScope is in the experimental channel's Gateway CRD only; the cluster has the standard one
    let gw = gateway(ns).replace("spec:\n", "spec:\n  defaultScope: All\n");
    let (_root, s) = stack(
        &[("gateway.yaml", &gw), ("route.yaml", &route(ns, "/api"))],
        "",
    );
    let report = validate_cluster(&c, &s).await.unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "schema/unknown-field")
        .unwrap_or_else(|| panic!("{}", report.to_text()));
    assert_eq!(f.file.as_deref(), Some("traffic/gateway.yaml"));
    assert_eq!(f.line, Some(7));
    assert!(f.message.contains("defaultScope"), "{}", f.message);
    assert!(
        f.message.contains(
            "installed CRD gateways.gateway.networking.k8s.io: served versions v1 (storage)"
        ),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("bundle-version: v1.6.1"),
        "{}",
        f.message
    );
    // offline, against the experimental channel, the same field is fine: the cluster decided
    let crds = std::env::var("TRAFFIC_ENGINEER_TEST_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("../shared/crds"));
    let offline =
        traffic_engineer::validate::Validator::load(&[crds.join("gateway-api/experimental")])
            .unwrap();
    let off = traffic_engineer::validation::validate_stack(&offline, &s).unwrap();
    assert!(
        !off.findings
            .iter()
            .any(|f| f.message.contains("defaultScope")),
        "{}",
        off.to_text()
    );

    // references: on this server Services are not served: said so, never a silent pass
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "cluster/references-not-checked"
                && f.message.contains("Service")
                && f.message.contains("kind not served by this cluster")),
        "{}",
        report.to_text()
    );
    // a Gateway that lives only in the cluster resolves the route's parentRef
    let (_r2, s2) = stack(&[("route.yaml", &route(ns, "/api"))], "");
    let off = traffic_engineer::validation::validate_stack(&offline, &s2).unwrap();
    assert!(
        off.to_text()
            .contains(&format!("Gateway {ns}/gw is not among the documents")),
        "{}",
        off.to_text()
    );
    let (_r3, s3) = stack(&[("gateway.yaml", &gateway(ns))], "");
    let applied = apply(
        &c,
        &s3,
        &opts(ApplyMode::Apply, Duration::ZERO),
        &mut no_progress(),
    )
    .await
    .unwrap();
    assert!(applied.written, "{}", applied.to_text());
    let live = validate_cluster(&c, &s2).await.unwrap();
    assert!(
        !live
            .to_text()
            .contains(&format!("Gateway {ns}/gw is not among the documents")),
        "{}",
        live.to_text()
    );
}

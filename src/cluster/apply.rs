//! `apply`: a server-side dry run of the whole stack, nothing written if any object is refused;
//! then server-side apply (field manager `traffic-engineer`) in the kustomization's order; then a
//! bounded wait for the controllers' verdicts.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::conditions::{ConditionRow, evaluate};
use super::objects::{Scrubber, StackObject, load_stack};
use super::{Cluster, ClusterError, Discovery, FIELD_MANAGER, Served};
use crate::validate::finding::{Finding, Severity};
use crate::workspace::Stack;

/// How far `apply` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyMode {
    /// The server-side dry run only, reported as the plan; nothing is written.
    Plan,
    /// Dry run, then write, then wait.
    Apply,
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub mode: ApplyMode,
    /// Take over fields another manager owns (server-side apply `force`). Off unless asked.
    pub force_conflicts: bool,
    /// How long to wait for the controllers' verdicts after writing (zero: do not wait; the
    /// objects are reported `not-waited`).
    pub timeout: Duration,
    /// Poll interval while waiting.
    pub poll: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            mode: ApplyMode::Plan,
            force_conflicts: false,
            timeout: Duration::from_secs(120),
            poll: Duration::from_millis(500),
        }
    }
}

/// What happened (or would happen) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectAction {
    /// Plan: would be created / changed / left as it is.
    WouldCreate,
    WouldConfigure,
    WouldBeUnchanged,
    /// Written.
    Created,
    Configured,
    Unchanged,
    /// The server refused it (dry run or write): see the finding.
    Refused,
    /// Another field manager owns fields it sets; not forced.
    Conflict,
    /// The cluster has no API for its kind.
    NotServed,
    /// Not written because another object was refused.
    NotApplied,
}

/// Whether the controllers' verdict came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// Every awaited condition is True for the applied generation.
    Ready,
    /// The wait ended (timeout) before they were.
    NotReady,
    /// Nothing is awaited for this kind.
    NoWait,
    /// Not waited for (plan, or not written).
    NotWaited,
}

/// One object of the result. Never carries a Secret's data.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ObjectResult {
    pub file: String,
    pub line: usize,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub action: ObjectAction,
    pub readiness: Readiness,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionRow>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A Secret built from the kustomization's secretGenerator (its bytes are never shown).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub generated: bool,
}

impl ObjectResult {
    fn new(o: &StackObject, action: ObjectAction) -> Self {
        ObjectResult {
            file: o.file.clone(),
            line: o.line,
            api_version: o.api_version().into(),
            kind: o.kind().into(),
            name: o.name().into(),
            namespace: o.namespace().into(),
            action,
            readiness: Readiness::NotWaited,
            conditions: Vec::new(),
            message: String::new(),
            generated: o.generated,
        }
    }
    pub fn label(&self) -> String {
        match self.namespace.as_str() {
            "" => format!("{} {}", self.kind, self.name),
            ns => format!("{} {}/{}", self.kind, ns, self.name),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApplyReport {
    pub server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub context: String,
    pub mode: ApplyMode,
    /// Something was written to the cluster.
    pub written: bool,
    /// Every awaited verdict came before the timeout (false in plan mode).
    pub ready: bool,
    /// The wait ended at the timeout with objects not ready.
    pub timed_out: bool,
    pub objects: Vec<ObjectResult>,
    /// Refusals and conflicts, each with file and line.
    pub findings: Vec<Finding>,
    pub summary: String,
}

impl ApplyReport {
    /// Errors among the findings: the stack was (or would be) refused.
    pub fn refused(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn to_text(&self) -> String {
        let mut s = super::header(&self.server, &self.context);
        for o in &self.objects {
            let action = serde_json::to_value(o.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let ready = match o.readiness {
                Readiness::Ready => " READY",
                Readiness::NotReady => " NOT READY",
                _ => "",
            };
            s.push_str(&format!(
                "  {:<19} {}{} ({}:{})\n",
                action,
                o.label(),
                ready,
                o.file,
                o.line
            ));
            if !o.message.is_empty() {
                s.push_str(&format!("      {}\n", o.message));
            }
            // a not-ready object's message already lists the conditions that did not hold
            for c in o
                .conditions
                .iter()
                .filter(|c| o.readiness != Readiness::NotReady || c.ok())
            {
                s.push_str(&format!("      {}\n", c.to_text()));
            }
        }
        for f in &self.findings {
            s.push_str(&format!(
                "{}:{}: {} [{}] {}\n",
                f.file.as_deref().unwrap_or(""),
                f.line.unwrap_or(0),
                match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    _ => "info",
                },
                f.rule,
                f.message
            ));
        }
        s.push_str(&self.summary);
        s.push('\n');
        s
    }
}

fn finding(o: &StackObject, rule: &str, field: &str, message: String, hint: &str) -> Finding {
    let mut f = Finding::error(rule, "", message, hint);
    f.file = Some(o.file.clone());
    f.line = Some(o.line_of(field));
    f.column = Some(1);
    f.path = field_pointer(field);
    f
}

fn field_pointer(field: &str) -> String {
    if field.is_empty() {
        return String::new();
    }
    let mut p = String::new();
    for part in field.replace('[', ".").replace(']', "").split('.') {
        if !part.is_empty() {
            p.push('/');
            p.push_str(part.trim_matches('"'));
        }
    }
    p
}

/// A server refusal as findings: one per cause when the server names fields.
fn refusal_findings(o: &StackObject, s: &kube::core::Status, scrub: &Scrubber) -> Vec<Finding> {
    let (rule, hint) = if s.code == 409 {
        (
            "cluster/conflict",
            "another field manager owns these fields: leave them to it, or apply with force (--force-conflicts) to take them over",
        )
    } else {
        (
            "cluster/refused",
            "fix the object so that the API server accepts it (its message names the field)",
        )
    };
    let causes: Vec<&kube::core::response::StatusCause> = s
        .details
        .as_ref()
        .map(|d| d.causes.iter().collect())
        .unwrap_or_default();
    if causes.is_empty() || s.code == 409 {
        // server-side apply names an undeclared field only in its message:
        // `... .spec.defaultScope: field not declared in schema`
        let field = s
            .message
            .split(": ")
            .find(|p| p.starts_with('.') && !p.contains(' '))
            .unwrap_or("")
            .trim_start_matches('.');
        let field = if s.code == 409 {
            causes
                .first()
                .map(|c| c.field.trim_start_matches('.'))
                .unwrap_or(field)
        } else {
            field
        };
        return vec![finding(
            o,
            rule,
            field,
            format!("{}: {}", o.label(), scrub.scrub(&s.message)),
            hint,
        )];
    }
    causes
        .iter()
        .map(|c| {
            let msg = if c.field.is_empty() {
                scrub.scrub(&c.message)
            } else {
                format!("{}: {}", c.field, scrub.scrub(&c.message))
            };
            finding(o, rule, &c.field, format!("{}: {}", o.label(), msg), hint)
        })
        .collect()
}

/// A refusal of the object (not a failure of the server): 4xx, or the 500 server-side apply
/// answers when the object does not fit the installed schema ("failed to create typed patch
/// object ...: field not declared in schema").
fn refusal(s: &kube::core::Status) -> bool {
    (400..500).contains(&s.code)
        || (s.code == 500 && s.message.contains("failed to create typed patch object"))
}

/// The object without what the server manages, to compare a dry run with the live object.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            m.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

fn rv(v: &Value) -> &str {
    v["metadata"]["resourceVersion"].as_str().unwrap_or("")
}

struct Target<'a> {
    obj: &'a StackObject,
    api: Api<DynamicObject>,
}

/// The API handle for an object, or a finding when the cluster does not serve its kind.
async fn target<'a>(
    cluster: &Cluster,
    disco: &mut Discovery,
    o: &'a StackObject,
) -> Result<Result<Target<'a>, Finding>, ClusterError> {
    match disco.resolve(o.api_version(), o.kind()).await? {
        Served::No(why) => Ok(Err(finding(
            o,
            "cluster/kind-not-served",
            "",
            format!("{}: {why}", o.label()),
            "install the CRD (or use a cluster that serves this kind), then apply again",
        ))),
        Served::Yes {
            resource,
            namespaced,
            ..
        } => {
            let api = if namespaced {
                let ns = match o.namespace() {
                    "" => "default",
                    n => n,
                };
                Api::namespaced_with(cluster.client.clone(), ns, &resource)
            } else {
                Api::all_with(cluster.client.clone(), &resource)
            };
            Ok(Ok(Target { obj: o, api }))
        }
    }
}

fn to_value(d: &DynamicObject) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// Apply the stack. `progress(done, total, object)` is called once per object written and once
/// per verdict that arrives.
pub async fn apply(
    cluster: &Cluster,
    stack: &Stack,
    opts: &ApplyOptions,
    progress: &mut (dyn FnMut(usize, usize, &ObjectResult) + Send),
) -> Result<ApplyReport, ClusterError> {
    let (objects, scrub) = load_stack(stack)?;
    let mut report = ApplyReport {
        server: cluster.server.clone(),
        context: cluster.context.clone(),
        mode: opts.mode,
        written: false,
        ready: false,
        timed_out: false,
        objects: Vec::new(),
        findings: Vec::new(),
        summary: String::new(),
    };
    if objects.is_empty() {
        report.summary = "the kustomization lists no objects: nothing to apply".into();
        return Ok(report);
    }
    let mut disco = Discovery::new(cluster);
    let mut targets: Vec<Option<Target>> = Vec::new();
    let mut before: Vec<Option<Value>> = Vec::new();
    let mut results: Vec<ObjectResult> = Vec::new();
    // 1. the dry run of every object
    // Strict: a field the installed CRD lacks is refused, not silently pruned
    let mut dry_pp = PatchParams::apply(FIELD_MANAGER)
        .dry_run()
        .validation_strict();
    if opts.force_conflicts {
        dry_pp = dry_pp.force();
    }
    // Namespaces the stack itself creates: the server cannot dry-run an object of a namespace
    // that does not exist yet, so those wait for their Namespace (see the writes below)
    let stack_namespaces: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Namespace" && o.api_version() == "v1")
        .map(|o| o.name())
        .collect();
    let mut deferred: Vec<bool> = Vec::new();
    for o in &objects {
        let t = match target(cluster, &mut disco, o).await? {
            Ok(t) => t,
            Err(f) => {
                let mut r = ObjectResult::new(o, ObjectAction::NotServed);
                r.message = f.message.clone();
                report.findings.push(f);
                results.push(r);
                targets.push(None);
                before.push(None);
                deferred.push(false);
                continue;
            }
        };
        let live = t
            .api
            .get_opt(o.name())
            .await
            .map_err(|e| super::api_error(cluster, &format!("reading {}", o.label()), e))?
            .map(|d| to_value(&d));
        let mut waits_for_namespace = false;
        let action = match t
            .api
            .patch(o.name(), &dry_pp, &Patch::Apply(&o.value))
            .await
        {
            Ok(dry) => {
                let dry = to_value(&dry);
                match &live {
                    None => ObjectAction::WouldCreate,
                    Some(l) if comparable(l) == comparable(&dry) => ObjectAction::WouldBeUnchanged,
                    Some(_) => ObjectAction::WouldConfigure,
                }
            }
            Err(kube::Error::Api(s))
                if s.code == 404
                    && s.details.as_ref().is_some_and(|d| d.kind == "namespaces")
                    && stack_namespaces.contains(&o.namespace()) =>
            {
                waits_for_namespace = true;
                ObjectAction::WouldCreate
            }
            Err(kube::Error::Api(s)) if refusal(&s) => {
                let fs = refusal_findings(o, &s, &scrub);
                let mut r = ObjectResult::new(
                    o,
                    if s.code == 409 {
                        ObjectAction::Conflict
                    } else {
                        ObjectAction::Refused
                    },
                );
                r.message = fs
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                report.findings.extend(fs);
                results.push(r);
                targets.push(None);
                before.push(live);
                deferred.push(false);
                continue;
            }
            Err(e) => {
                return Err(super::api_error(
                    cluster,
                    &format!("dry run of {}", o.label()),
                    e,
                ));
            }
        };
        let mut r = ObjectResult::new(o, action);
        if waits_for_namespace {
            r.message = format!(
                "its namespace {} is created by this stack: dry-run once the Namespace is written, before this object is",
                o.namespace()
            );
        }
        results.push(r);
        targets.push(Some(t));
        before.push(live);
        deferred.push(waits_for_namespace);
    }
    let refused = report.refused();
    if refused || opts.mode == ApplyMode::Plan {
        if refused {
            for r in &mut results {
                if matches!(
                    r.action,
                    ObjectAction::WouldCreate
                        | ObjectAction::WouldConfigure
                        | ObjectAction::WouldBeUnchanged
                ) {
                    r.action = ObjectAction::NotApplied;
                }
            }
        }
        report.summary = summarize(&results, refused, opts.mode, false);
        report.objects = results;
        return Ok(report);
    }
    // 2. the writes, in order
    let mut pp = PatchParams::apply(FIELD_MANAGER).validation_strict();
    if opts.force_conflicts {
        pp = pp.force();
    }
    let total = objects.len();
    let mut applied: Vec<Option<Value>> = vec![None; total];
    let mut stopped = false;
    for i in 0..total {
        let Some(t) = &targets[i] else { continue };
        let o = t.obj;
        if deferred[i] && o.kind() != "Namespace" {
            // the first object that waited for its Namespace: dry-run all of them now
            for j in i..total {
                if !deferred[j] {
                    continue;
                }
                deferred[j] = false;
                let Some(tj) = &targets[j] else { continue };
                match tj
                    .api
                    .patch(tj.obj.name(), &dry_pp, &Patch::Apply(&tj.obj.value))
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if refusal(&s) => {
                        let fs = refusal_findings(tj.obj, &s, &scrub);
                        results[j].action = if s.code == 409 {
                            ObjectAction::Conflict
                        } else {
                            ObjectAction::Refused
                        };
                        results[j].message = fs
                            .iter()
                            .map(|f| f.message.clone())
                            .collect::<Vec<_>>()
                            .join("; ");
                        report.findings.extend(fs);
                        stopped = true;
                    }
                    Err(e) => {
                        return Err(super::api_error(
                            cluster,
                            &format!("dry run of {}", tj.obj.label()),
                            e,
                        ));
                    }
                }
            }
            if stopped {
                for r in results.iter_mut().skip(i) {
                    if !matches!(r.action, ObjectAction::Refused | ObjectAction::Conflict) {
                        r.action = ObjectAction::NotApplied;
                    }
                }
                break;
            }
        }
        match t.api.patch(o.name(), &pp, &Patch::Apply(&o.value)).await {
            Ok(d) => {
                let after = to_value(&d);
                report.written = true;
                results[i].action = match &before[i] {
                    None => ObjectAction::Created,
                    // same content (the server may still persist defaults such as a CRD's
                    // default status, which bumps resourceVersion without a change of ours)
                    Some(b) if rv(b) == rv(&after) || comparable(b) == comparable(&after) => {
                        ObjectAction::Unchanged
                    }
                    Some(_) => ObjectAction::Configured,
                };
                applied[i] = Some(after);
            }
            Err(kube::Error::Api(s)) if refusal(&s) => {
                // refused although the dry run passed (the cluster changed meanwhile): stop here
                let fs = refusal_findings(o, &s, &scrub);
                results[i].action = if s.code == 409 {
                    ObjectAction::Conflict
                } else {
                    ObjectAction::Refused
                };
                results[i].message = fs
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                report.findings.extend(fs);
                for r in results.iter_mut().skip(i + 1) {
                    r.action = ObjectAction::NotApplied;
                }
                break;
            }
            Err(e) => {
                return Err(super::api_error(
                    cluster,
                    &format!("applying {}", o.label()),
                    e,
                ));
            }
        }
        progress(i + 1, total, &results[i]);
    }
    if report.refused() {
        report.summary = summarize(&results, true, opts.mode, report.written);
        report.objects = results;
        return Ok(report);
    }
    // 3. the wait (a zero timeout: no wait)
    if opts.timeout.is_zero() {
        report.summary = summarize(&results, false, opts.mode, report.written);
        report.objects = results;
        return Ok(report);
    }
    let (ready, timed_out) = wait(
        cluster,
        &targets,
        &mut applied,
        &mut results,
        opts,
        progress,
    )
    .await?;
    report.ready = ready;
    report.timed_out = timed_out;
    report.summary = summarize(&results, false, opts.mode, report.written);
    report.objects = results;
    Ok(report)
}

async fn wait(
    cluster: &Cluster,
    targets: &[Option<Target<'_>>],
    applied: &mut [Option<Value>],
    results: &mut [ObjectResult],
    opts: &ApplyOptions,
    progress: &mut (dyn FnMut(usize, usize, &ObjectResult) + Send),
) -> Result<(bool, bool), ClusterError> {
    let start = Instant::now();
    let mut pending: Vec<usize> = Vec::new();
    let mut ready_now: Vec<usize> = Vec::new();
    for i in 0..results.len() {
        match applied[i].as_ref().and_then(evaluate) {
            None => results[i].readiness = Readiness::NoWait,
            Some((ok, rows)) => {
                results[i].conditions = rows;
                if ok {
                    results[i].readiness = Readiness::Ready;
                    ready_now.push(i);
                } else {
                    pending.push(i);
                }
            }
        }
    }
    // progress per verdict: (verdicts so far, verdicts awaited)
    let total = pending.len() + ready_now.len();
    let mut done = 0;
    for i in ready_now {
        done += 1;
        progress(done, total, &results[i]);
    }
    loop {
        let mut still = Vec::new();
        for &i in &pending {
            let Some(t) = &targets[i] else { continue };
            let live =
                t.api.get_opt(t.obj.name()).await.map_err(|e| {
                    super::api_error(cluster, &format!("reading {}", t.obj.label()), e)
                })?;
            let Some(live) = live.map(|d| to_value(&d)) else {
                results[i].message = "deleted while waiting".into();
                results[i].readiness = Readiness::NotReady;
                continue;
            };
            if let Some((ok, rows)) = evaluate(&live) {
                results[i].conditions = rows;
                if ok {
                    results[i].readiness = Readiness::Ready;
                    done += 1;
                    progress(done, total, &results[i]);
                    continue;
                }
            }
            still.push(i);
        }
        pending = still;
        if pending.is_empty() {
            return Ok((true, false));
        }
        if start.elapsed() >= opts.timeout {
            for &i in &pending {
                results[i].readiness = Readiness::NotReady;
                results[i].message = format!(
                    "not ready after {} s: {}",
                    opts.timeout.as_secs(),
                    results[i]
                        .conditions
                        .iter()
                        .filter(|c| !c.ok())
                        .map(ConditionRow::to_text)
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            return Ok((false, true));
        }
        let left = opts.timeout.saturating_sub(start.elapsed());
        tokio::time::sleep(opts.poll.min(left)).await;
    }
}

fn summarize(results: &[ObjectResult], refused: bool, mode: ApplyMode, written: bool) -> String {
    let count = |a: ObjectAction| results.iter().filter(|r| r.action == a).count();
    let not_served = count(ObjectAction::NotServed);
    let conflicts = count(ObjectAction::Conflict);
    let bad = count(ObjectAction::Refused);
    if refused && !written {
        return format!(
            "nothing written: the server-side dry run refused {} of {} objects ({bad} refused, {conflicts} conflicts, {not_served} kinds not served by this cluster)",
            bad + conflicts + not_served,
            results.len()
        );
    }
    if refused {
        return format!(
            "stopped: an object was refused after the dry run passed ({bad} refused, {conflicts} conflicts); the objects before it were written"
        );
    }
    match mode {
        ApplyMode::Plan => format!(
            "plan (server-side dry run, nothing written): {} to create, {} to change, {} unchanged",
            count(ObjectAction::WouldCreate),
            count(ObjectAction::WouldConfigure),
            count(ObjectAction::WouldBeUnchanged)
        ),
        ApplyMode::Apply => {
            let ready = results
                .iter()
                .filter(|r| r.readiness == Readiness::Ready)
                .count();
            let not_ready = results
                .iter()
                .filter(|r| r.readiness == Readiness::NotReady)
                .count();
            format!(
                "applied with field manager {FIELD_MANAGER}: {} created, {} configured, {} unchanged; {ready} ready, {not_ready} not ready",
                count(ObjectAction::Created),
                count(ObjectAction::Configured),
                count(ObjectAction::Unchanged)
            )
        }
    }
}

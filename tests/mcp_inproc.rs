//! The server over an in-process transport, driven by rmcp's client in both protocol eras.

use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt, model::*};
use serde_json::{Value, json};
use traffic_engineer::mcp::TrafficServer;
use traffic_engineer::validate::Validator;
use traffic_engineer::workspace::Stack;

fn args(v: Value) -> JsonObject {
    v.as_object().cloned().unwrap_or_default()
}

async fn session(
    lifecycle: ClientLifecycleMode,
) -> anyhow::Result<(ProtocolVersion, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = TrafficServer::new(Stack::new(dir.path()), Validator::new());
    let handle = tokio::spawn(async move {
        if let Ok(s) = server.serve(server_io).await {
            let _ = s.waiting().await;
        }
    });
    let client = ().serve_with_lifecycle(client_io, lifecycle).await?;
    let version = client
        .peer_info()
        .map(|i| i.protocol_version.clone())
        .expect("negotiated");

    let tools = client.list_all_tools().await?;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "generate_gateway",
        "add_rate_limit",
        "add_circuit_breaker",
        "generate_tls",
        "generate_scaledobject",
        "validate",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let validate = tools.iter().find(|t| t.name == "validate").unwrap();
    assert_eq!(
        validate.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
    let gw = tools.iter().find(|t| t.name == "generate_gateway").unwrap();
    assert_eq!(
        gw.annotations.as_ref().unwrap().destructive_hint,
        Some(true)
    );

    for tool in [
        "generate_gateway",
        "add_rate_limit",
        "add_circuit_breaker",
        "generate_tls",
        "generate_scaledobject",
    ] {
        // {} builds the Task API example; the circuit breaker sets only the thresholds named
        let a = if tool == "add_circuit_breaker" {
            json!({"max_connections": 50})
        } else {
            json!({})
        };
        let r = client
            .call_tool(CallToolRequestParams::new(tool).with_arguments(args(a)))
            .await?;
        assert_eq!(r.is_error, Some(false), "{tool}: {:?}", r.content);
        let sc = r.structured_content.expect("structured");
        assert!(
            sc["files"].as_array().is_some_and(|f| !f.is_empty()),
            "{tool}: {sc}"
        );
        // every link resolves
        for c in &r.content {
            if let Some(link) = c.as_resource_link() {
                let rr = client
                    .read_resource(ReadResourceRequestParams::new(link.uri.clone()))
                    .await?;
                assert_eq!(rr.contents.len(), 1);
            }
        }
    }
    // a bad argument is a tool error naming the field, and writes nothing
    let before = std::fs::read_dir(dir.path().join("traffic"))?.count();
    let r = client
        .call_tool(
            CallToolRequestParams::new("generate_scaledobject")
                .with_arguments(args(json!({"min_replicas": 5, "max_replicas": 2}))),
        )
        .await?;
    assert_eq!(r.is_error, Some(true));
    let text = format!("{:?}", r.content);
    assert!(text.contains("min_replicas"), "{text}");
    let r = client
        .call_tool(
            CallToolRequestParams::new("generate_gateway")
                .with_arguments(args(json!({"gateway": "../etc"}))),
        )
        .await?;
    assert_eq!(r.is_error, Some(true));
    assert!(format!("{:?}", r.content).contains("gateway"));
    assert_eq!(
        std::fs::read_dir(dir.path().join("traffic"))?.count(),
        before
    );
    // unknown tool: protocol error, and the server keeps answering
    assert!(
        client
            .call_tool(CallToolRequestParams::new("nope"))
            .await
            .is_err()
    );
    let res = client.list_all_resources().await?;
    assert!(res.iter().any(|r| r.uri.ends_with("kustomization.yaml")));
    assert!(
        client
            .read_resource(ReadResourceRequestParams::new(
                "traffic-engineer://stack/../x.yaml"
            ))
            .await
            .is_err()
    );
    let r = client
        .call_tool(CallToolRequestParams::new("validate"))
        .await?;
    // no CRDs and no built-in schemas: the checks that could not run make the answer an
    // error, with the same fields as ever plus `summary.not_checked` saying what did not run
    let report = r.structured_content.clone().expect("structured report");
    assert_eq!(r.is_error, Some(true), "{report}");
    assert!(report["summary"].is_object(), "{report}");
    let not_checked = report["summary"]["not_checked"]
        .as_array()
        .expect("not_checked");
    assert!(
        not_checked
            .iter()
            .any(|n| n.as_str().is_some_and(|s| s.contains("no CRDs"))),
        "{report}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "crds/skipped"),
        "{report}"
    );
    client.cancel().await?;
    let _ = handle.await;
    Ok((version, dir))
}

#[tokio::test]
async fn legacy_initialize_era() -> anyhow::Result<()> {
    let (v, _d) = session(ClientLifecycleMode::Initialize).await?;
    assert_eq!(v, ProtocolVersion::V_2025_11_25);
    Ok(())
}

#[tokio::test]
async fn discover_era_2026_07_28() -> anyhow::Result<()> {
    let (v, _d) = session(ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    })
    .await?;
    assert_eq!(v, ProtocolVersion::V_2026_07_28);
    Ok(())
}

const SKILL_MD: &str = include_str!("../skill/traffic-engineer/SKILL.md");

/// Every file SKILL.md names (`templates/...`, `examples/...`) is reachable over MCP as a file
/// of the skill, with the repository's content; the front matter carries license and
/// compatibility (Agent Skills specification).
#[tokio::test]
async fn everything_skill_md_refers_to_is_served() -> anyhow::Result<()> {
    let front = SKILL_MD
        .strip_prefix("---\n")
        .and_then(|b| b.split("\n---\n").next())
        .expect("front matter");
    let field = |k: &str| {
        front
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .map(str::to_string)
    };
    assert_eq!(field("license").as_deref(), Some("Apache-2.0"));
    let compat = field("compatibility").expect("compatibility");
    assert!(
        !compat.is_empty() && compat.len() <= 500,
        "compatibility is 1-500 characters"
    );

    // the relative paths SKILL.md mentions in backticks
    let mut refs: Vec<String> = ["`templates/", "`examples/"]
        .iter()
        .flat_map(|start| SKILL_MD.match_indices(start).map(|(i, _)| i + 1))
        .filter_map(|i| SKILL_MD[i..].split('`').next())
        .filter(|s| !s.ends_with('/') && !s.contains(' '))
        .map(str::to_string)
        .collect();
    refs.sort();
    refs.dedup();
    assert!(refs.len() >= 9, "the templates and the example: {refs:?}");

    let dir = tempfile::tempdir()?;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = TrafficServer::new(Stack::new(dir.path()), Validator::new());
    tokio::spawn(async move {
        if let Ok(s) = server.serve(server_io).await {
            let _ = s.waiting().await;
        }
    });
    let client = ().serve_with_lifecycle(client_io, ClientLifecycleMode::Initialize).await?;
    for r in &refs {
        let uri = format!("skill://traffic-engineer/{r}");
        let read = client
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await
            .unwrap_or_else(|e| panic!("{uri} is not served: {e}"));
        let repo_file =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(r))?;
        let served = match &read.contents[0] {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("{uri} is not text: {other:?}"),
        };
        assert_eq!(served, repo_file, "{uri} differs from {r}");
    }
    client.cancel().await?;
    Ok(())
}

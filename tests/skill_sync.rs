//! SKILL.md, prompts/ and the registered tools and prompts stay in step; the skill is in the
//! Agent Skills format and is served over MCP.

use std::collections::BTreeSet;

use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt, model::*};
use traffic_engineer::mcp::{TrafficServer, prompts::PROMPTS, skill};
use traffic_engineer::validate::Validator;
use traffic_engineer::workspace::Stack;

const SKILL: &str = include_str!("../skill/traffic-engineer/SKILL.md");

fn front_matter() -> (String, String) {
    let body = SKILL.strip_prefix("---\n").expect("front matter");
    let end = body.find("\n---\n").expect("front matter end");
    let mut name = String::new();
    let mut desc = String::new();
    for line in body[..end].lines() {
        if let Some(v) = line.strip_prefix("name: ") {
            name = v.trim().to_string();
        }
        if let Some(v) = line.strip_prefix("description: ") {
            desc = v.trim().to_string();
        }
    }
    (name, desc)
}

#[test]
fn skill_front_matter_follows_agent_skills() {
    let (name, desc) = front_matter();
    assert_eq!(name, "traffic-engineer", "name matches the folder");
    assert!(
        name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    );
    assert!(
        !desc.is_empty() && desc.len() <= 1024,
        "description length {}",
        desc.len()
    );
    assert!(
        desc.contains("Use when"),
        "the description says when to use the skill"
    );
    assert!(SKILL.lines().count() < 500, "body under 500 lines");
}

fn skill_tools() -> BTreeSet<String> {
    SKILL
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn skill_prompts_and_server_agree() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = TrafficServer::new(Stack::new(dir.path()), Validator::new());
    tokio::spawn(async move {
        if let Ok(s) = server.serve(server_io).await {
            let _ = s.waiting().await;
        }
    });
    let client = ().serve_with_lifecycle(client_io, ClientLifecycleMode::Initialize).await?;

    let tools: BTreeSet<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(
        skill_tools(),
        tools,
        "the tool table of SKILL.md and the registered tools differ"
    );

    let prompts: BTreeSet<String> = client
        .list_all_prompts()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let files: BTreeSet<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts"))?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(".md")
                    .map(str::to_string)
            })
            .collect();
    let embedded: BTreeSet<String> = PROMPTS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(prompts, files, "prompts/ and the registered prompts differ");
    assert_eq!(embedded, files);
    for p in &prompts {
        assert!(
            SKILL.contains(&format!("`{p}`")),
            "SKILL.md does not mention prompt {p}"
        );
    }

    // prompts render with their arguments, and refuse bad ones
    let r = client
        .get_prompt(
            GetPromptRequestParams::new("write_spec").with_arguments(
                serde_json::json!({"service": "orders"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        )
        .await?;
    let text = format!("{:?}", r.messages[0].content);
    assert!(
        text.contains("orders") && text.contains("orders.example.com"),
        "{text}"
    );
    assert!(
        client
            .get_prompt(
                GetPromptRequestParams::new("review_stack").with_arguments(
                    serde_json::json!({"focus": "everything"})
                        .as_object()
                        .cloned()
                        .unwrap()
                )
            )
            .await
            .is_err()
    );
    let r = client
        .get_prompt(
            GetPromptRequestParams::new("production_readiness").with_arguments(
                serde_json::json!({"environment": "local"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        )
        .await?;
    assert!(format!("{:?}", r.messages[0].content).contains("fine here"));

    // argument completion
    let c = client
        .complete(CompleteRequestParams::new(
            Reference::for_prompt("review_stack"),
            ArgumentInfo::new("focus", "ra"),
        ))
        .await?;
    assert_eq!(c.completion.values, vec!["rate-limits".to_string()]);

    // the skill is served: as a resource, and through the Skills extension
    let res = client.list_all_resources().await?;
    let uri = res
        .iter()
        .find(|r| r.uri.ends_with("SKILL.md"))
        .expect("SKILL.md resource")
        .uri
        .clone();
    let rr = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await?;
    assert!(format!("{:?}", rr.contents[0]).contains("traffic-engineer"));
    let catalog = skill::load().expect("skill loads");
    let skills = catalog.list_skills();
    assert_eq!(skills.skills.len(), 1);
    client.cancel().await?;
    Ok(())
}

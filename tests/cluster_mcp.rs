//! The MCP tools `apply` and `status` against the real test API server (see tests/cluster.rs),
//! through rmcp's client over an in-process transport. The client has no elicitation: `apply`
//! without `confirm` returns the plan and writes nothing.

use kube::api::{Api, ApiResource, DynamicObject};
use rmcp::{ServiceExt, model::*};
use serde_json::{Value, json};
use traffic_engineer::mcp::TrafficServer;
use traffic_engineer::validate::Validator;

#[path = "cluster/harness.rs"]
mod harness;

/// Both tests point the server at the same test cluster; the value never differs.
fn set_kubeconfig(k: &std::path::Path) {
    static SET: std::sync::Once = std::sync::Once::new();
    // SAFETY: set once, to the same value, before the servers of this binary read it
    SET.call_once(|| unsafe { std::env::set_var("KUBECONFIG", k) });
}

fn args(v: Value) -> JsonObject {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_apply_tool_writes_only_when_confirmed_and_status_reads() {
    let kubeconfig = harness::kubeconfig();
    // the server reads the cluster from its environment, as a registered server does
    set_kubeconfig(&kubeconfig);
    let ns = harness::namespace("mcp");
    let gw = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: {ns}\nspec:\n  gatewayClassName: eg\n  listeners:\n  - name: http\n    protocol: HTTP\n    port: 80\n"
    );
    let (root, stack) = harness::stack(&[("gateway.yaml", &gw)], "");

    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = TrafficServer::new(stack, Validator::new());
    tokio::spawn(async move {
        if let Ok(s) = server.serve(server_io).await {
            let _ = s.waiting().await;
        }
    });
    let client = ().serve(client_io).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let apply_tool = tools.iter().find(|t| t.name == "apply").unwrap();
    let a = apply_tool.annotations.as_ref().unwrap();
    assert_eq!(a.destructive_hint, Some(true));
    assert_eq!(a.read_only_hint, Some(false));
    let status_tool = tools.iter().find(|t| t.name == "status").unwrap();
    assert_eq!(
        status_tool.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );

    let c = harness::cluster().await;
    let ar = ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "Gateway".into(),
        plural: "gateways".into(),
    };
    let gateways: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), ns, &ar);

    // no confirm, no elicitation in this client: the plan, nothing written
    let r = client
        .call_tool(
            CallToolRequestParams::new("apply").with_arguments(args(json!({"timeout_seconds": 0}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let sc = r.structured_content.clone().unwrap();
    assert_eq!(sc["mode"], "plan");
    assert_eq!(sc["written"], false);
    assert_eq!(sc["objects"][0]["action"], "would-create");
    let text = format!("{:?}", r.content);
    assert!(
        text.contains("call apply again with confirm: true"),
        "{text}"
    );
    assert!(gateways.get_opt("gw").await.unwrap().is_none());

    // a bad argument is refused naming the field
    let r = client
        .call_tool(
            CallToolRequestParams::new("apply").with_arguments(args(json!({"confirm": "yes"}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(format!("{:?}", r.content).contains("confirm"), "{r:?}");
    let r = client
        .call_tool(
            CallToolRequestParams::new("apply")
                .with_arguments(args(json!({"dry_run": true, "confirm": true}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(gateways.get_opt("gw").await.unwrap().is_none());

    // confirmed: written, then the wait times out cleanly (no controller) and says so
    let r = client
        .call_tool(
            CallToolRequestParams::new("apply")
                .with_arguments(args(json!({"confirm": true, "timeout_seconds": 1}))),
        )
        .await
        .unwrap();
    let sc = r.structured_content.clone().unwrap();
    assert_eq!(sc["written"], true, "{sc}");
    assert_eq!(sc["objects"][0]["action"], "created");
    assert_eq!(sc["timed_out"], true);
    assert_eq!(
        r.is_error,
        Some(true),
        "a wait that timed out is not a success"
    );
    assert!(gateways.get_opt("gw").await.unwrap().is_some());

    // status reads it back
    let r = client
        .call_tool(CallToolRequestParams::new("status"))
        .await
        .unwrap();
    let sc = r.structured_content.clone().unwrap();
    assert_eq!(sc["objects"][0]["state"], "present", "{sc}");
    assert_eq!(sc["objects"][0]["managed"], true);
    assert_eq!(sc["objects"][0]["ready"], false);
    drop(root);
    let _ = client.cancel().await;
}

/// A client that supports form elicitation (answering with `answer`) and records progress.
#[derive(Clone)]
struct Confirming {
    answer: bool,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    progress: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl rmcp::ClientHandler for Confirming {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked.lock().unwrap().push(message.clone());
        }
        Ok(if self.answer {
            ElicitResult::new(ElicitationAction::Accept).with_content(json!({"apply": true}))
        } else {
            ElicitResult::new(ElicitationAction::Decline)
        })
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.progress
            .lock()
            .unwrap()
            .push(params.message.unwrap_or_default());
    }

    fn get_info(&self) -> ClientConfig {
        let mut c = ClientConfig::default();
        c.capabilities = ClientCapabilities::builder()
            .enable_elicitation_with(
                ElicitationCapability::new().with_form(FormElicitationCapability::new()),
            )
            .build();
        c
    }
}

#[tokio::test]
async fn the_apply_tool_asks_through_elicitation_and_reports_progress() {
    let kubeconfig = harness::kubeconfig();
    let ns = harness::namespace("elicit");
    let gw = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: {ns}\nspec:\n  gatewayClassName: eg\n  listeners:\n  - name: http\n    protocol: HTTP\n    port: 80\n"
    );
    let route = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  parentRefs:\n  - name: gw\n"
    );
    let (_root, stack) = harness::stack(&[("gateway.yaml", &gw), ("route.yaml", &route)], "");
    let c = harness::cluster().await;
    let ar = ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "Gateway".into(),
        plural: "gateways".into(),
    };
    let gateways: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), ns, &ar);
    set_kubeconfig(&kubeconfig);

    for answer in [false, true] {
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let server = TrafficServer::new(stack.clone(), Validator::new());
        tokio::spawn(async move {
            if let Ok(s) = server.serve(server_io).await {
                let _ = s.waiting().await;
            }
        });
        let handler = Confirming {
            answer,
            asked: Default::default(),
            progress: Default::default(),
        };
        let client = handler.clone().serve(client_io).await.unwrap();
        let handle = client
            .send_cancellable_request(
                ClientRequest::CallToolRequest(Request::new(
                    CallToolRequestParams::new("apply")
                        .with_arguments(args(json!({"timeout_seconds": 0}))),
                )),
                rmcp::service::PeerRequestOptions::no_options(),
            )
            .await
            .unwrap();
        let ServerResult::CallToolResult(r) = handle.await_response().await.unwrap() else {
            panic!("not a tool result")
        };
        let asked = handler.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(asked[0].contains("(2 objects)"), "{}", asked[0]);
        let sc = r.structured_content.clone().unwrap();
        if answer {
            assert_eq!(sc["written"], true, "{sc}");
            assert!(gateways.get_opt("gw").await.unwrap().is_some());
            // progress notifications arrive before the response; one per object written
            let progress = handler.progress.lock().unwrap().clone();
            assert_eq!(
                progress,
                [
                    format!("Gateway {ns}/gw created"),
                    format!("HTTPRoute {ns}/api created")
                ]
            );
        } else {
            assert_eq!(sc["written"], false, "{sc}");
            assert!(format!("{:?}", r.content).contains("the user did not confirm"));
            assert!(gateways.get_opt("gw").await.unwrap().is_none());
        }
        let _ = client.cancel().await;
    }
}

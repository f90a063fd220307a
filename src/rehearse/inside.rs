//! The inner process of a rehearsal (see `session` for the namespaces it runs in): loopback up,
//! the private hosts file, stub backends, Redis, Envoy Gateway (which starts Envoy), the
//! rate-limit service, then verify; every process it started is stopped before it returns.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::session::{
    EG_RATELIMIT_XDS, InsideResult, InsideRow, RATELIMIT_DEBUG_PORT, RATELIMIT_GRPC_PORT,
    REDIS_PORT, Session,
};
use super::stub::Stub;

/// Children killed (and reaped) on drop, in reverse start order.
#[derive(Default)]
struct Children(Vec<(String, Child)>);

impl Children {
    fn start(&mut self, name: &str, cmd: &mut Command, log: &Path) -> Result<(), String> {
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        self.0.push((name.to_string(), child));
        Ok(())
    }

    /// A child that already exited: its name and status.
    fn exited(&mut self) -> Option<String> {
        for (name, c) in &mut self.0 {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(format!("{name} exited ({st})"));
            }
        }
        None
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        while let Some((_, mut c)) = self.0.pop() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One HTTP/1.1 GET on loopback: (status, raw head, body). Short timeouts.
fn get(
    port: u16,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let _ = s.take(1 << 20).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// Envoy's admin port, from the file func-e asks Envoy to write (`--admin-address-path`,
/// `<runtime dir>/<run id>/admin-address.txt`, func-e v1.6.0 internal/envoy/runtime.go).
fn envoy_admin_port(work: &Path) -> Option<u16> {
    for run in std::fs::read_dir(work.join("run")).ok()?.flatten() {
        if let Ok(text) = std::fs::read_to_string(run.path().join("admin-address.txt"))
            && let Some(port) = text.trim().rsplit(':').next().and_then(|p| p.parse().ok())
        {
            return Some(port);
        }
    }
    None
}

/// Envoy's rate-limit cluster has a healthy host (its STRICT_DNS name resolved through the
/// hosts file): until then Envoy's rate-limit filter fails open and lets requests through.
fn ratelimit_cluster_healthy(work: &Path) -> bool {
    let Some(port) = envoy_admin_port(work) else {
        return false;
    };
    let Some((200, _, body)) = get(
        port,
        "localhost",
        "/stats?filter=%5Ecluster%5C.ratelimit_cluster%5C.membership_healthy%24",
        &[],
    ) else {
        return false;
    };
    body.lines()
        .filter_map(|l| l.split_once(": "))
        .any(|(_, v)| v.trim().parse::<u64>().map(|n| n > 0).unwrap_or(false))
}

fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

/// Run the session in `work/session.json`; the result goes to `work/result.json`.
pub fn main(session_file: &Path) -> i32 {
    let text = match std::fs::read_to_string(session_file) {
        Ok(t) => t,
        Err(_) => return 2,
    };
    let Ok(session) = serde_json::from_str::<Session>(&text) else {
        return 2;
    };
    let result = run(&session);
    let out = session.work.join("result.json");
    match serde_json::to_vec_pretty(&result) {
        Ok(bytes) => {
            if std::fs::write(&out, bytes).is_ok() {
                0
            } else {
                2
            }
        }
        Err(_) => 2,
    }
}

fn run(s: &Session) -> InsideResult {
    let mut r = InsideResult::default();
    let mut children = Children::default();
    let mut stubs = Vec::new();
    if let Err(e) = start(s, &mut r, &mut children, &mut stubs) {
        r.error = Some(e);
    }
    drop(children);
    drop(stubs);
    r.steps
        .push("stopped every process and stub backend".into());
    r
}

fn mount(args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let st = Command::new("mount")
        .args(args)
        .status()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("mount {args:?} failed ({st})"))
    }
}

/// The files Envoy Gateway's translator points Envoy at that exist only in a cluster, in a root
/// of this process's own (private mount namespace): the same tree as the host's (every top-level
/// directory bind-mounted, every top-level link copied), plus
/// - `/dev/shm`: an empty tmpfs;
/// - `/etc/hosts`: the rehearsal's hosts file (names of the rate-limit service and xDS server);
/// - `/certs`: Envoy's certificates from `certgen --local`; the translator gives Envoy's
///   rate-limit cluster `/certs/ca.crt` as its trusted CA (internal/xds/translator/
///   globalresources.go), the path where a cluster mounts them.
fn private_root(s: &Session) -> Result<(), String> {
    use std::ffi::OsStr;
    let root = s.work.join("root");
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let entries = std::fs::read_dir("/").map_err(|e| format!("reading /: {e}"))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let dst = root.join(&name);
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_symlink() {
            if let Ok(target) = std::fs::read_link(e.path()) {
                std::os::unix::fs::symlink(target, &dst)
                    .map_err(|err| format!("{}: {err}", dst.display()))?;
            }
        } else if ft.is_dir() {
            std::fs::create_dir_all(&dst).map_err(|err| format!("{}: {err}", dst.display()))?;
            mount(&[OsStr::new("--rbind"), e.path().as_os_str(), dst.as_os_str()])?;
        }
    }
    // A /dev/shm of its own: Envoy keeps its hot-restart shared memory there
    // (envoy_shared_memory_<base id>), which must neither land on the host nor meet another
    // Envoy's.
    let shm = root.join("dev/shm");
    if shm.is_dir() {
        mount(&[
            OsStr::new("-t"),
            OsStr::new("tmpfs"),
            OsStr::new("tmpfs"),
            shm.as_os_str(),
        ])?;
    }
    mount(&[
        OsStr::new("--bind"),
        s.hosts.as_os_str(),
        root.join("etc/hosts").as_os_str(),
    ])?;
    let certs = root.join("certs");
    std::fs::create_dir_all(&certs).map_err(|e| format!("{}: {e}", certs.display()))?;
    mount(&[
        OsStr::new("--bind"),
        s.certs.join("envoy").as_os_str(),
        certs.as_os_str(),
    ])?;
    std::os::unix::fs::chroot(&root).map_err(|e| format!("chroot {}: {e}", root.display()))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    Ok(())
}

fn start(
    s: &Session,
    r: &mut InsideResult,
    children: &mut Children,
    stubs: &mut Vec<Stub>,
) -> Result<(), String> {
    let w = &s.work;
    // Loopback up, private hosts file (see `session`).
    let ok = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("cannot run `ip link set lo up` (iproute2): {e}"))?;
    if !ok.success() {
        return Err(format!("`ip link set lo up` failed ({ok})"));
    }
    private_root(s)?;
    r.steps
        .push("private network (loopback only), hosts file and /certs".into());

    for b in &s.backends {
        let stub = Stub::start(&b.name, b.port)
            .map_err(|e| format!("stub backend {} on 127.0.0.1:{}: {e}", b.name, b.port))?;
        stubs.push(stub);
    }
    r.steps.push(format!(
        "stub backends: {}",
        s.backends
            .iter()
            .map(|b| format!("{} on 127.0.0.1:{}", b.name, b.port))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    if s.global_rate_limit {
        children.start(
            "redis-server",
            Command::new(&s.redis_server)
                .args(["--bind", "127.0.0.1", "--port", &REDIS_PORT.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(w),
            &w.join("redis.log"),
        )?;
        r.steps
            .push(format!("redis-server on 127.0.0.1:{REDIS_PORT}"));
    }

    let mut rl_ready = !s.global_rate_limit;
    let mut rl_reason = String::new();
    if s.global_rate_limit {
        let certs = s.certs.join("envoy-rate-limit");
        let c = |f: &str| certs.join(f).display().to_string();
        // The environment Envoy Gateway gives the rate-limit Deployment it creates in a cluster
        // (internal/infrastructure/kubernetes/ratelimit/resource.go), with host paths.
        children.start(
            "ratelimit",
            Command::new(&s.ratelimit)
                .env("RUNTIME_ROOT", w.join("ratelimit-runtime"))
                .env("RUNTIME_SUBDIRECTORY", "ratelimit")
                .env("RUNTIME_IGNOREDOTFILES", "true")
                .env("RUNTIME_WATCH_ROOT", "false")
                .env("LOG_LEVEL", "info")
                .env("USE_STATSD", "false")
                .env("CONFIG_TYPE", "GRPC_XDS_SOTW")
                .env("CONFIG_GRPC_XDS_SERVER_URL", EG_RATELIMIT_XDS)
                .env("CONFIG_GRPC_XDS_NODE_ID", "envoy-ratelimit")
                .env("GRPC_SERVER_USE_TLS", "true")
                .env("GRPC_SERVER_TLS_CERT", c("tls.crt"))
                .env("GRPC_SERVER_TLS_KEY", c("tls.key"))
                .env("GRPC_SERVER_TLS_CA_CERT", c("ca.crt"))
                .env("CONFIG_GRPC_XDS_SERVER_USE_TLS", "true")
                .env("CONFIG_GRPC_XDS_CLIENT_TLS_CERT", c("tls.crt"))
                .env("CONFIG_GRPC_XDS_CLIENT_TLS_KEY", c("tls.key"))
                .env("CONFIG_GRPC_XDS_SERVER_TLS_CACERT", c("ca.crt"))
                .env("FORCE_START_WITHOUT_INITIAL_CONFIG", "true")
                .env("REDIS_SOCKET_TYPE", "tcp")
                .env("REDIS_URL", super::session::REDIS_URL)
                .env("GRPC_PORT", RATELIMIT_GRPC_PORT.to_string())
                .env("PORT", "8080")
                .env("DEBUG_PORT", RATELIMIT_DEBUG_PORT.to_string())
                .env("HOME", w),
            &w.join("ratelimit.log"),
        )?;
        r.steps.push(format!(
            "ratelimit (gRPC :{RATELIMIT_GRPC_PORT}, configuration from Envoy Gateway's rate-limit xDS server {EG_RATELIMIT_XDS}, Redis)"
        ));
    }

    if s.global_rate_limit {
        // Envoy Gateway's file provider also opens a health probe server on :8081, the port the
        // translator gives Envoy for the rate-limit service; the rate-limit service takes it
        // first (the probe server's failure is only logged by Envoy Gateway).
        let until = Instant::now() + Duration::from_secs(s.ready_timeout_secs);
        while TcpStream::connect(("127.0.0.1", RATELIMIT_GRPC_PORT)).is_err() {
            if let Some(e) = children.exited() {
                return Err(format!(
                    "{e}; ratelimit log:\n{}",
                    tail(&w.join("ratelimit.log"), 15)
                ));
            }
            if Instant::now() > until {
                return Err(format!(
                    "ratelimit did not listen on :{RATELIMIT_GRPC_PORT} within {} s",
                    s.ready_timeout_secs
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    children.start(
        "envoy-gateway",
        Command::new(&s.envoy_gateway)
            .arg("server")
            .arg("--config-path")
            .arg(&s.eg_config)
            .env("HOME", w),
        &w.join("envoy-gateway.log"),
    )?;
    r.steps
        .push("envoy-gateway server (file provider, host infrastructure)".into());

    // Ready: Envoy answers through a route (a stub names itself), ratelimit has its configuration.
    let deadline = Instant::now() + Duration::from_secs(s.ready_timeout_secs);
    let probe_port = s
        .http_url
        .as_deref()
        .or(s.https_url.as_deref())
        .and_then(port_of);
    let http_port = s.http_url.as_deref().and_then(port_of);
    let mut envoy_ready = false;
    let mut probes = 0u32;
    while Instant::now() < deadline {
        if let Some(e) = children.exited() {
            return Err(format!(
                "{e} before the gateway was ready; envoy-gateway log:\n{}",
                tail(&w.join("envoy-gateway.log"), 15)
            ));
        }
        if !envoy_ready && let Some(port) = http_port {
            probes += 1;
            let user = format!("rehearse-ready-{probes}");
            if let Some((_, head, _)) = get(port, &s.host, "/", &[("x-user-id", &user)])
                && head.to_ascii_lowercase().contains("x-backend:")
            {
                envoy_ready = true;
            }
        } else if !envoy_ready && probe_port.is_some() {
            // HTTPS only: a TCP connection to the listener is the sign.
            envoy_ready = probe_port
                .map(|p| TcpStream::connect(("127.0.0.1", p)).is_ok())
                .unwrap_or(false);
        }
        if !rl_ready
            && envoy_ready
            && let Some((200, _, body)) = get(RATELIMIT_DEBUG_PORT, "localhost", "/rlconfig", &[])
            && !body.trim().is_empty()
            && ratelimit_cluster_healthy(w)
        {
            rl_ready = true;
        }
        if envoy_ready && rl_ready {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !envoy_ready {
        return Err(format!(
            "Envoy did not serve the routes within {} s; envoy-gateway log:\n{}",
            s.ready_timeout_secs,
            tail(&w.join("envoy-gateway.log"), 20)
        ));
    }
    r.steps
        .push("Envoy (started by Envoy Gateway through func-e) serves the routes".into());
    if s.global_rate_limit {
        if rl_ready {
            r.steps.push(
                "ratelimit loaded the configuration Envoy Gateway produced; Envoy's rate-limit cluster is healthy"
                    .into(),
            );
        } else {
            rl_reason = format!(
                "the rate-limit service did not load a configuration from Envoy Gateway's rate-limit xDS server, or Envoy's rate-limit cluster had no healthy host, within {} s; ratelimit log: {}",
                s.ready_timeout_secs,
                tail(&w.join("ratelimit.log"), 5).replace('\n', " | ")
            );
        }
    }

    // verify
    let parsed = crate::spec::parse(&s.spec_text)
        .map_err(|e| format!("the spec does not parse: {e:?}"))?
        .spec;
    let listeners = crate::verify::Listeners::parse(
        s.http_url.as_deref(),
        s.https_url.as_deref(),
        crate::verify::ListenerFields::TOOL,
    )
    .map_err(|e| format!("the rehearsal's listeners: {e}"))?;
    let target = crate::spec::live::target(
        &listeners,
        &s.host,
        s.ca_pem.clone(),
        crate::verify::ListenerFields::TOOL,
    );
    // envoyproxy/ratelimit counts in fixed windows aligned to the unit (a minute starts at :00),
    // not in a refilling bucket: a burst that straddles a window boundary sees two windows. Start
    // the checks early enough in a minute that the bursts stay within one.
    if s.global_rate_limit
        && parsed
            .rate_limits
            .as_ref()
            .is_some_and(|rl| rl.unit == crate::intent::RateUnit::Minute)
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let into = now.as_secs() % 60;
        if into >= 45 {
            let wait = Duration::from_secs(60 - into) + Duration::from_millis(200);
            std::thread::sleep(wait);
            r.steps.push(format!(
                "waited {} s for the next minute: ratelimit's windows are fixed minutes",
                wait.as_secs()
            ));
        }
    }
    let second = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| format!(":{:02}.{:03}", d.as_secs() % 60, d.subsec_millis()))
            .unwrap_or_default()
    };
    r.steps.push(format!(
        "verify started at {} past the minute",
        second(std::time::SystemTime::now())
    ));
    let opts = crate::spec::live::LiveOptions::default();
    let (rows, _) = crate::spec::live::verify(&parsed, &target, &opts, &mut |_, _, _| {})
        .map_err(|e| format!("verify could not run: {e}"))?;
    let rate_ids: Vec<&str> = parsed
        .criteria
        .iter()
        .filter(|c| c.check == crate::spec::CheckKind::RateLimits)
        .map(|c| c.id.as_str())
        .collect();
    for row in rows {
        let (status, summary) = if !rl_ready && rate_ids.contains(&row.id.as_str()) {
            (
                "NOT-REHEARSED".to_string(),
                format!("{rl_reason} (traffic gave: {} {})", row.status, row.summary),
            )
        } else {
            (row.status, row.summary)
        };
        r.rows.push(InsideRow {
            id: row.id,
            status,
            summary,
            command: row.command,
        });
    }
    r.steps
        .push("verify ran against the rehearsed gateway".into());
    Ok(())
}

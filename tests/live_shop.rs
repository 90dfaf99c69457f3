//! The seed's demo, live: the shop of OpenTelemetry-instrumented services on two nodes joined
//! by a flannel-style VXLAN, with wirespan as the agent on each node (capture on every
//! interface + OTLP receiver + correlation). pcaps/shop/live-shop.sh runs it and
//! pcaps/shop/check_live.py asserts, per request, the five links in the two agents' output.
//! Needs root, network namespaces, MariaDB and the services' Python packages (CI installs them).

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output};
use std::sync::Mutex;

fn prerequisites() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root".into());
    }
    for tool in ["ip", "bridge", "curl", "mariadbd", "mariadb-install-db"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(format!("{tool} is missing"));
        }
    }
    let python = Command::new("python3")
        .args([
            "-c",
            "import grpc, grpc_tools, pymysql, flask, gunicorn, requests, opentelemetry.sdk, opentelemetry.proto; \
             from opentelemetry.instrumentation.flask import FlaskInstrumentor; \
             from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient; \
             from opentelemetry.instrumentation.requests import RequestsInstrumentor; \
             from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        return Err("the shop's Python packages are missing (see pcaps/shop/README.md)".into());
    }
    Ok(())
}

/// Both tests build the same namespaces: one at a time.
static SHOP: Mutex<()> = Mutex::new(());

/// Runs live-shop.sh with `env` into a fresh directory; None when the machine cannot.
fn live_shop(name: &str, env: &[(&str, &str)]) -> Option<(std::path::PathBuf, Output)> {
    if let Err(why) = prerequisites() {
        if std::env::var_os("CI").is_some() {
            panic!("the live shop must run on CI, but {why}");
        }
        eprintln!("SKIPPED: live shop demo: {why}");
        return None;
    }
    let _one = SHOP.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::env::temp_dir().join(format!("wirespan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new("bash")
        .arg(repo("pcaps/shop/live-shop.sh"))
        .arg(env!("CARGO_BIN_EXE_wirespan"))
        .arg(&out)
        .envs(env.iter().copied())
        .output()
        .expect("run live-shop.sh");
    Some((out, run))
}

/// Eight checkouts at once, sixteen in all, with both agents live: check_load.py (run by
/// live-shop.sh) fails on any network span in another user's trace or under another app,
/// against the cart's and catalog's own records.
#[test]
fn under_load_no_live_span_has_a_wrong_parent() {
    live_load("live-load", &[]);
}

/// The same with the catalog under gunicorn: three sync worker processes, each with its own
/// SDK and its own DB connection.
#[test]
fn under_load_with_a_prefork_server_no_live_span_has_a_wrong_parent() {
    live_load("live-prefork", &[("CATALOG_PREFORK", "3")]);
}

fn live_load(name: &str, extra: &[(&str, &str)]) {
    let mut env = vec![("CONCURRENCY", "8"), ("REQUESTS", "16")];
    env.extend_from_slice(extra);
    let Some((out, run)) = live_shop(name, &env) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "live load failed:\n{stdout}\n{stderr}"
    );
    let all = stdout
        .lines()
        .find(|l| l.starts_with("all "))
        .unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    let cols: Vec<u64> = all
        .split_whitespace()
        .skip(1)
        .filter_map(|c| c.parse().ok())
        .collect();
    // spans, right, wrong, ambiguous, unjoined
    assert_eq!(cols.len(), 5, "{all}");
    assert_eq!(cols[2], 0, "wrong parents:\n{stdout}");
    assert!(cols[1] * 10 >= cols[0] * 9, "most calls joined:\n{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn every_request_is_one_trace_with_wirespan_as_the_agent_on_both_nodes() {
    let Some((out, run)) = live_shop("live-shop", &[("METRICS_COLLECTOR", "1")]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "live shop failed:\n{stdout}\n{stderr}"
    );
    // Each agent received its own node's app spans and wrote joined traces.
    for node in ["node1", "node2"] {
        let agent = std::fs::read_to_string(out.join(format!("{node}.stderr"))).unwrap_or_default();
        assert!(agent.contains("spans received"), "{node}: {agent}");
        let spans = spans_of(&std::fs::read(out.join(format!("{node}.jsonl"))).unwrap_or_default());
        assert!(
            spans
                .iter()
                .any(|s| attr_str(s, "wirespan.reparented_from").is_some()),
            "{node} re-parented app spans"
        );
        check_pushed_graph(&out, node, &agent, &spans);
        check_names(node, &spans);
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Every network span names each end that runs on the agent's own node (its pods are
/// 10.244.<n>.0/24), by service or by the process that owns the socket; MariaDB is `mariadbd`
/// and the load generator (no SDK) `curl`, by process.
fn check_names(node: &str, spans: &[Value]) {
    let pods = format!("10.244.{}.", &node[4..]);
    let network: Vec<&Value> = spans
        .iter()
        .filter(|s| attr_str(s, "wirespan.capture.point").is_some())
        .collect();
    let (mut db, mut loadgen) = (0, 0);
    for s in &network {
        for (end, service) in [
            ("client", "wirespan.client.service.name"),
            ("server", "peer.service"),
        ] {
            let address = attr_str(s, &format!("{end}.address")).unwrap_or_default();
            if !address.starts_with(&pods) {
                continue;
            }
            let process = attr_str(s, &format!("wirespan.{end}.process.executable.name"));
            assert!(
                attr_str(s, service).is_some() || process.is_some(),
                "{node}: the {end} {address} of {s} is on this node and unnamed"
            );
        }
        if attr_str(s, "db.system").as_deref() == Some("mysql") {
            db += 1;
            assert_eq!(
                attr_str(s, "wirespan.server.process.executable.name").as_deref(),
                Some("mariadbd"),
                "{node}: {s}"
            );
        }
        if attr_int(s, "server.port") == Some(8080)
            && attr_str(s, "client.address").is_some_and(|a| a.starts_with(&pods))
            && attr_str(s, "wirespan.client.service.name").is_none()
        {
            loadgen += 1;
            assert_eq!(
                attr_str(s, "wirespan.client.process.executable.name").as_deref(),
                Some("curl"),
                "{node}: {s}"
            );
        }
    }
    // MariaDB runs on node2, the load generator on node1.
    if node == "node2" {
        assert!(db > 0, "{node}: no MySQL spans");
    } else {
        assert!(loadgen > 0, "{node}: no spans of the load generator");
    }
}

/// What the node's agent pushed over OTLP/gRPC to its collector: the last push holds every
/// call of the node's output on its edge, each once, cumulative since the agent started.
fn check_pushed_graph(out: &std::path::Path, node: &str, agent: &str, spans: &[Value]) {
    let pushes =
        json_lines(&std::fs::read(out.join(format!("metrics-{node}.jsonl"))).unwrap_or_default());
    assert!(pushes.len() >= 2, "{node}: {} pushes", pushes.len());
    assert!(
        agent.contains(&format!("metrics push: {} sent, 0 failed", pushes.len())),
        "{node}: {agent}"
    );
    let last = pushes.last().expect("a push");
    assert_eq!(last["transport"], "grpc");
    assert_eq!(last["resource"]["host.name"], node);
    let edges = service_graph_edges(spans);
    // node1: curl → frontend, frontend → the services on node2 (by process: both "nodes" are
    // namespaces of this one host, so the namer sees node2's sockets too); node2 more.
    assert!(edges.len() >= 2, "{node}: {edges:?}");
    let totals: Vec<&Value> = last["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter(|p| p["metric"] == "traces_service_graph_request_total")
        .collect();
    assert_eq!(totals.len(), edges.len(), "{node}: {totals:?} vs {edges:?}");
    for ((client, server, kind), calls) in &edges {
        let point = totals
            .iter()
            .find(|p| {
                p["labels"]["client"] == client.as_str()
                    && p["labels"]["server"] == server.as_str()
                    && p["labels"]["connection_type"] == kind.as_str()
            })
            .unwrap_or_else(|| panic!("{node}: no {client} → {server} in {totals:?}"));
        assert_eq!(
            point["value"],
            calls.len() as u64,
            "{node}: {client} → {server}"
        );
    }
}

/// The frontend calls the catalog over HTTPS (SHOP_TLS=1), writing its TLS key log as Python
/// clients do (SSLKEYLOGFILE through urllib3); both agents follow that file
/// (`capture --tls-keylog`). check_live.py still finds every request one trace with the
/// frontend→catalog call in it, read inside TLS (the catalog's SERVER span under that call's
/// last hop); each connection's handshake spans hang beside its first call's hops.
#[test]
fn with_tls_between_frontend_and_catalog_every_request_is_still_one_trace() {
    let Some((out, run)) = live_shop("live-tls", &[("SHOP_TLS", "1")]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "live shop over TLS failed:\n{stdout}\n{stderr}"
    );
    let loadgen: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("loadgen.json")).expect("loadgen.json"),
    )
    .expect("json");
    let requests = loadgen["requests"].as_array().map_or(0, Vec::len);
    assert!(requests > 0);
    for node in ["node1", "node2"] {
        let agent = std::fs::read_to_string(out.join(format!("{node}.stderr"))).unwrap_or_default();
        assert_eq!(
            counter(&agent, "tls_records_unauthenticated"),
            0,
            "{node}: {agent}"
        );
        let spans = spans_of(&std::fs::read(out.join(format!("{node}.jsonl"))).unwrap_or_default());
        let catalog: Vec<&Value> = spans
            .iter()
            .filter(|s| {
                attr_str(s, "wirespan.capture.point").is_some()
                    && attr_str(s, "server.address").as_deref() == Some("10.244.2.20")
            })
            .collect();
        let handshakes = catalog
            .iter()
            .filter(|s| attr_str(s, "network.protocol.name").as_deref() == Some("tls"))
            .count();
        let inside: Vec<&&Value> = catalog
            .iter()
            .filter(|s| attr(s, "wirespan.tls.decrypted").and_then(|v| v.as_bool()) == Some(true))
            .collect();
        assert!(handshakes > 0, "{node}: no TLS handshake to the catalog");
        for s in &inside {
            assert_eq!(
                attr_str(s, "url.path").as_deref(),
                Some("/items"),
                "{node}: {s}"
            );
            assert_eq!(attr_str(s, "tls.protocol.version").as_deref(), Some("1.3"));
        }
        // Every checkout's catalog call, read inside TLS, at each capture point of this node.
        let calls: std::collections::HashSet<String> = inside
            .iter()
            .filter_map(|s| attr_str(s, "url.query"))
            .collect();
        assert_eq!(calls.len(), requests, "{node}: {calls:?}");
        check_handshakes_beside_their_calls(node, &catalog);
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The agents restart after a first checkout (LATE_JOIN=1): the load runs on a gRPC channel
/// and DB connections older than the agents. check_live.py still finds every request one
/// trace, and every gRPC network span names its service and method, learned from the app
/// span its trace context joined, as each agent counts.
#[test]
fn after_an_agent_restart_every_grpc_call_is_named() {
    let Some((out, run)) = live_shop("live-late", &[("LATE_JOIN", "1"), ("REQUESTS", "4")]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "live late join failed:\n{stdout}\n{stderr}"
    );
    for node in ["node1", "node2"] {
        let agent = std::fs::read_to_string(out.join(format!("{node}.stderr"))).unwrap_or_default();
        let unknown = counter(&agent, "grpc_calls_method_unknown");
        assert!(unknown > 0, "{node} joined late: {agent}");
        assert_eq!(
            counter(&agent, "correlation_names_learned"),
            unknown,
            "{node}"
        );
        let spans = spans_of(&std::fs::read(out.join(format!("{node}.jsonl"))).unwrap_or_default());
        let grpc: Vec<_> = spans
            .iter()
            .filter(|s| {
                attr_str(s, "rpc.system").as_deref() == Some("grpc")
                    && attr_str(s, "wirespan.capture.point").is_some()
            })
            .collect();
        assert_eq!(grpc.len() as u64, unknown, "{node}");
        for s in grpc {
            assert_eq!(s["name"], "shop.Cart/GetCart", "{node}: {s}");
            assert_eq!(
                attr_str(s, "wirespan.learned_from").as_deref(),
                Some("app_span"),
                "{node}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Each connection's TLS handshake, at every capture point, is in the trace of the first call
/// on its connection, its first span under that call's caller (the frontend's CLIENT span) and
/// the others under it along the path: beside the call's hops, never among them.
fn check_handshakes_beside_their_calls(node: &str, catalog: &[&Value]) {
    let id = |s: &Value, k: &str| s[k].as_str().unwrap_or("").to_owned();
    let port = |s: &Value| attr(s, "client.port").map(|v| v.to_string());
    let is_handshake = |s: &Value| attr_str(s, "network.protocol.name").as_deref() == Some("tls");
    let ids: std::collections::HashSet<String> = catalog.iter().map(|s| id(s, "spanId")).collect();
    for h in catalog.iter().filter(|s| is_handshake(s)) {
        let first_call = catalog
            .iter()
            .filter(|s| !is_handshake(s) && port(s) == port(h))
            .min_by_key(|s| {
                id(s, "startTimeUnixNano")
                    .parse::<u64>()
                    .unwrap_or(u64::MAX)
            });
        let Some(first_call) = first_call else {
            panic!("{node}: a handshake with no call on its connection: {h}");
        };
        assert_eq!(id(h, "traceId"), id(first_call, "traceId"), "{node}: {h}");
        let parent = id(h, "parentSpanId");
        let caller = catalog
            .iter()
            .filter(|s| !is_handshake(s) && port(s) == port(h))
            .map(|s| id(s, "parentSpanId"))
            .find(|p| !ids.contains(p));
        let beside = Some(&parent) == caller.as_ref()
            || catalog
                .iter()
                .any(|s| is_handshake(s) && id(s, "spanId") == parent && port(s) == port(h));
        assert!(beside, "{node}: handshake not beside its call's hops: {h}");
    }
}

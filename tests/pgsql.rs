//! PostgreSQL from a real server (PostgreSQL 15) and real clients (psql, psycopg 3), captured
//! by pcaps/pgsql/gen-pgsql.sh: every call psycopg logged (pgsql.expected.json) has its span
//! with the SQL, the rows, the SQLSTATE, the user and database it had; the message counts agree
//! with tshark's dissection.

mod common;

use common::*;
use serde_json::Value;

fn command(span: &Value) -> Option<String> {
    attr_str(span, "wirespan.pgsql.command")
}

#[test]
fn every_call_the_client_logged_has_its_span() {
    let pcap = repo("pcaps/pgsql/psycopg.pcap");
    let expected = read_json("pcaps/pgsql/pgsql.expected.json");
    let run = replay(std::slice::from_ref(&pcap), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut spans = run.spans();
    spans.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    for s in &spans {
        assert_eq!(
            attr_str(s, "db.system").as_deref(),
            Some("postgresql"),
            "{s}"
        );
    }
    let calls = expected["calls"].as_array().expect("calls");
    let port = calls
        .iter()
        .find_map(|c| c["client_port"].as_i64())
        .expect("psycopg's port");
    let mine: Vec<&Value> = spans
        .iter()
        .filter(|s| attr_int(s, "client.port") == Some(port))
        .collect();
    // The calls of one kind and SQL, in order, against the spans of that kind and SQL.
    let mut used = vec![false; mine.len()];
    let mut take = |kind: &str, sql: &str, named: Option<bool>| -> &Value {
        let i = mine
            .iter()
            .enumerate()
            .position(|(i, s)| {
                !used[i]
                    && command(s).as_deref() == Some(kind)
                    && attr_str(s, "db.query.text").as_deref() == Some(sql)
                    && named.is_none_or(|n| attr_str(s, "wirespan.pgsql.statement").is_some() == n)
            })
            .unwrap_or_else(|| panic!("no {kind} span of {sql}"));
        used[i] = true;
        mine[i]
    };
    for call in calls {
        let sql = call["sql"].as_str().unwrap_or("");
        match call["kind"].as_str() {
            Some("login-failed") => {
                let span = spans
                    .iter()
                    .find(|s| {
                        command(s).as_deref() == Some("CONNECT")
                            && attr_str(s, "db.user").as_deref() == call["user"].as_str()
                    })
                    .expect("the failed login");
                assert_eq!(
                    attr_str(span, "db.response.status_code").as_deref(),
                    call["sqlstate"].as_str()
                );
                assert_eq!(span["status"]["code"], 2);
            }
            Some("login") => {
                let span = mine[0];
                assert_eq!(command(span).as_deref(), Some("CONNECT"));
                assert_eq!(attr_str(span, "db.user").as_deref(), call["user"].as_str());
                assert_eq!(
                    attr_str(span, "db.namespace").as_deref(),
                    call["database"].as_str()
                );
                assert!(span["status"]["code"].is_null());
            }
            Some("execute") => {
                let named = call["prepared"].as_bool().unwrap_or(false);
                let span = take("EXECUTE", sql, Some(named));
                assert_eq!(
                    attr_int(span, "db.response.returned_rows"),
                    call["rows"].as_i64(),
                    "{call}"
                );
                assert_eq!(
                    attr_str(span, "db.operation.name").as_deref(),
                    Some("SELECT")
                );
            }
            Some("query") => {
                let span = take("QUERY", sql, None);
                assert_eq!(
                    attr_str(span, "db.response.status_code").as_deref(),
                    call["sqlstate"].as_str(),
                    "{call}"
                );
                if let Some(rows) = call["rows"].as_i64() {
                    assert_eq!(attr_int(span, "db.response.returned_rows"), Some(rows));
                }
                if let Some(rows) = call["affected"].as_i64() {
                    assert_eq!(attr_int(span, "wirespan.pgsql.affected_rows"), Some(rows));
                }
                assert_eq!(span["status"]["code"] == 2, call["sqlstate"].is_string());
            }
            Some("pipeline") => {
                for _ in 0..call["count"].as_i64().unwrap_or(0) {
                    take("EXECUTE", sql, Some(false));
                }
            }
            other => panic!("unknown call kind {other:?}"),
        }
    }
    assert_eq!(run.counter("pgsql_copies"), 1);
    assert_eq!(run.counter("mysql_packets"), 0);
    assert_eq!(run.counter("flows_unrecognised"), 0);

    // tshark's dissection: one QUERY span per Simple query, one EXECUTE span per Execute,
    // one CONNECT span per Startup message.
    if tshark().is_none() {
        return;
    }
    let count = |kind: &str| {
        tshark_fields(&pcap, None, &["pgsql.type"], &[])
            .iter()
            .flat_map(|r| r[0].split(',').map(str::to_owned).collect::<Vec<_>>())
            .filter(|t| t == kind)
            .count()
    };
    let spans_of = |kind: &str| {
        spans
            .iter()
            .filter(|s| command(s).as_deref() == Some(kind))
            .count()
    };
    assert_eq!(spans_of("QUERY"), count("Simple query"));
    assert_eq!(spans_of("EXECUTE"), count("Execute"));
    assert_eq!(spans_of("CONNECT"), count("Startup message"));
}

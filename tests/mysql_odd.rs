//! MySQL commands beyond the main captures, from real clients (pcaps/mysql-odd/,
//! gen-mysql-odd.sh): COM_CHANGE_USER answered by an auth switch (MariaDB), COM_FIELD_LIST,
//! and query attributes (mysql-connector-python against a MySQL 8 stand-in, since MariaDB
//! does not negotiate them). Every field is checked against what the client sent and got.

mod common;

use common::*;
use serde_json::Value;

fn spans_of_port(spans: &[Value], port: &Value) -> Vec<Value> {
    let mut mine: Vec<Value> = spans
        .iter()
        .filter(|s| attr_int(s, "client.port") == port.as_i64())
        .cloned()
        .collect();
    mine.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    mine
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"))
}

#[test]
fn change_user_field_list_and_query_attributes_read_as_the_clients_sent_them() {
    let dir = repo("pcaps/mysql-odd");
    let expected = read_json("pcaps/mysql-odd/mysql-odd.expected.json");
    let run = replay(&[dir.join("mysql-odd.pcap")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = run.spans();

    // COM_CHANGE_USER: auth switch request, the client's answer, OK. The connection is bob's
    // in `audit` from then on, as the server said (CURRENT_USER(), DATABASE()).
    let case = &expected["change-user"];
    assert!(case["error"].is_null());
    let mine = spans_of_port(&spans, &case["client_port"]);
    let change = named(&mine, "COM_CHANGE_USER");
    assert_eq!(attr_int(change, "db.response.status_code"), Some(0));
    assert_eq!(
        attr_str(change, "db.user").as_deref(),
        case["to_user"].as_str()
    );
    assert!(change["status"]["code"].is_null(), "{change}");
    let after = named(&mine, "SELECT");
    assert_eq!(
        attr_str(after, "db.query.text").as_deref(),
        Some("SELECT CURRENT_USER(), DATABASE()")
    );
    assert_eq!(
        attr_str(after, "db.user").as_deref(),
        case["to_user"].as_str()
    );
    assert_eq!(
        attr_str(after, "db.namespace").as_deref(),
        case["after"][1].as_str()
    );
    let before = named(&mine, "CONNECT");
    assert_eq!(
        attr_str(before, "db.user").as_deref(),
        case["from_user"].as_str()
    );

    // A wrong password: the server's ERR ends the change, as an error.
    let case = &expected["change-user-bad"];
    let mine = spans_of_port(&spans, &case["client_port"]);
    let change = named(&mine, "COM_CHANGE_USER");
    assert_eq!(
        attr_int(change, "db.response.status_code"),
        case["error"].as_i64()
    );
    assert_eq!(change["status"]["code"], 2, "{change}");

    // COM_FIELD_LIST: its table, answered by column definitions and EOF.
    let case = &expected["field-list"];
    assert!(case["columns"].as_i64() > Some(0));
    let mine = spans_of_port(&spans, &case["client_port"]);
    let list = named(&mine, "COM_FIELD_LIST");
    assert_eq!(
        attr_str(list, "db.collection.name").as_deref(),
        case["table"].as_str()
    );
    assert_eq!(attr_int(list, "db.response.status_code"), Some(0));
    assert_eq!(
        mine.last().map(|s| s["name"].clone()),
        Some("COM_QUIT".into())
    );

    // Query attributes stay out of the SQL; a `traceparent` among them is the call's context.
    let case = &expected["query-attributes"];
    let mine = spans_of_port(&spans, &case["client_port"]);
    let traceparent = case["traceparent"].as_str().expect("traceparent");
    let mut fields = traceparent.split('-');
    let (trace_id, parent) = (fields.nth(1), fields.next());
    for (sql, attributes) in case["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .zip(case["attributes"].as_array().expect("counts"))
    {
        let span = mine
            .iter()
            .find(|s| attr_str(s, "db.query.text").as_deref() == sql.as_str())
            .unwrap_or_else(|| panic!("no span with {sql} in {mine:#?}"));
        if attributes.as_i64() > Some(0) {
            assert_eq!(span["traceId"].as_str(), trace_id, "{sql}");
            assert_eq!(span["parentSpanId"].as_str(), parent, "{sql}");
        } else {
            assert_ne!(span["traceId"].as_str(), trace_id, "{sql}");
        }
    }
    let sent: i64 = case["attributes"]
        .as_array()
        .expect("counts")
        .iter()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(run.counter("mysql_query_attributes"), sent as u64);
    assert_eq!(run.counter("mysql_parse_errors"), 0);
}

//! The config file and `WIRESPAN_*` variables: `wirespan config --print-default` names every
//! option of every command (as their `--help` lists them) at its built-in default; the file
//! as printed changes nothing; a flag beats the environment, which beats the file; unknown
//! keys and sections are errors that name them.

mod common;

use common::*;
use std::process::{Command, Output};

fn wirespan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirespan"));
    cmd.args(args).env_remove("WIRESPAN_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run wirespan")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn default_file() -> String {
    let out = wirespan(&["config", "--print-default"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The default file with every option that has a default uncommented.
fn uncommented(text: &str) -> String {
    let setting = |kv: &str| {
        kv.split_once(" = ").is_some_and(|(key, value)| {
            key.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !value.contains('<')
        })
    };
    text.lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(kv) if setting(kv) => kv,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_default_file_names_every_option_of_every_command() {
    let text = default_file();
    for command in ["replay", "capture", "receive", "show"] {
        let section = text
            .split(&format!("[{command}]\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no [{command}]"))
            .split("\n[")
            .next()
            .unwrap_or("");
        let help = wirespan(&[command, "--help"], &[]);
        let help = String::from_utf8_lossy(&help.stdout).into_owned();
        // Option lines: `  -o, --output <OUTPUT>  help…` or `      --stats  help…`.
        let options: Vec<&str> = help
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with('-'))
            .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("--")))
            .map(|w| w.trim_end_matches(','))
            .filter(|w| !matches!(*w, "help" | "version" | "config"))
            .collect();
        assert!(options.len() > 3, "{help}");
        for option in options {
            assert!(
                section.contains(&format!("\n# {option} = ")),
                "[{command}] has no {option}:\n{section}"
            );
            let env = format!("WIRESPAN_{}", option.to_uppercase().replace('-', "_"));
            assert!(section.contains(&env), "[{command}] {option}: no {env}");
        }
    }
}

#[test]
fn the_default_file_as_printed_changes_nothing() {
    let file = tmp("defaults.toml");
    std::fs::write(&file, uncommented(&default_file())).expect("write");
    let capture = repo("pcaps/http/client-veth.pcap");
    let capture = capture.to_string_lossy();
    let args = ["replay", capture.as_ref(), "--host-name", "h"];
    let plain = wirespan(&args, &[]);
    let mut with_file = vec!["--config", file.to_str().expect("path")];
    with_file.extend(args);
    let configured = wirespan(&with_file, &[]);
    assert_eq!(configured.status.code(), Some(0), "{}", stderr(&configured));
    assert!(!plain.stdout.is_empty());
    assert_eq!(plain.stdout, configured.stdout);
}

fn host_name_of(out: &Output) -> String {
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    v["resourceSpans"][0]["resource"]["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == "host.name"))
        .and_then(|kv| kv["value"]["stringValue"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let file = tmp("precedence.toml");
    std::fs::write(
        &file,
        "[replay]\nhost-name = \"from-file\"\nmax_flows = 100\n",
    )
    .expect("w");
    let path = file.to_str().expect("path");
    let capture = repo("pcaps/http/client-veth.pcap");
    let capture = capture.to_string_lossy();
    let base = ["--config", path, "replay", capture.as_ref()];
    let env = [("WIRESPAN_HOST_NAME", "from-env")];
    assert_eq!(host_name_of(&wirespan(&base, &[])), "from-file");
    assert_eq!(host_name_of(&wirespan(&base, &env)), "from-env");
    let mut flagged = base.to_vec();
    flagged.extend(["--host-name", "from-flag"]);
    assert_eq!(host_name_of(&wirespan(&flagged, &env)), "from-flag");
    // The file also comes from WIRESPAN_CONFIG, and `--config=FILE` works too.
    let by_env = wirespan(&["replay", capture.as_ref()], &[("WIRESPAN_CONFIG", path)]);
    assert_eq!(host_name_of(&by_env), "from-file");
    let eq = format!("--config={path}");
    assert_eq!(
        host_name_of(&wirespan(&["replay", capture.as_ref(), &eq], &[])),
        "from-file"
    );
}

#[test]
fn config_errors_name_what_is_wrong() {
    let capture = repo("pcaps/http/client-veth.pcap");
    let capture = capture.to_string_lossy();
    let cases: [(&str, &str); 5] = [
        ("[capture]\nthreadz = 2\n", "unknown key 'capture.threadz'"),
        ("[capturing]\nthreads = 2\n", "unknown section [capturing]"),
        (
            "[replay]\nmax-flows = \"many\"\n",
            "invalid value 'many' for '--max-flows",
        ),
        ("[replay\n", "config "),
        ("threads = 2\n", "unknown section [threads]"),
    ];
    for (n, (text, want)) in cases.iter().enumerate() {
        let file = tmp(&format!("bad-{n}.toml"));
        std::fs::write(&file, text).expect("write");
        let out = wirespan(
            &[
                "--config",
                file.to_str().expect("path"),
                "replay",
                capture.as_ref(),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{text}: {}", stderr(&out));
    }
    let out = wirespan(&["--config", "/nonexistent.toml", "show"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("config /nonexistent.toml: "),
        "{}",
        stderr(&out)
    );
}

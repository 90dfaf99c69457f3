//! The deployment files run as written: the DaemonSet's ConfigMap is deploy/wirespan.toml
//! byte for byte, and the DaemonSet's and the systemd unit's command lines, with that file,
//! are accepted by wirespan down to the capture filter (compiled by libpcap: `capture -d`).

mod common;

use common::*;
use std::process::Command;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The block scalar under `wirespan.toml: |` in the manifest, unindented.
fn config_map_file(manifest: &str) -> String {
    let mut lines = manifest
        .lines()
        .skip_while(|l| l.trim() != "wirespan.toml: |");
    lines.next();
    let mut out = String::new();
    for l in lines {
        if l.is_empty() {
            out.push('\n');
        } else if let Some(body) = l.strip_prefix("    ") {
            out.push_str(body);
            out.push('\n');
        } else {
            break;
        }
    }
    out
}

/// Runs wirespan with `args`, the config path replaced by the repository's file, and `-d` so
/// that capture stops after compiling its filter.
fn accepts(args: &[&str], what: &str) {
    let config = repo("deploy/wirespan.toml");
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == "/etc/wirespan/wirespan.toml" {
                config.to_string_lossy().into_owned()
            } else {
                (*a).to_owned()
            }
        })
        .chain(["-d".to_owned()])
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .args(&args)
        .env("WIRESPAN_HOST_NAME", "node-1")
        .output()
        .expect("run wirespan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("libpcap") && std::env::var_os("CI").is_none() {
        eprintln!("SKIPPED: {what} needs libpcap to compile its filter: {stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{what}: {args:?}\n{stderr}");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.starts_with("(000) "), "{what}: {listing}");
    // The filter keeps wirespan's own OTLP traffic out: port 4318 appears in the program.
    assert!(
        listing.contains("#0x10de"),
        "{what}: 4318 not in\n{listing}"
    );
}

#[test]
fn the_daemonset_config_map_is_the_config_file() {
    let manifest = read("deploy/kubernetes/wirespan.yaml");
    assert_eq!(config_map_file(&manifest), read("deploy/wirespan.toml"));
    // Only the capabilities capture needs (the two of the sockets, the two of the namer), on
    // the host's network.
    assert!(manifest.contains("hostNetwork: true"));
    assert!(manifest.contains("drop: [\"ALL\"]"));
    assert!(
        manifest.contains("add: [\"NET_RAW\", \"NET_ADMIN\", \"SYS_PTRACE\", \"DAC_READ_SEARCH\"]")
    );
    // The host's processes, for the names of the calls' ends.
    assert!(manifest.contains("hostPID: true"));
    for port in ["38086", "4318", "4317"] {
        assert!(
            manifest.contains(&format!("port: {port}, targetPort: {port}")),
            "{port}"
        );
    }
}

#[test]
fn the_daemonset_and_the_systemd_unit_run_as_written() {
    let manifest = read("deploy/kubernetes/wirespan.yaml");
    let args_line = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("args: "))
        .expect("the container's args");
    let args: Vec<String> = serde_json::from_str(args_line).expect("args as a flow sequence");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    accepts(&args, "the DaemonSet");
    // The image's own command (deploy/Containerfile) is the DaemonSet's, for `podman run` too.
    let containerfile = read("deploy/Containerfile");
    let cmd = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("the Containerfile's CMD");
    let cmd: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    assert_eq!(
        cmd, args,
        "the Containerfile's CMD and the DaemonSet's args"
    );
    assert!(containerfile.contains("ENTRYPOINT [\"/usr/bin/wirespan\"]"));
    let unit = read("deploy/systemd/wirespan.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let words: Vec<&str> = exec.split_whitespace().skip(1).collect();
    accepts(&words, "the systemd unit");
    assert!(unit.contains(
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"
    ));
}

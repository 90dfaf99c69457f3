//! `replay` on a large file shows a progress line on a terminal (bytes read, packets/s,
//! spans), run here under a pseudo-terminal by `script`; on anything else it says nothing but
//! its summary.

mod common;

use common::*;
use std::process::Command;

/// A pcap of the bundled HTTP capture's records repeated until it is tens of megabytes.
fn big_pcap() -> std::path::PathBuf {
    let src = std::fs::read(repo("pcaps/http/client-veth.pcap")).expect("pcap");
    let (header, records) = src.split_at(24);
    let mut out = header.to_vec();
    while out.len() < 40 << 20 {
        out.extend_from_slice(records);
    }
    let path = tmp("progress-big.pcap");
    std::fs::write(&path, out).expect("write");
    path
}

#[test]
fn progress_shows_on_a_terminal_and_nowhere_else() {
    let pcap = big_pcap();
    let bin = env!("CARGO_BIN_EXE_wirespan");
    let plain = Command::new(bin)
        .args(["replay", pcap.to_str().expect("path"), "-o", "/dev/null"])
        .output()
        .expect("run");
    assert_eq!(plain.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("packets/s"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "only the summary: {stderr}");

    let have_script = Command::new("script").arg("--version").output().is_ok();
    if !have_script {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs script (util-linux)"
        );
        eprintln!("SKIPPED: no `script` to give wirespan a terminal");
        return;
    }
    // stdout to /dev/null, stderr to the pseudo-terminal that `script` records. The file 20
    // times over (800 MB), so that even a release build outlasts the 200 ms before the first
    // line.
    const TIMES: u64 = 20;
    let files = vec![pcap.display().to_string(); TIMES as usize].join(" ");
    let inner = format!("{bin} replay {files} -o /dev/null");
    let tty = Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .output()
        .expect("run under script");
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert_eq!(tty.status.code(), Some(0), "{seen}");
    let updates: Vec<&str> = seen
        .split('\r')
        .filter(|u| u.contains("packets/s"))
        .collect();
    assert!(!updates.is_empty(), "no progress line in {seen:?}");
    let mb = format!(
        "{:.1} MB",
        (TIMES * std::fs::metadata(&pcap).expect("size").len()) as f64 / 1e6
    );
    for u in &updates {
        assert!(
            u.contains('%') && u.contains(&mb) && u.contains(" spans"),
            "{u:?}"
        );
    }
    // The line is taken away before the summary.
    assert!(seen.contains("\r\x1b[Kwirespan: "), "{seen:?}");
    let _ = std::fs::remove_file(&pcap);
}

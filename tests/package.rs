//! The packages a user installs: the man pages shipped in the Debian package are the command
//! line as built (`deploy/man/`, rendered by clap_mangen), and `deploy/test-package.sh` builds
//! the .deb and the container image and tests them in a Debian 12 root made with debootstrap.

mod common;

use clap::CommandFactory;
use common::*;
use std::process::Command;

/// The man pages of the command line as the binary parses it (with its WIRESPAN_* variables).
fn rendered() -> Vec<(String, Vec<u8>)> {
    let dir = std::env::temp_dir().join(format!("wirespan-man-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cmd = wirespan::config::with_env(wirespan::cli::Cli::command());
    clap_mangen::generate_to(cmd, &dir).expect("render the man pages");
    let mut pages: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("read the rendered pages")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read page"))
        })
        .collect();
    pages.sort();
    let _ = std::fs::remove_dir_all(&dir);
    pages
}

/// `WIRESPAN_BLESS=1 cargo test --test package` writes them after a change to the options.
#[test]
fn the_man_pages_are_the_command_line() {
    let pages = rendered();
    assert!(pages.iter().any(|(n, _)| n == "wirespan.1"));
    assert!(pages.iter().any(|(n, _)| n == "wirespan-capture.1"));
    let dir = repo("deploy/man");
    if std::env::var_os("WIRESPAN_BLESS").is_some() {
        for entry in std::fs::read_dir(&dir).expect("deploy/man") {
            std::fs::remove_file(entry.expect("entry").path()).expect("remove old page");
        }
        for (name, text) in &pages {
            std::fs::write(dir.join(name), text).expect("write page");
        }
    }
    let mut shipped: Vec<String> = std::fs::read_dir(&dir)
        .expect("deploy/man")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    let names: Vec<String> = pages.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        shipped, names,
        "deploy/man: run WIRESPAN_BLESS=1 cargo test --test package"
    );
    for (name, text) in &pages {
        let file = std::fs::read(dir.join(name)).expect("read shipped page");
        assert!(
            file == *text,
            "deploy/man/{name} differs from the command line: run WIRESPAN_BLESS=1 cargo test --test package"
        );
    }
    // The pages carry the options' help and their environment variables.
    let capture = String::from_utf8_lossy(
        &pages
            .iter()
            .find(|(n, _)| n == "wirespan-capture.1")
            .expect("capture page")
            .1,
    )
    .into_owned();
    assert!(capture.contains("block\\-timeout\\-ms"), "{capture}");
    assert!(capture.contains("WIRESPAN_BLOCK_TIMEOUT_MS"), "{capture}");
}

/// Whether the package tests can run here (root, cargo-deb, debootstrap, podman); on CI they
/// must (.ci/run installs the tools).
fn package_capable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let missing: Vec<&str> = ["cargo-deb", "debootstrap", "podman", "systemd-analyze"]
        .into_iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = if root {
        format!("missing: {}", missing.join(", "))
    } else {
        "not running as root".to_owned()
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "the package tests must run on CI, but {why}"
    );
    eprintln!("SKIPPED: the package tests need root, cargo-deb, debootstrap and podman ({why})");
    false
}

/// `deploy/test-package.sh`: the .deb installed with apt on a clean Debian 12 and removed and
/// purged, the image built and its unpacked layers run; every check of both passes.
#[test]
fn the_debian_package_and_the_image_install_run_and_go() {
    if !package_capable() {
        return;
    }
    let out = Command::new("bash")
        .arg(repo("deploy/test-package.sh"))
        .output()
        .expect("run deploy/test-package.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for check in [
        "ok: Depends: libc6",
        "ok: apt-get install ./wirespan_",
        "ok: installed package: replay of pcaps/http/underlay-vxlan.pcap wrote the build's 21 spans",
        "ok: installed package: the installed config's filter compiles",
        "ok: config --print-default reads the installed config",
        "ok: systemd-analyze verify: the installed unit is clean",
        "ok: dpkg -r: left the conffile",
        "ok: dpkg -P (and apt-get autoremove of libpcap0.8) left the root as it was",
        "ok: the image holds only the binary",
        "ok: image: replay of pcaps/http/underlay-vxlan.pcap wrote the build's 21 spans",
        "ok: image: the installed config's filter compiles",
        "ok: the image weighs",
        "package test: 20 checks passed",
    ] {
        assert!(stdout.contains(check), "missing {check:?} in\n{stdout}");
    }
}

//! The systemd files in `systemd/`: the unit passes `systemd-analyze
//! verify`, and the example config fits the unit's directories.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::require_peer;

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `systemd-analyze verify` on the unit, with ExecStart pointed at the
/// binary under test (verify checks that the program exists). It must exit
/// 0 and say nothing about the unit itself. (A missing `corong` user is not
/// an error for verify: User= is resolved when the service starts.)
#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !require_peer("systemd-analyze") {
        return;
    }
    let unit = fs::read_to_string(repo("systemd/corong.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/corong daemon"),
        "ExecStart moved: update this test"
    );
    let unit = unit.replace("/usr/local/bin/corong", env!("CARGO_BIN_EXE_corong"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corong.service");
    fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stdout}{stderr}"
    );
    let about_us: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.contains("corong.service"))
        .collect();
    assert!(
        about_us.is_empty(),
        "verify complained:\n{}",
        about_us.join("\n")
    );
}

/// What the issue asks of the unit, so that an edit cannot quietly drop it.
#[test]
fn the_unit_has_notify_watchdog_restart_user_directories_and_hardening() {
    let unit = fs::read_to_string(repo("systemd/corong.service")).unwrap();
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "Restart=always",
        "User=corong",
        "Group=corong",
        "RuntimeDirectory=corong",
        "StateDirectory=corong",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "UMask=0007",
        "LimitRTPRIO=20",
    ] {
        assert!(has(line), "systemd/corong.service lacks `{line}`");
    }
    assert!(unit.lines().any(|l| l.starts_with("WatchdogSec=")));
    assert!(
        !unit
            .lines()
            .any(|l| l.trim_start().starts_with("RestrictRealtime=yes")),
        "RestrictRealtime would refuse the engine's SCHED_FIFO"
    );
    let sysusers = fs::read_to_string(repo("systemd/corong.sysusers")).unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u corong ")));
}

/// The example config for the systemd layout validates, and puts the socket
/// and the state where the unit's directories are.
#[test]
fn the_systemd_example_config_validates_and_fits_the_unit() {
    let text = fs::read_to_string(repo("systemd/config.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("playlists")).unwrap();
    fs::write(
        dir.path().join("playlists/lagu-pagi.m3u"),
        "#EXTM3U\n/srv/corong/media/indonesia-raya.mp3\n",
    )
    .unwrap();
    let config = corong::config::load_str(&text, &dir.path().join("config.toml"))
        .unwrap_or_else(|d| panic!("systemd/config.toml:\n{d:?}"));
    let d = &config.daemon;
    assert_eq!(d.control_socket, Path::new("/run/corong/corong.sock"));
    assert_eq!(d.state_dir, Path::new("/var/lib/corong"));
    assert_eq!(d.control_group.as_deref(), Some("corong"));
    for zone in &config.zones {
        if let Some(rtp) = &zone.rtp {
            for dest in &rtp.destinations {
                assert!(dest.ip().is_loopback(), "{dest} is not 127.0.0.1");
            }
        }
        if let Some(wav) = &zone.wav {
            assert!(
                wav.starts_with("/var/lib/corong"),
                "{} is outside the writable state directory",
                wav.display()
            );
        }
    }
}

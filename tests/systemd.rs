//! The systemd files in `systemd/`: both units (the daemon's, the pole
//! receiver's) pass `systemd-analyze verify`, and the example configs fit
//! them.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::require_peer;

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `systemd-analyze verify` on `systemd/NAME`, with ExecStart pointed at
/// the binary under test (verify checks that the program exists) and
/// `MANPATH` at the page `corong manpage` prints (verify runs `man` for
/// each `Documentation=man:` line). It must exit 0 and say nothing about
/// the unit itself. (A missing user is not an error for verify: User= is
/// resolved when the service starts.)
fn verify(name: &str, exec_start: &str) {
    let unit = fs::read_to_string(repo(&format!("systemd/{name}"))).unwrap();
    assert!(
        unit.contains(&format!("ExecStart=/usr/local/bin/corong {exec_start}")),
        "ExecStart moved: update this test"
    );
    let unit = unit.replace("/usr/local/bin/corong", env!("CARGO_BIN_EXE_corong"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, unit).unwrap();
    let man = dir.path().join("man");
    fs::create_dir_all(man.join("man1")).unwrap();
    let page = Command::new(env!("CARGO_BIN_EXE_corong"))
        .arg("manpage")
        .output()
        .unwrap();
    assert!(page.status.success());
    fs::write(man.join("man1/corong.1"), page.stdout).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("MANPATH", &man)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze verify {name} failed:\n{stdout}{stderr}"
    );
    let about_us: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.contains(name))
        .collect();
    assert!(
        about_us.is_empty(),
        "verify complained about {name}:\n{}",
        about_us.join("\n")
    );
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !require_peer("systemd-analyze") {
        return;
    }
    verify("corong.service", "daemon");
}

#[test]
fn the_pole_unit_passes_systemd_analyze_verify() {
    if !require_peer("systemd-analyze") {
        return;
    }
    verify("corong-receive.service", "receive $CORONG_RECEIVE_ARGS");
}

/// The pole's unit: restarts forever (but not on a usage error), its own
/// user, the sound card and nothing else of /dev, and the daemon's
/// hardening.
#[test]
fn the_pole_unit_is_hardened_like_the_daemons() {
    let unit = fs::read_to_string(repo("systemd/corong-receive.service")).unwrap();
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "Type=exec",
        "EnvironmentFile=/etc/corong/receive.conf",
        "Restart=always",
        "RestartPreventExitStatus=2",
        "StartLimitIntervalSec=0",
        "DynamicUser=yes",
        "StateDirectory=corong-receive",
        "SupplementaryGroups=audio",
        "Documentation=man:corong(1)",
        "DevicePolicy=closed",
        "DeviceAllow=char-alsa rw",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
    ] {
        assert!(has(line), "systemd/corong-receive.service lacks `{line}`");
    }
    // Every hardening line of the daemon's unit is in the pole's, but for
    // those that are about the daemon's own needs.
    let daemon = fs::read_to_string(repo("systemd/corong.service")).unwrap();
    let daemon_only = ["PrivateDevices=yes", "ProtectHome=read-only"];
    for line in daemon.lines().map(str::trim) {
        let hardening = line.starts_with("Protect")
            || line.starts_with("Restrict")
            || line.starts_with("Private")
            || line.starts_with("NoNewPrivileges")
            || line.starts_with("Capability")
            || line.starts_with("Ambient")
            || line.starts_with("SystemCall")
            || line.starts_with("LockPersonality")
            || line.starts_with("MemoryDeny")
            || line.starts_with("RemoveIPC");
        if hardening && !daemon_only.contains(&line) {
            assert!(has(line), "the pole's unit lacks the daemon's `{line}`");
        }
    }
}

/// Every `CORONG_RECEIVE_ARGS` line of the example (the active one and the
/// commented alternatives) is a valid `corong receive` command line, split
/// on spaces as systemd does.
#[test]
fn the_pole_example_arguments_parse() {
    use clap::Parser;
    let text = fs::read_to_string(repo("systemd/corong-receive.conf")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.trim_start_matches('#')
                .strip_prefix("CORONG_RECEIVE_ARGS=")
        })
        .collect();
    assert!(lines.len() >= 3, "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("CORONG_RECEIVE_ARGS=")),
        "one line is active"
    );
    for args in lines {
        let argv = ["corong", "receive"]
            .into_iter()
            .chain(args.split_whitespace());
        if let Err(e) = corong::cli::Cli::try_parse_from(argv) {
            panic!("`corong receive {args}`: {e}");
        }
    }
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
        // A config error is not fixed by restarting: see below.
        "RestartPreventExitStatus=2",
        "Documentation=man:corong(1)",
    ] {
        assert!(has(line), "systemd/corong.service lacks `{line}`");
    }
    for unit_name in ["corong.service", "corong-receive.service"] {
        let text = fs::read_to_string(repo(&format!("systemd/{unit_name}"))).unwrap();
        assert!(
            !text.contains("Documentation=man:systemd"),
            "systemd/{unit_name} points its docs at systemd's, not corong's"
        );
    }
    // The comment says what to do when the unit has stopped on one.
    assert!(
        unit.contains("corong check"),
        "the unit says to run `corong check`"
    );
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

/// The status `RestartPreventExitStatus=2` stops on is the one the daemon
/// exits with on a config error.
#[test]
fn the_daemon_exits_2_on_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, "[daemon]\nbogus = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_corong"))
        .args(["daemon", "--config"])
        .arg(&config)
        .env_remove("CORONG_SOCKET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config.toml:2:"), "{stderr}");
}

/// The pole's example listens on a zone the example configs have: the
/// shipped config.toml and systemd/config.toml.
#[test]
fn the_pole_example_listens_on_a_zone_of_the_example_configs() {
    let text = fs::read_to_string(repo("systemd/corong-receive.conf")).unwrap();
    let active = text
        .lines()
        .find_map(|l| l.strip_prefix("CORONG_RECEIVE_ARGS="))
        .unwrap();
    let listen = active
        .split_whitespace()
        .skip_while(|a| *a != "--listen")
        .nth(1)
        .unwrap();
    let listen: std::net::SocketAddr = listen.parse().unwrap();
    for config in ["config.toml", "systemd/config.toml"] {
        let text = fs::read_to_string(repo(config)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let parsed = corong::config::load_str(&text, &dir.path().join("config.toml"));
        // Playlists may be missing here: read the zones from whatever loads.
        let zones = match parsed {
            Ok(c) => c.zones,
            Err(_) => {
                fs::create_dir(dir.path().join("playlists")).unwrap();
                for name in ["lagu-pagi", "lagu-nasional", "demo"] {
                    fs::write(
                        dir.path().join(format!("playlists/{name}.m3u")),
                        "#EXTM3U\n",
                    )
                    .unwrap();
                }
                corong::config::load_str(&text, &dir.path().join("config.toml"))
                    .unwrap_or_else(|d| panic!("{config}: {d:?}"))
                    .zones
            }
        };
        let found = zones
            .iter()
            .any(|z| z.rtp().is_some_and(|r| r.destinations.contains(&listen)));
        assert!(found, "no zone of {config} streams to {listen}");
    }
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
        if let Some(rtp) = zone.rtp() {
            for dest in &rtp.destinations {
                // A group stays on this machine when it leaves by loopback.
                let local = dest.ip().is_loopback()
                    || (dest.ip().is_multicast() && rtp.multicast_interface.is_loopback());
                assert!(local, "{dest} leaves this machine");
            }
        }
        if let Some(wav) = zone.wav().map(|w| &w.path) {
            assert!(
                wav.starts_with("/var/lib/corong"),
                "{} is outside the writable state directory",
                wav.display()
            );
        }
    }
}

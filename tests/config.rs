//! Config loading: every error names file:line:col, all problems are
//! reported in one pass, and a good config resolves.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use corong::config::{self, Codec, Diagnostic, Severity};
use corong::priority::Priority;
use tempfile::TempDir;

/// A folder with `playlists/pagi.m3u` and `playlists/malam.m3u8`, to write
/// configs into.
fn fixture() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("playlists")).unwrap();
    fs::write(dir.path().join("playlists/pagi.m3u"), "a.wav\n").unwrap();
    fs::write(dir.path().join("playlists/malam.m3u8"), "b.wav\n").unwrap();
    dir
}

fn write_config(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("config.toml");
    fs::write(&path, text).unwrap();
    path
}

/// Load `text` and return its errors; panics if it loads.
fn errors_of(text: &str) -> Vec<Diagnostic> {
    let dir = fixture();
    let path = write_config(&dir, text);
    match config::load(&path) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(d) => {
            for e in d.iter() {
                assert_eq!(e.file, path, "{e}");
                assert_eq!(e.severity, Severity::Error, "{e}");
            }
            d.0
        }
    }
}

/// Exactly one error, at `line`:`column`, whose message has every one of
/// `needles`.
#[track_caller]
fn assert_one_error(text: &str, line: usize, column: usize, needles: &[&str]) {
    let errors = errors_of(text);
    let listing: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error, got:\n{}",
        listing.join("\n")
    );
    let e = &errors[0];
    assert_eq!((e.line, e.column), (line, column), "{e}");
    for n in needles {
        assert!(e.message.contains(n), "`{n}` not in: {e}");
    }
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("config.toml:{line}:{column}: error: ")),
        "{shown}"
    );
}

const ZONE: &str = "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:5004\"]\n";

#[test]
fn unknown_top_level_key() {
    // After `[[zones]]` a bare key belongs to the zone, so it goes first.
    let text = format!("volume = 3\n{ZONE}");
    assert_one_error(
        &text,
        1,
        1,
        &["unknown key `volume`", "`daemon`", "`zones`"],
    );
}

#[test]
fn daemon_key_at_top_level_says_where_it_belongs() {
    let text = format!("timezone = \"Asia/Jakarta\"\n{ZONE}");
    assert_one_error(&text, 1, 1, &["`timezone`", "[daemon]"]);
}

#[test]
fn unknown_key_in_daemon() {
    let text = format!("[daemon]\ntimezone = \"Asia/Jakarta\"\nsampel_rate = 44100\n{ZONE}");
    assert_one_error(
        &text,
        3,
        1,
        &[
            "unknown key `sampel_rate`",
            "[daemon]",
            "did you mean `sample_rate`",
        ],
    );
}

#[test]
fn unknown_key_in_zone() {
    let text = format!("{ZONE}volume = 3\n");
    assert_one_error(&text, 4, 1, &["unknown key `volume` in zone", "`gain_db`"]);
}

#[test]
fn unknown_key_in_schedule() {
    let text = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\n  repeat = true\n"
    );
    assert_one_error(
        &text,
        10,
        3,
        &["unknown key `repeat` in schedule", "`loop_until`"],
    );
}

#[test]
fn wrong_type() {
    let text = format!("[daemon]\nsample_rate = \"fast\"\n{ZONE}");
    assert_one_error(&text, 2, 15, &["`sample_rate`", "wrong type", "integer"]);
}

#[test]
fn wrong_type_in_zone_keeps_other_problems() {
    // A zone with two bad values reports both, and nothing else.
    let text = "[[zones]]\nname = \"a\"\nrtp = \"127.0.0.1:5004\"\ngain_db = \"loud\"\n";
    let errors = errors_of(text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!((errors[0].line, errors[0].column), (3, 7));
    assert!(errors[0].message.contains("`rtp`"), "{}", errors[0]);
    assert_eq!((errors[1].line, errors[1].column), (4, 11));
    assert!(errors[1].message.contains("`gain_db`"), "{}", errors[1]);
}

#[test]
fn unknown_zone_in_schedule() {
    let text = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"alun-alun\", \"alun-alum\"]\n"
    );
    assert_one_error(
        &text,
        9,
        23,
        &[
            "unknown zone or group `alun-alum`",
            "schedule `s`",
            "did you mean `alun-alun`",
        ],
    );
}

#[test]
fn unknown_group_member() {
    let text = format!("{ZONE}\n[groups]\nutara = [\"alun-alun\", \"pasar\"]\n");
    assert_one_error(
        &text,
        6,
        23,
        &["unknown zone or group `pasar`", "group `utara`"],
    );
}

#[test]
fn group_cycle() {
    let text = format!("{ZONE}\n[groups]\nutara = [\"alun-alun\", \"kota\"]\nkota = [\"utara\"]\n");
    assert_one_error(&text, 7, 9, &["group cycle", "utara -> kota -> utara"]);
}

#[test]
fn group_containing_itself() {
    let text = format!("{ZONE}\n[groups]\nutara = [\"utara\"]\n");
    assert_one_error(&text, 6, 10, &["group `utara` contains itself"]);
}

#[test]
fn group_named_like_a_zone_or_all() {
    let text = format!("{ZONE}\n[groups]\nalun-alun = [\"alun-alun\"]\n");
    assert_one_error(&text, 6, 1, &["same name as a zone"]);
    let text = format!("{ZONE}\n[groups]\nall = [\"alun-alun\"]\n");
    assert_one_error(&text, 6, 1, &["`all` is reserved"]);
}

#[test]
fn bad_cron() {
    let text = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\n"
    );
    assert_one_error(
        &text,
        7,
        8,
        &["cron expression `0 6 * * *`", "has 5 fields", "needs 6"],
    );
    let text = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 25 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\n"
    );
    assert_one_error(&text, 7, 8, &["invalid cron expression"]);
}

#[test]
fn missing_playlist() {
    let text = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"siang\"\nzones = [\"all\"]\n"
    );
    assert_one_error(
        &text,
        8,
        12,
        &[
            "playlist `siang` not found",
            "playlists/siang.m3u",
            "siang.m3u8",
        ],
    );
}

#[test]
fn a_schedule_needs_a_playlist_or_a_text_and_not_both() {
    let neither =
        format!("{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nzones = [\"all\"]\n");
    assert_one_error(&neither, 6, 8, &["neither `playlist` nor `text`"]);
    let both = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"siang\"\ntext = \"Selamat siang\"\nzones = [\"all\"]\n"
    );
    assert_one_error(&both, 8, 12, &["not both"]);
    let empty = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\ntext = \"  \"\nzones = [\"all\"]\n"
    );
    assert_one_error(&empty, 8, 8, &["`text` is 0 bytes"]);
}

#[test]
fn bad_timezone() {
    let text = format!("[daemon]\ntimezone = \"Asia/Surabaya\"\n{ZONE}");
    assert_one_error(&text, 2, 12, &["unknown time zone `Asia/Surabaya`", "IANA"]);
}

#[test]
fn duplicate_zone_name() {
    let text = format!("{ZONE}{ZONE}");
    assert_one_error(&text, 5, 8, &["duplicate zone name `alun-alun`", "line 2"]);
}

#[test]
fn pcmu_with_two_channels() {
    let text = format!("{ZONE}codec = \"pcmu\"\nchannels = 2\n");
    assert_one_error(&text, 5, 12, &["pcmu", "channels", "mono"]);
}

#[test]
fn g722_is_mono_and_opus_takes_a_bitrate() {
    let text = format!("{ZONE}codec = \"g722\"\nchannels = 2\n");
    assert_one_error(&text, 5, 12, &["g722", "channels", "mono"]);
    let text = format!("{ZONE}codec = \"opus\"\nopus_kbps = 5\n");
    assert_one_error(&text, 5, 13, &["`opus_kbps` 5 is out of range", "6..=510"]);

    let dir = fixture();
    let text = format!(
        "{ZONE}codec = \"opus\"\nchannels = 2\nopus_kbps = 64\n\n\
         [[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:5006\"]\ncodec = \"g722\"\nopus_kbps = 24\n\n\
         [groups]\nsemua = [\"alun-alun\", \"pasar\"]\n"
    );
    let path = write_config(&dir, &text);
    let (config, warnings) = config::load_with_warnings(&path).unwrap_or_else(|e| panic!("{e}"));
    let alun = config.zone("alun-alun").unwrap();
    let rtp = alun.rtp().unwrap();
    assert_eq!(
        (rtp.codec, rtp.opus_kbps, alun.channels),
        (Codec::Opus, 64, 2)
    );
    assert_eq!(alun.mix_rate(44_100), 48_000);
    let pasar = config.zone("pasar").unwrap();
    assert_eq!(
        (pasar.rtp().unwrap().codec, pasar.channels),
        (Codec::G722, 1)
    );
    assert_eq!(pasar.mix_rate(48_000), 16_000);
    let w: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].contains(
            ":12:13: warning: `opus_kbps` has no effect: zone `pasar` sends codec \"g722\""
        ),
        "{w:#?}"
    );
}

#[test]
fn a_codec_that_cannot_be_sent_at_the_zones_rate_is_refused_at_load() {
    // Opus takes 48 kHz but not 44.1 (a zone that also records mixes at
    // `sample_rate`); its packets are whole 2.5 ms.
    let text =
        format!("[daemon]\nsample_rate = 44100\n\n{ZONE}codec = \"opus\"\nwav = \"a.wav\"\n");
    assert_one_error(&text, 7, 9, &["codec \"opus\" cannot be sent", "44100"]);
    let text = format!("[daemon]\npacket_ms = 7\n\n{ZONE}codec = \"opus\"\n");
    assert_one_error(&text, 7, 9, &["`packet_ms` 7", "2.5, 5, 10 or 20 ms"]);
    // G.722 alone mixes at 16 kHz whatever the engine's rate.
    let dir = fixture();
    let text = format!("[daemon]\nsample_rate = 44100\n\n{ZONE}codec = \"g722\"\n");
    config::load(&write_config(&dir, &text)).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn unknown_codec_and_host_name() {
    let text = "[[zones]]\nname = \"a\"\nrtp = [\"speaker.local:5004\"]\ncodec = \"mp3\"\n";
    let errors = errors_of(text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!((errors[0].line, errors[0].column), (3, 8));
    assert!(errors[0].message.contains("host names are not supported"));
    assert_eq!((errors[1].line, errors[1].column), (4, 9));
    assert!(errors[1]
        .message
        .contains("expected \"l16\", \"pcmu\", \"g722\" or \"opus\""));
}

#[test]
fn zone_without_output() {
    assert_one_error(
        "[[zones]]\nname = \"a\"\n",
        2,
        8,
        &["has no output", "rtp", "wav"],
    );
}

#[test]
fn missing_required_key() {
    let errors = errors_of("[[zones]]\nrtp = [\"127.0.0.1:5004\"]\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].message.contains("missing required key `name`"),
        "{}",
        errors[0]
    );
    assert_eq!(errors[0].line, 1, "{}", errors[0]);
}

#[test]
fn packet_time_must_be_whole_frames() {
    let text = format!("[daemon]\nsample_rate = 44100\npacket_ms = 7\n{ZONE}");
    assert_one_error(&text, 3, 13, &["whole number of frames"]);
}

#[test]
fn ranges() {
    let text = format!(
        "[daemon]\nsample_rate = 4000\n{ZONE}gain_db = 30\ndscp = 64\nmulticast_ttl = 300\n"
    );
    let errors = errors_of(&text);
    let places: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(places, [(2, 15), (6, 11), (7, 8), (8, 17)], "{errors:#?}");
}

#[test]
fn toml_syntax_error_has_a_position() {
    let errors = errors_of(&format!("{ZONE}codec = \"l16\n"));
    assert!(!errors.is_empty());
    assert_eq!(errors[0].line, 4, "{}", errors[0]);
    assert!(errors[0].message.contains("invalid TOML"), "{}", errors[0]);
}

#[test]
fn several_problems_are_all_reported() {
    let text = r#"[daemon]
timezone = "Mars/Olympus"
colour = "red"

[[zones]]
name = "alun-alun"
rtp = ["127.0.0.1:5004"]
codec = "pcmu"
channels = 2

[[zones]]
name = "alun-alun"
wav = "x.wav"

[groups]
utara = ["pasar"]

[[schedules]]
name = "pagi"
cron = "every morning"
playlist = "tidak-ada"
zones = ["selatan"]
"#;
    let errors = errors_of(text);
    let places: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        places,
        [
            (2, 12),
            (3, 1),
            (9, 12),
            (12, 8),
            (16, 10),
            (20, 8),
            (21, 12),
            (22, 10)
        ],
        "{errors:#?}"
    );
}

#[test]
fn good_config_resolves() {
    let dir = fixture();
    let text = r#"
[daemon]
state_dir = "/var/lib/corong"

[[zones]]
name = "alun-alun"
rtp = ["127.0.0.1:5004", "[::1]:5006"]

[[zones]]
name = "pasar"
rtp = ["239.255.0.1:5008"]
codec = "pcmu"
gain_db = -6
dscp = 34
multicast_ttl = 4

[[zones]]
name = "arsip"
wav = "recordings/arsip.wav"
channels = 2

[groups]
kota = ["utara", "arsip"]
utara = ["pasar", "alun-alun", "pasar"]

[[schedules]]
name = "pagi"
cron = "0 0 6 * * Mon-Sat"
playlist = "pagi"
zones = ["kota"]

[[schedules]]
name = "malam"
cron = "0 30 19 * * *"
playlist = "malam"
zones = ["arsip", "all"]
priority = "announcement"
shuffle = true
loop_until = "21:00"

[[schedules]]
name = "tengah"
cron = "0 0 12 * * *"
playlist = "pagi"
zones = ["pasar"]
priority = 77
loop_until = 12:30:15
"#;
    let path = write_config(&dir, text);
    let (config, warnings) = config::load_with_warnings(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings}");
    let base = dir.path().canonicalize().unwrap();
    assert_eq!(config.base_dir, base);
    assert_eq!(config.path, base.join("config.toml"));

    // Defaults and relative paths.
    assert_eq!(config.daemon.timezone, chrono_tz::Asia::Jakarta);
    assert_eq!(config.daemon.sample_rate, 48000);
    assert_eq!(config.daemon.packet_ms, 20);
    assert_eq!(config.daemon.frames_per_packet(), 960);
    assert_eq!(config.daemon.control_socket, base.join("run/corong.sock"));
    assert_eq!(config.daemon.state_dir, Path::new("/var/lib/corong"));

    let alun = config.zone("alun-alun").unwrap();
    let rtp = alun.rtp().unwrap();
    assert_eq!(
        rtp.destinations,
        [
            "127.0.0.1:5004".parse::<SocketAddr>().unwrap(),
            "[::1]:5006".parse().unwrap()
        ]
    );
    assert_eq!(rtp.codec, Codec::L16);
    assert_eq!(rtp.multicast_interface, std::net::Ipv4Addr::LOCALHOST);
    assert_eq!((rtp.multicast_ttl, rtp.dscp), (1, 46));
    assert_eq!((alun.channels, alun.gain_db, alun.wav()), (1, 0.0, None));

    let pasar = config.zone("pasar").unwrap();
    let rtp = pasar.rtp().unwrap();
    assert_eq!(
        (rtp.codec, rtp.multicast_ttl, rtp.dscp),
        (Codec::Pcmu, 4, 34)
    );
    assert_eq!(pasar.gain_db, -6.0);

    let arsip = config.zone("arsip").unwrap();
    assert!(arsip.rtp().is_none());
    assert_eq!(arsip.channels, 2);
    assert_eq!(
        arsip.wav().map(|w| w.path.as_path()),
        Some(base.join("recordings/arsip.wav").as_path())
    );

    // Groups expanded, nested, deduplicated, in config order.
    assert_eq!(config.groups["utara"], ["alun-alun", "pasar"]);
    assert_eq!(config.groups["kota"], ["alun-alun", "pasar", "arsip"]);

    let s = &config.schedules;
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].zones, ["alun-alun", "pasar", "arsip"]);
    assert_eq!(s[0].playlist_path, base.join("playlists/pagi.m3u"));
    assert_eq!(s[0].priority, Priority::PROGRAM);
    assert!(!s[0].shuffle);
    assert_eq!(s[0].loop_until, None);
    assert_eq!(s[0].cron.as_str(), "0 0 6 * * Mon-Sat");

    assert_eq!(s[1].zones, ["alun-alun", "pasar", "arsip"]);
    assert_eq!(s[1].playlist_path, base.join("playlists/malam.m3u8"));
    assert_eq!(s[1].priority, Priority::ANNOUNCEMENT);
    assert!(s[1].shuffle);
    assert_eq!(s[1].loop_until, chrono::NaiveTime::from_hms_opt(21, 0, 0));

    assert_eq!(s[2].zones, ["pasar"]);
    assert_eq!(s[2].priority, Priority(77));
    assert_eq!(s[2].loop_until, chrono::NaiveTime::from_hms_opt(12, 30, 15));
}

#[test]
fn relative_config_path_gives_absolute_paths() {
    let dir = fixture();
    let path = write_config(&dir, ZONE);
    // load_str with a path whose folder exists but is written relatively.
    let cwd = std::env::current_dir().unwrap();
    let relative = pathdiff(&path, &cwd);
    let config = config::load_str(ZONE, &relative).unwrap();
    assert!(config.path.is_absolute());
    assert!(config.daemon.state_dir.is_absolute());
    assert_eq!(config.base_dir, dir.path().canonicalize().unwrap());
}

/// `path` relative to `base` via `..` components (both absolute).
fn pathdiff(path: &Path, base: &Path) -> PathBuf {
    let mut rel = PathBuf::new();
    for _ in base.components().skip(1) {
        rel.push("..");
    }
    rel.join(path.strip_prefix("/").unwrap())
}

#[test]
fn warnings_do_not_fail_the_load() {
    let dir = fixture();
    let text = format!("{ZONE}\n[[zones]]\nname = \"sepi\"\nwav = \"sepi.wav\"\ndscp = 10\n\n[groups]\nutara = [\"alun-alun\"]\n");
    let path = write_config(&dir, &text);
    let (config, warnings) = config::load_with_warnings(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.zones.len(), 2);
    let w: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(
        w[0].contains(":6:8: warning: zone `sepi` is in no schedule and no group"),
        "{w:#?}"
    );
    assert!(
        w[1].contains(":8:8: warning: `dscp` has no effect"),
        "{w:#?}"
    );
    assert!(config::load(&path).is_ok());
}

#[test]
fn render_shows_the_line_and_underlines_the_value() {
    let dir = fixture();
    let path = write_config(&dir, &format!("{ZONE}codec = \"mp3\"\n"));
    let errors = config::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    let rendered = errors.0[0].render();
    let expected = format!(
        "error: unknown codec `mp3`: expected \"l16\", \"pcmu\", \"g722\" or \"opus\"\n --> {}:4:9\n  |\n4 | codec = \"mp3\"\n  |         ^^^^^\n",
        path.display()
    );
    assert_eq!(rendered, expected);
    assert!(errors.render().starts_with(&expected));
}

#[test]
fn missing_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let errors = config::load(&dir.path().join("nope.toml")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors.0[0].message.contains("cannot read"));
}

#[test]
fn shipped_example_config_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let (config, warnings) =
        config::load_with_warnings(&path).unwrap_or_else(|e| panic!("{}", e.render()));
    assert!(warnings.is_empty(), "{warnings}");
    for zone in &config.zones {
        for dest in zone.rtp().into_iter().flat_map(|r| &r.destinations) {
            // The example sends nothing off the machine.
            assert!(
                dest.ip().is_loopback() || dest.ip().is_multicast(),
                "{dest}"
            );
        }
        if let Some(rtp) = zone.rtp() {
            assert!(rtp.multicast_interface.is_loopback());
        }
    }
    let arsip = config.zone("arsip").unwrap();
    assert!(arsip.wav().is_some());
    // The demo recorder cannot fill a kiosk's disk.
    assert_eq!(
        arsip.wav().unwrap().retention,
        config::WavRetention::default()
    );
    assert_eq!(config.daemon.asrun_keep_days, Some(365));
    let pagi = config
        .schedules
        .iter()
        .find(|s| s.name == "lagu-pagi")
        .unwrap();
    assert_eq!(pagi.cron.as_str(), "0 0 6 * * Mon-Sat");
    assert_eq!(pagi.playlist, "lagu-nasional");
    let demo = config
        .schedules
        .iter()
        .find(|s| s.name == "demo-setiap-menit")
        .unwrap();
    assert_eq!(demo.cron.as_str(), "0 * * * * *");
    assert_eq!(demo.playlist, "demo");
    for s in &config.schedules {
        let playlist =
            corong::playlist::load(&s.playlist_path).unwrap_or_else(|e| panic!("{}", e.render()));
        assert!(!playlist.entries.is_empty());
    }
}

#[test]
fn bom_and_crlf_config_loads_and_columns_stay_right() {
    let text = format!("\u{feff}{}", ZONE.replace('\n', "\r\n"));
    let dir = fixture();
    let path = write_config(&dir, &text);
    assert!(config::load(&path).is_ok());
    let bad = format!("\u{feff}volume = 1\r\n{}", ZONE.replace('\n', "\r\n"));
    let path = write_config(&dir, &bad);
    let errors = config::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!((errors.0[0].line, errors.0[0].column), (1, 1));
}

#[test]
fn receiver_timeout() {
    let dir = fixture();
    let zone = "[[zones]]\nname = \"a\"\nrtp = [\"127.0.0.1:5004\"]\n\n[groups]\ng = [\"a\"]\n";
    let load = |daemon: &str| {
        let path = write_config(&dir, &format!("[daemon]\n{daemon}\n{zone}"));
        config::load_with_warnings(&path)
    };
    let (c, w) = load("").unwrap();
    assert!(w.is_empty(), "{w}");
    assert_eq!(c.daemon.receiver_timeout, Some(Duration::from_secs(30)));
    let (c, _) = load("receiver_timeout_s = 0").unwrap();
    assert_eq!(c.daemon.receiver_timeout, None, "0 is never");
    let (c, w) = load("receiver_timeout_s = 45").unwrap();
    assert!(w.is_empty(), "{w}");
    assert_eq!(c.daemon.receiver_timeout, Some(Duration::from_secs(45)));
    // Shorter than two reports apart: accepted with a warning at the value.
    let (c, w) = load("receiver_timeout_s = 3").unwrap();
    assert_eq!(c.daemon.receiver_timeout, Some(Duration::from_secs(3)));
    assert_eq!(w.len(), 1, "{w}");
    assert_eq!((w.0[0].line, w.0[0].column), (2, 22));
    assert!(w.0[0].message.contains("look silent"), "{w}");
    assert_one_error(
        &format!("[daemon]\nreceiver_timeout_s = -5\n{ZONE}"),
        2,
        22,
        &["receiver_timeout_s", "out of range", "0..=86400"],
    );
}

#[test]
fn odd_rtp_port_is_a_warning() {
    let dir = fixture();
    let text = "[[zones]]\nname = \"a\"\nrtp = [\"127.0.0.1:5005\"]\n\n[groups]\ng = [\"a\"]\n";
    let path = write_config(&dir, text);
    let (_, warnings) = config::load_with_warnings(&path).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings}");
    assert_eq!((warnings.0[0].line, warnings.0[0].column), (3, 8));
    assert!(warnings.0[0].message.contains("odd"));
}

#[test]
fn announcements_and_preemption_keys() {
    let text = format!(
        "{ZONE}\n[announcements]\nchime = \"media/ding.wav\"\nchime_after = true\nrepeat_interval_s = 30\ntts_voice = \"id\"\n\n[preemption]\nbackground = \"duck\"\nprogram = \"cancel\"\nduck_db = -12.0\n"
    );
    let dir = fixture();
    let config = config::load(&write_config(&dir, &text)).expect("valid");
    assert!(config
        .announcements
        .chime
        .as_ref()
        .unwrap()
        .ends_with("media/ding.wav"));
    assert!(config.announcements.chime_after);
    assert_eq!(config.announcements.repeat_interval.as_secs(), 30);
    assert_eq!(config.preemption.program, config::PreemptMode::Cancel);
    assert_eq!(
        config.preemption.mode(Priority(77)),
        config::PreemptMode::Cancel
    );
    assert_eq!(config.preemption.duck_db, -12.0);

    let text = format!("{ZONE}\n[preemption]\nprogram = \"fade\"\n");
    assert_one_error(
        &text,
        6,
        11,
        &["expected \"duck\", \"pause\" or \"cancel\""],
    );
    let text = format!("{ZONE}\n[announcements]\nrepeat_interval_s = -5\n");
    assert_one_error(&text, 6, 21, &["repeat_interval_s", "out of range"]);
}

/// `[announcements.chimes.LEVEL]`: chimes per priority level; a numbered
/// priority follows the nearest named level at or below it.
#[test]
fn chimes_per_priority_level() {
    use config::Chime;
    let text = format!(
        "{ZONE}\n[announcements]\nchime_after = false\n\n\
         [announcements.chimes.live]\nbefore = \"none\"\nafter = \"media/akhir.wav\"\n\n\
         [announcements.chimes.background]\nbefore = \"default\"\nafter = \"default\"\n"
    );
    let dir = fixture();
    let config = config::load(&write_config(&dir, &text)).expect("valid");
    let a = &config.announcements;
    let (before, after) = a.chimes_for(Priority::LIVE, true);
    assert_eq!(before, Chime::None);
    assert!(matches!(after, Chime::File(p) if p.ends_with("media/akhir.wav")));
    // 200 follows live; 120 follows announcement, which has no table.
    assert_eq!(a.chimes_for(Priority(200), true).0, Chime::None);
    assert_eq!(
        a.chimes_for(Priority(120), true),
        (Chime::Default, Chime::None)
    );
    assert_eq!(
        a.chimes_for(Priority(30), true),
        (Chime::Default, Chime::Default)
    );
    // `--no-chime` wins.
    assert_eq!(
        a.chimes_for(Priority::LIVE, false),
        (Chime::None, Chime::None)
    );
    assert_eq!(a.level_chime_files().len(), 1);

    let text = format!("{ZONE}\n[announcements.chimes.emergency]\nbefore = \"none\"\n");
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("emergency"), "{}", errors[0]);
    let text = format!("{ZONE}\n[announcements.chimes.live]\nbefore = \"\"\n");
    assert_one_error(&text, 6, 10, &["`before` is empty"]);
}

#[test]
fn a_schedule_may_not_take_emergency_priority() {
    let text = format!(
        "{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\npriority = \"emergency\"\n"
    );
    assert_one_error(&text, 10, 12, &["reserved for `corong emergency`"]);
}

#[test]
fn time_keys_of_a_schedule_and_quiet_hours() {
    let dir = fixture();
    fs::write(
        dir.path().join("libur.txt"),
        "# hari libur nasional\n2026-08-17\n2026-12-25  # Natal\n",
    )
    .unwrap();
    let text = format!(
        "{ZONE}\n[quiet_hours]\nfrom = \"22:00\"\nto = \"05:00\"\n\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\nmissed = \"catch-up\"\ngrace_s = 600\nexcept_dates = [\"2026-01-01\"]\nexcept_file = \"libur.txt\"\nactive_from = \"2026-01-01\"\nactive_until = \"2026-12-31\"\n"
    );
    let config = config::load(&write_config(&dir, &text)).expect("valid");
    let s = &config.schedules[0];
    assert_eq!(
        s.missed,
        config::Missed::CatchUp {
            grace: std::time::Duration::from_secs(600)
        }
    );
    let d = |t: &str| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
    assert_eq!(s.except_dates.len(), 3);
    assert!(s.fires_on(d("2026-08-17")).is_err());
    assert!(s.fires_on(d("2026-08-18")).is_ok());
    assert!(s.fires_on(d("2027-01-02")).is_err(), "after active_until");
    let q = config.quiet_hours.unwrap();
    let t = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
    assert!(q.contains(t(23, 0)) && q.contains(t(4, 59)) && !q.contains(t(5, 0)));
    assert!(!q.contains(t(21, 59)));

    let text = format!("{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\nmissed = \"later\"\n");
    assert_one_error(&text, 10, 10, &["expected \"skip\" or \"catch-up\""]);
    let text = format!("{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\nexcept_dates = [\"17-08-2026\"]\n");
    assert_one_error(&text, 10, 17, &["expected a date YYYY-MM-DD"]);
    let text = format!("{ZONE}\n[[schedules]]\nname = \"s\"\ncron = \"0 0 6 * * *\"\nplaylist = \"pagi\"\nzones = [\"all\"]\nexcept_file = \"tidak-ada.txt\"\n");
    assert_one_error(&text, 10, 15, &["except_file", "tidak-ada.txt"]);
    let text = format!("{ZONE}\n[quiet_hours]\nfrom = \"22:00\"\nto = \"22:00\"\n");
    assert_one_error(&text, 7, 6, &["quiet hours would be empty"]);
}

#[test]
fn an_oversized_config_is_refused_before_it_is_read() {
    let dir = fixture();
    let mut text = format!("{ZONE}\n");
    while text.len() <= 1 << 20 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    let path = write_config(&dir, &text);
    let err = config::load(&path).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!((err.0[0].line, err.0[0].column), (1, 1));
    assert!(err.0[0].message.contains("at most 1048576"), "{}", err.0[0]);
}

/// Without the `local-audio` feature a `local` zone is refused, at the key,
/// saying how to build with it.
#[cfg(not(feature = "local-audio"))]
#[test]
fn local_zone_needs_the_feature() {
    assert_one_error(
        "[[zones]]\nname = \"kiosk\"\nlocal = true\n",
        3,
        9,
        &["kiosk", "sound card", "--features local-audio"],
    );
}

/// With the feature: `local = true` or `"default"` is the default device,
/// a string names one; `false` is no sound card.
#[cfg(feature = "local-audio")]
#[test]
fn local_zone_names_its_device() {
    let dir = fixture();
    let path = write_config(
        &dir,
        "[[zones]]\nname = \"a\"\nlocal = true\n\n[[zones]]\nname = \"b\"\nlocal = \"default\"\n\n\
         [[zones]]\nname = \"c\"\nlocal = \"hw:1,0\"\n\n[[zones]]\nname = \"d\"\nlocal = false\nwav = \"d.wav\"\n",
    );
    let c = config::load(&path).unwrap_or_else(|d| panic!("{d}"));
    let devices: Vec<Option<Option<&str>>> = c
        .zones
        .iter()
        .map(|z| z.local().map(|l| l.device.as_deref()))
        .collect();
    assert_eq!(
        devices,
        [Some(None), Some(None), Some(Some("hw:1,0")), None]
    );
}

#[test]
fn local_must_be_true_or_a_device_name() {
    assert_one_error(
        "[[zones]]\nname = \"a\"\nwav = \"a.wav\"\nlocal = 3\n",
        4,
        9,
        &["expected true, or the name of an ALSA device"],
    );
    assert_one_error(
        "[[zones]]\nname = \"a\"\nwav = \"a.wav\"\nlocal = \"\"\n",
        4,
        9,
        &["`local` is empty"],
    );
    assert_one_error(
        "[[zones]]\nname = \"a\"\nlocal = false\n",
        2,
        8,
        &["has no output", "local = true"],
    );
}

/// Two zones on one sound card: a warning at the second `local`, naming
/// the first zone and its line.
#[cfg(feature = "local-audio")]
#[test]
fn two_zones_on_one_sound_card_is_a_warning() {
    let dir = fixture();
    let text =
        "[[zones]]\nname = \"a\"\nlocal = true\n\n[[zones]]\nname = \"b\"\nlocal = \"default\"\n\n\
                [[zones]]\nname = \"c\"\nlocal = \"hw:1,0\"\n\n[groups]\ng = [\"a\", \"b\", \"c\"]\n";
    let path = write_config(&dir, text);
    let (_, warnings) = config::load_with_warnings(&path).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings}");
    let w = &warnings.0[0];
    assert_eq!((w.line, w.column), (7, 9), "{w}");
    assert!(w.message.contains("zone `a` (line 2)"), "{w}");
}

#[test]
fn max_item_s_defaults_to_six_hours_and_is_bounded() {
    let dir = fixture();
    let path = write_config(&dir, ZONE);
    let c = config::load(&path).unwrap();
    assert_eq!(c.daemon.max_item.as_secs(), 6 * 3600);
    let path = write_config(&dir, &format!("[daemon]\nmax_item_s = 90\n{ZONE}"));
    assert_eq!(config::load(&path).unwrap().daemon.max_item.as_secs(), 90);
    for bad in ["0", "-1", "86401"] {
        let text = format!("[daemon]\nmax_item_s = {bad}\n{ZONE}");
        assert_one_error(&text, 2, 14, &["max_item_s", "out of range", "1..=86400"]);
    }
}

/// A zone whose only output is PCMU mixes at 8 kHz (its audio is decoded
/// straight to the wire's rate); any other zone at the engine rate.
#[test]
fn pcmu_only_zones_mix_at_8_khz() {
    let dir = fixture();
    let path = write_config(
        &dir,
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:5004\"]\ncodec = \"pcmu\"\n\n\
         [[zones]]\nname = \"arsip\"\nrtp = [\"127.0.0.1:5006\"]\ncodec = \"pcmu\"\nwav = \"arsip.wav\"\n\n\
         [[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:5008\"]\n",
    );
    let c = config::load(&path).unwrap();
    let rates: Vec<(String, u32)> = c
        .zones
        .iter()
        .map(|z| (z.name.clone(), z.mix_rate(c.daemon.sample_rate)))
        .collect();
    assert_eq!(
        rates,
        [
            ("pasar".to_string(), 8000),
            ("arsip".to_string(), 48_000),
            ("alun-alun".to_string(), 48_000)
        ]
    );
}

#[test]
fn recorder_rotation_and_retention_keys() {
    let dir = fixture();
    let load = |keys: &str| {
        let text = format!(
            "[[zones]]\nname = \"arsip\"\nwav = \"rec/arsip.wav\"\n{keys}\n[groups]\ng = [\"arsip\"]\n"
        );
        config::load_with_warnings(&write_config(&dir, &text))
    };
    // None of the keys: daily, 7 days, 2048 MiB.
    let (c, w) = load("").unwrap();
    assert!(w.is_empty(), "{w}");
    let r = c.zones[0].wav().unwrap().retention;
    assert_eq!(r.rotate, config::WavRotate::Daily);
    assert_eq!(r.keep_days, Some(7));
    assert_eq!(r.max_total_bytes, Some(2048 << 20));
    let (c, w) =
        load("wav_rotate = \"hourly\"\nwav_keep_days = 30\nwav_max_total_mb = 100").unwrap();
    assert!(w.is_empty(), "{w}");
    let r = c.zones[0].wav().unwrap().retention;
    assert_eq!(r.rotate, config::WavRotate::Hourly);
    assert_eq!(r.keep_days, Some(30));
    assert_eq!(r.max_total_bytes, Some(100 << 20));
    // 0: no bound; "none": the old single file.
    let (c, _) = load("wav_rotate = \"none\"\nwav_keep_days = 0\nwav_max_total_mb = 0").unwrap();
    let r = c.zones[0].wav().unwrap().retention;
    assert_eq!(r.rotate, config::WavRotate::None);
    assert_eq!((r.keep_days, r.max_total_bytes), (None, None));

    let zone = "[[zones]]\nname = \"arsip\"\nwav = \"rec/arsip.wav\"\n";
    assert_one_error(
        &format!("{zone}wav_rotate = \"weekly\"\n"),
        4,
        14,
        &["wav_rotate", "weekly", "daily", "hourly", "none"],
    );
    assert_one_error(
        &format!("{zone}wav_keep_days = -1\n"),
        4,
        17,
        &["wav_keep_days", "out of range", "0..=3650"],
    );
    assert_one_error(
        &format!("{zone}wav_max_total_mb = 8\n"),
        4,
        20,
        &[
            "wav_max_total_mb",
            "out of range",
            "16..=16777216",
            "0 for no bound",
        ],
    );
    // On a zone that records nothing: a warning at the key.
    let text = format!("{ZONE}wav_keep_days = 3\n[groups]\ng = [\"alun-alun\"]\n");
    let (_, w) = config::load_with_warnings(&write_config(&dir, &text)).unwrap();
    assert_eq!(w.len(), 1, "{w}");
    assert_eq!((w.0[0].line, w.0[0].column), (4, 17));
    assert!(w.0[0].message.contains("has no `wav`"), "{w}");
}

#[test]
fn uploads_keep_days() {
    let dir = fixture();
    let load = |daemon: &str| {
        let text = format!("[daemon]\n{daemon}\n{ZONE}[groups]\ng = [\"alun-alun\"]\n");
        config::load_with_warnings(&write_config(&dir, &text))
    };
    assert_eq!(load("").unwrap().0.daemon.uploads_keep_days, 30);
    assert_eq!(
        load("uploads_keep_days = 7")
            .unwrap()
            .0
            .daemon
            .uploads_keep_days,
        7
    );
    assert_one_error(
        &format!("[daemon]\nuploads_keep_days = 0\n{ZONE}"),
        2,
        21,
        &["uploads_keep_days", "out of range", "1..=3650"],
    );
}

#[test]
fn asrun_keep_days() {
    let dir = fixture();
    let load = |daemon: &str| {
        let text = format!("[daemon]\n{daemon}\n{ZONE}[groups]\ng = [\"alun-alun\"]\n");
        config::load_with_warnings(&write_config(&dir, &text))
    };
    let (c, w) = load("").unwrap();
    assert!(w.is_empty(), "{w}");
    assert_eq!(c.daemon.asrun_keep_days, Some(365));
    assert_eq!(
        load("asrun_keep_days = 0")
            .unwrap()
            .0
            .daemon
            .asrun_keep_days,
        None
    );
    assert_eq!(
        load("asrun_keep_days = 90")
            .unwrap()
            .0
            .daemon
            .asrun_keep_days,
        Some(90)
    );
    assert_one_error(
        &format!("[daemon]\nasrun_keep_days = -3\n{ZONE}"),
        2,
        19,
        &["asrun_keep_days", "out of range", "0..=36500", "forever"],
    );
    assert_one_error(
        &format!("[daemon]\nasrun_keep_days = 40000\n{ZONE}"),
        2,
        19,
        &["asrun_keep_days", "out of range"],
    );
}

//! The scripts under `bench/`: what can be checked without running a
//! benchmark (that needs a quiet machine and minutes): where they may send,
//! that they parse, and that the plot script draws a PNG from samples.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::require_peer;

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench")
}

fn scripts() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bench_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("sh" | "py")))
        .collect();
    v.sort();
    v
}

/// Every IPv4 address written in a bench script is loopback (127.0.0.0/8)
/// or an administratively scoped multicast group (239.255.0.0/16, which
/// the scripts send out of the loopback interface); 0.0.0.0 only binds.
#[test]
fn bench_scripts_name_only_loopback_or_local_multicast_addresses() {
    let mut seen = 0;
    for path in scripts() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for word in line.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
                let parts: Vec<&str> = word.split('.').collect();
                if parts.len() != 4 || parts.iter().any(|p| p.parse::<u8>().is_err()) {
                    continue;
                }
                seen += 1;
                let ok =
                    word.starts_with("127.") || word.starts_with("239.255.") || word == "0.0.0.0";
                assert!(ok, "{}:{}: sends to {word}?", path.display(), n + 1);
            }
        }
    }
    assert!(seen > 5, "the scan found the scripts' addresses ({seen})");
}

#[test]
fn bench_scripts_parse() {
    let all = scripts();
    assert!(all.len() >= 8, "{all:?}");
    for path in all {
        let (prog, args): (&str, &[&str]) = if path.extension().unwrap() == "sh" {
            ("bash", &["-n"])
        } else {
            // Parse only: py_compile would leave __pycache__ in bench/.
            (
                "python3",
                &["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"],
            )
        };
        let out = Command::new(prog).args(args).arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `bench/plot_jitter.sh` turns the samples that `OUT=DIR bench/jitter.sh`
/// keeps into one PNG, with a line per sender and packet time whose
/// legend carries that series' p99 and max; an empty folder is a one-line
/// error.
#[test]
fn plot_jitter_draws_a_png_from_kept_samples() {
    if !require_peer("gnuplot") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (sender, scale) in [("corong", 0.02), ("ffmpeg", 15.0), ("gstreamer", 0.05)] {
        for ptime in [20, 5] {
            // 1000 samples rising evenly to 10 x scale: p99 is 9.9 x scale.
            let text: Vec<String> = (1..=1000)
                .map(|i| format!("{:.4}", scale * i as f64 / 100.0))
                .collect();
            let path = dir.path().join(format!("{sender}-pcmu-{ptime}-1.txt"));
            std::fs::write(path, text.join("\n")).unwrap();
        }
    }
    let png = dir.path().join("out.png");
    let out = Command::new(bench_dir().join("plot_jitter.sh"))
        .arg(dir.path())
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // 1100 x 700 pixels, from the IHDR chunk.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1100);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 700);
    assert!(bytes.len() > 20_000, "six lines and a legend drawn");

    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(bench_dir().join("plot_jitter.sh"))
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no jitter samples"), "{err}");
}

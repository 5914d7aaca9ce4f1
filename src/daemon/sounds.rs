//! Sounds the daemon makes itself: the pre-announcement chime, the
//! emergency alert signal, and speech from text (espeak-ng).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::media::loudness::LoudnessCache;
use crate::media::tone;

/// Length of the synthesized emergency alert signal. Voice-alarm practice
/// asks for 3 to 10 s of alert before the first message.
pub const ALERT_SECONDS: f64 = 4.0;

/// The files announcements are wrapped in.
#[derive(Debug, Clone)]
pub struct Sounds {
    pub chime: PathBuf,
    pub alert: PathBuf,
    /// Where rendered speech is cached.
    pub tts_dir: PathBuf,
}

impl Sounds {
    /// Use the configured chime and alert, or write corong's own into
    /// `state_dir/sounds/` (or a temporary folder when the state folder is
    /// not writable: the chime must not depend on a healthy disk).
    pub fn prepare(config: &Config) -> Sounds {
        let rate = config.daemon.sample_rate;
        let dir = writable_dir(&config.daemon.state_dir.join("sounds"));
        let chime = config.announcements.chime.clone().unwrap_or_else(|| {
            let p = dir.join("chime.wav");
            write_once(&p, &tone::chime(rate), rate);
            p
        });
        let alert = config.announcements.alert.clone().unwrap_or_else(|| {
            let p = dir.join("alert.wav");
            write_once(&p, &tone::alert_tone(rate, ALERT_SECONDS), rate);
            p
        });
        let tts_dir = writable_dir(&config.daemon.state_dir.join("tts"));
        Sounds {
            chime,
            alert,
            tts_dir,
        }
    }
}

fn writable_dir(wanted: &Path) -> PathBuf {
    if std::fs::create_dir_all(wanted).is_ok() && probe_write(wanted) {
        return wanted.to_path_buf();
    }
    let fallback = std::env::temp_dir().join(format!("corong-{}", std::process::id()));
    tracing::warn!(
        wanted = %wanted.display(),
        using = %fallback.display(),
        "state folder not writable; generated sounds go to a temporary folder"
    );
    let _ = std::fs::create_dir_all(&fallback);
    fallback
}

fn probe_write(dir: &Path) -> bool {
    let probe = dir.join(".write-test");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// Write a mono WAV unless an identical-length one is already there.
fn write_once(path: &Path, samples: &[f32], rate: u32) {
    let expected = 44 + samples.len() as u64 * 2;
    if std::fs::metadata(path).is_ok_and(|m| m.len() == expected) {
        return;
    }
    let tmp = path.with_extension("wav.tmp");
    match tone::write_wav(&tmp, samples, rate, 1)
        .and_then(|_| std::fs::rename(&tmp, path).map_err(hound::Error::IoError))
    {
        Ok(()) => {}
        Err(e) => tracing::error!(file = %path.display(), "cannot write a built-in sound: {e}"),
    }
}

/// Why speech could not be rendered. One line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("text to speech needs the espeak-ng program, which is not installed (apt-get install espeak-ng); nothing was queued")]
    Missing,
    #[error("espeak-ng failed for voice `{voice}`: {reason}; nothing was queued")]
    Failed { voice: String, reason: String },
    #[error("no space left on device writing {}: free space there; nothing was queued", path.display())]
    NoSpace { path: PathBuf },
}

/// Whether the espeak-ng program can be run (for `corong check`).
pub fn tts_available() -> bool {
    Command::new("espeak-ng")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Render `text` with espeak-ng's `voice` into the cache (or find it there).
/// Returns the WAV and whether it came from the cache.
///
/// espeak-ng runs as a separate process: it is GPL, and the process
/// boundary keeps it out of this program.
///
/// The speech is written to a temporary name in the cache folder, checked
/// to hold audio, and only then renamed to its cache name: a full disk or a
/// failed espeak-ng never leaves a partial or empty file in the cache (one
/// would later play as "unsupported: empty file"). On failure the temporary
/// is removed and the error says the real cause.
pub fn speak(text: &str, voice: &str, cache: &Path) -> Result<(PathBuf, bool), TtsError> {
    speak_with(Path::new("espeak-ng"), text, voice, cache)
}

/// What the reference speech says ([`speech_level`]): an announcement of
/// several seconds, enough 400 ms blocks for a steady level.
const REFERENCE_TEXT: &str = "Perhatian, perhatian. Kepada seluruh pengunjung, \
     mohon perhatiannya sebentar. Acara akan segera dimulai. Terima kasih.";

/// Render the reference speech in `voice` (once: it stays in `level/` in
/// the speech cache `dir`) and have `cache` measure it in each of
/// `channels` (those of the zones that normalise; none: nothing to do),
/// so that speech not measured yet plays at its voice's level (see
/// `LoudnessCache::speech`). Without espeak-ng there is no speech to
/// level, and the reason is said where speech is asked for.
pub fn speech_level(cache: &LoudnessCache, voice: &str, dir: &Path, channels: &[u16]) {
    let mut channels = channels.to_vec();
    channels.sort_unstable();
    channels.dedup();
    if channels.is_empty() {
        return;
    }
    let level = dir.join("level");
    if let Err(e) = std::fs::create_dir_all(&level) {
        tracing::warn!(
            "speech not measured yet plays at a provisional gain from its opening: {}: {e}",
            level.display()
        );
        return;
    }
    match speak(REFERENCE_TEXT, voice, &level) {
        Ok((file, _)) => cache.speech(dir, &file, &channels),
        Err(TtsError::Missing) => {}
        Err(e) => tracing::warn!(
            "speech not measured yet plays at a provisional gain from its opening: {e}"
        ),
    }
}

/// Bytes of a WAV header without data: a file no longer than this holds no
/// audio.
const WAV_HEADER_BYTES: u64 = 44;

/// The cache's name for the speech of `text` in `voice`.
fn cache_key(text: &str, voice: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(voice.as_bytes());
    hash.update([0]);
    hash.update(text.as_bytes());
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The speech of `text` in `voice` if the cache has it (a quick look, no
/// rendering: the control loop may ask).
pub fn cached(text: &str, voice: &str, cache: &Path) -> Option<PathBuf> {
    let path = cache.join(format!("{}.wav", cache_key(text, voice)));
    std::fs::metadata(&path)
        .is_ok_and(|m| m.len() > WAV_HEADER_BYTES)
        .then_some(path)
}

/// [`speak`] with the espeak-ng program at `program` (tests use a fake).
fn speak_with(
    program: &Path,
    text: &str,
    voice: &str,
    cache: &Path,
) -> Result<(PathBuf, bool), TtsError> {
    let key = cache_key(text, voice);
    let path = cache.join(format!("{key}.wav"));
    if let Some(path) = cached(text, voice, cache) {
        return Ok((path, true));
    }
    let tmp = cache.join(format!("{key}.{}.tmp.wav", std::process::id()));
    let failed = |reason: String| {
        let _ = std::fs::remove_file(&tmp);
        // A full disk is the usual reason espeak-ng writes nothing (it
        // often exits 0 then): say so, naming the file.
        if crate::store::filesystem_full(cache) {
            return TtsError::NoSpace { path: path.clone() };
        }
        TtsError::Failed {
            voice: voice.into(),
            reason,
        }
    };
    let out = Command::new(program)
        .args(["-v", voice, "-w"])
        .arg(&tmp)
        .arg("--")
        .arg(text)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(TtsError::Missing),
        Err(e) => return Err(failed(e.to_string())),
    };
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string);
    if !out.status.success() {
        return Err(failed(stderr.unwrap_or_else(|| out.status.to_string())));
    }
    let len = std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
    if len <= WAV_HEADER_BYTES {
        let what = format!("it wrote no audio to {}", tmp.display());
        return Err(failed(match stderr {
            Some(line) => format!("{what} ({line})"),
            None => what,
        }));
    }
    // Its data must be on disk before the name says it is complete.
    if let Err(e) = std::fs::File::open(&tmp).and_then(|f| f.sync_all()) {
        return Err(failed(format!("cannot write {}: {e}", tmp.display())));
    }
    if let Err(e) = std::fs::rename(&tmp, &path) {
        return Err(failed(format!(
            "cannot store the speech as {}: {e}",
            path.display()
        )));
    }
    Ok((path, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake espeak-ng: a shell script with `body`, where `$4` is the file
    /// it is asked to write (`-v VOICE -w FILE -- TEXT`).
    fn fake(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("fake-espeak-ng");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_empty_result_is_refused_and_leaves_nothing_in_the_cache() {
        let bin = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        // What espeak-ng does on a full disk: exit 0 with nothing written.
        let prog = fake(bin.path(), ": > \"$4\"; exit 0");
        let err = speak_with(&prog, "Perhatian", "id", cache.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("wrote no audio to"), "{msg}");
        assert!(msg.contains(&cache.path().display().to_string()), "{msg}");
        assert!(msg.ends_with("nothing was queued"), "{msg}");
        assert!(!msg.contains("unsupported"), "{msg}");
        assert_eq!(files_in(cache.path()), Vec::<String>::new());
    }

    #[test]
    fn a_failure_after_a_partial_write_says_why_and_leaves_nothing() {
        let bin = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let prog = fake(
            bin.path(),
            "head -c 3000 /dev/zero > \"$4\"; echo \"espeak-ng: No space left on device\" >&2; exit 1",
        );
        let err = speak_with(&prog, "Perhatian", "id", cache.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("No space left on device"), "{msg}");
        assert!(msg.contains("voice `id`"), "{msg}");
        assert_eq!(files_in(cache.path()), Vec::<String>::new());
    }

    #[test]
    fn good_speech_is_cached_under_its_name_and_found_again() {
        let bin = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let prog = fake(bin.path(), "head -c 3000 /dev/zero > \"$4\"; exit 0");
        let (path, cached) = speak_with(&prog, "Perhatian", "id", cache.path()).unwrap();
        assert!(!cached);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3000);
        assert_eq!(
            files_in(cache.path()),
            [path.file_name().unwrap().to_string_lossy().into_owned()]
        );
        // Found in the cache: the program is not run again.
        let gone = bin.path().join("gone");
        let (again, cached) = speak_with(&gone, "Perhatian", "id", cache.path()).unwrap();
        assert_eq!((again, cached), (path, true));
    }

    #[test]
    fn a_missing_program_is_said_so() {
        let cache = tempfile::tempdir().unwrap();
        let err =
            speak_with(Path::new("/nonexistent/espeak-ng"), "x", "id", cache.path()).unwrap_err();
        assert!(matches!(err, TtsError::Missing), "{err}");
    }
}

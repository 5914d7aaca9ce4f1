//! Sounds the daemon makes itself: the pre-announcement chime, the
//! emergency alert signal, and speech from text (espeak-ng).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::config::Config;
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
pub fn speak(text: &str, voice: &str, cache: &Path) -> Result<(PathBuf, bool), TtsError> {
    let mut hash = Sha256::new();
    hash.update(voice.as_bytes());
    hash.update([0]);
    hash.update(text.as_bytes());
    let key: String = hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = cache.join(format!("{key}.wav"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 44) {
        return Ok((path, true));
    }
    let tmp = cache.join(format!("{key}.{}.tmp.wav", std::process::id()));
    let out = Command::new("espeak-ng")
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
        Err(e) => {
            return Err(TtsError::Failed {
                voice: voice.into(),
                reason: e.to_string(),
            })
        }
    };
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        let reason = String::from_utf8_lossy(&out.stderr)
            .lines()
            .next()
            .unwrap_or("no output")
            .to_string();
        return Err(TtsError::Failed {
            voice: voice.into(),
            reason,
        });
    }
    std::fs::rename(&tmp, &path).map_err(|e| TtsError::Failed {
        voice: voice.into(),
        reason: format!("cannot store the speech in {}: {e}", cache.display()),
    })?;
    Ok((path, false))
}

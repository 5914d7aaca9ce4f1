//! The voices espeak-ng knows, so that `say --voice` with a voice it does
//! not know is refused before anything is rendered or queued, with the
//! voices nearest to what was typed. (Some of its voices are surprising:
//! `klingon` is one of them, and speaks Indonesian text as Klingon.)

use std::process::Command;

/// Voice ids that `espeak-ng -v` accepts: language codes (`id`, `en-us`),
/// voice names (`indonesian`) and voice files (`roa/id`), in lowercase.
#[derive(Debug, Clone, Default)]
pub struct Voices(Vec<String>);

impl Voices {
    /// Ask the installed espeak-ng; `None` when it cannot be run (text to
    /// speech then fails with its own message).
    pub fn installed() -> Option<Voices> {
        let out = Command::new("espeak-ng").arg("--voices").output().ok()?;
        out.status
            .success()
            .then(|| Voices::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    /// The table `espeak-ng --voices` prints: a header line, then `Pty
    /// Language Age/Gender VoiceName File Other-languages`.
    pub fn parse(table: &str) -> Voices {
        let mut ids = Vec::new();
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 5 {
                continue;
            }
            ids.push(cols[1].to_lowercase());
            ids.push(cols[3].to_lowercase());
            ids.push(cols[4].to_lowercase());
            // "(en 3)(en-gb 9)": other languages it speaks, with priorities.
            ids.extend(
                cols[5..]
                    .iter()
                    .flat_map(|c| c.split(['(', ')']))
                    .filter(|t| !t.is_empty() && !t.bytes().all(|b| b.is_ascii_digit()))
                    .map(str::to_lowercase),
            );
        }
        ids.sort();
        ids.dedup();
        Voices(ids)
    }

    /// Whether `voice` (with an optional `+variant`) is known; if not, the
    /// one-line refusal.
    pub fn check(&self, voice: &str) -> Result<(), String> {
        let base = voice.split('+').next().unwrap_or(voice).to_lowercase();
        if self.0.contains(&base) {
            return Ok(());
        }
        let mut near: Vec<&str> = self
            .0
            .iter()
            .filter(|v| {
                crate::suggest::edit_distance(&base, v) <= 2
                    || v.starts_with(&base)
                    || base.starts_with(v.as_str())
            })
            .map(String::as_str)
            .take(8)
            .collect();
        near.dedup();
        Err(if near.is_empty() {
            format!("unknown voice `{voice}`: see `espeak-ng --voices` (Indonesian is `id`); nothing was queued")
        } else {
            format!(
                "unknown voice `{voice}` (close: {}); nothing was queued",
                near.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  af              --/M      Afrikaans          gmw/af
 5  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  id              --/M      Indonesian         poz/id
 5  jv              --/M      Javanese           poz/jv
 5  ms              --/M      Malay              poz/ms
";

    #[test]
    fn known_voices_pass_and_others_are_refused_with_near_ones() {
        let v = Voices::parse(TABLE);
        for ok in ["id", "ID", "id+f3", "indonesian", "poz/id", "en-us"] {
            assert_eq!(v.check(ok), Ok(()), "{ok}");
        }
        let e = v.check("klingon").unwrap_err();
        assert!(e.starts_with("unknown voice `klingon`"), "{e}");
        let e = v.check("indonesia").unwrap_err();
        assert!(e.contains("close: indonesian"), "{e}");
        assert_eq!(v.check("en"), Ok(()), "another language of en-us");
        let e = v.check("en-u").unwrap_err();
        assert!(e.contains("en-us"), "{e}");
    }
}

//! The loudness cache: a measurement per media file content hash, so a file
//! is measured once, not at every start.

use rusqlite::{params, OptionalExtension};

use super::model::{from_ms, to_ms, Loudness};
use super::{Store, StoreError};

impl Store {
    /// The cached measurement of the file with this content hash, if any.
    pub fn loudness(&self, content_hash: &str) -> Result<Option<Loudness>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT integrated_lufs, true_peak_dbtp, measured_at_ms
                     FROM loudness WHERE content_hash = ?1",
                    [content_hash],
                    |row| {
                        Ok(Loudness {
                            integrated_lufs: row.get(0)?,
                            true_peak_dbtp: row.get(1)?,
                            measured_at: from_ms(row.get(2)?),
                        })
                    },
                )
                .optional()?)
        })
    }

    /// Stores (or replaces) the measurement of the file with this content
    /// hash.
    pub fn put_loudness(&mut self, content_hash: &str, value: &Loudness) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO loudness (content_hash, integrated_lufs, true_peak_dbtp, measured_at_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (content_hash) DO UPDATE SET
                     integrated_lufs = excluded.integrated_lufs,
                     true_peak_dbtp = excluded.true_peak_dbtp,
                     measured_at_ms = excluded.measured_at_ms",
                params![
                    content_hash,
                    value.integrated_lufs,
                    value.true_peak_dbtp,
                    to_ms(value.measured_at)
                ],
            )?;
            Ok(())
        })
    }
}

/// The store as the loudness cache's memory: keys are
/// [`cache_key`](crate::media::loudness::cache_key)s (content hash and the
/// format the file was measured in). A store that fails is logged; the file
/// is then measured again next time, which costs time but nothing else.
impl crate::media::loudness::Persist for Store {
    fn get(&mut self, key: &str) -> Option<crate::media::loudness::Measurement> {
        match self.loudness(key) {
            Ok(found) => found.map(|l| crate::media::loudness::Measurement {
                integrated_lufs: l.integrated_lufs,
                true_peak_dbtp: l.true_peak_dbtp,
            }),
            Err(e) => {
                tracing::warn!("loudness cache not read: {e}");
                None
            }
        }
    }

    fn put(&mut self, key: &str, m: &crate::media::loudness::Measurement) {
        let value = Loudness {
            integrated_lufs: m.integrated_lufs,
            true_peak_dbtp: m.true_peak_dbtp,
            measured_at: chrono::Utc::now(),
        };
        if let Err(e) = self.put_loudness(key, &value) {
            tracing::warn!("loudness cache not written: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::media::loudness::{Measurement, Persist};
    use crate::store::Store;

    #[test]
    fn keeps_measurements_of_silence_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let loud = Measurement {
            integrated_lufs: -23.5,
            true_peak_dbtp: -3.25,
        };
        let silent = Measurement {
            integrated_lufs: f64::NEG_INFINITY,
            true_peak_dbtp: f64::NEG_INFINITY,
        };
        assert_eq!(store.get("a:48000:1"), None);
        store.put("a:48000:1", &loud);
        store.put("b:48000:1", &silent);
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.get("a:48000:1"), Some(loud));
        let got = store.get("b:48000:1").unwrap();
        assert!(got.is_silent(), "{got:?}");
    }
}

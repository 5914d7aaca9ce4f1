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

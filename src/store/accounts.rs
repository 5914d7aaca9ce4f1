//! The web console's accounts and login sessions, in `corong.db` beside the
//! queue. [`Accounts`] has a connection of its own (the daemon's web server
//! and `corong user` use it while the daemon's [`super::Store`] writes the
//! queue; WAL lets them share the file).
//!
//! Only hashes are stored: the password's argon2id PHC string (made by the
//! caller), and SHA-256 of the random API token and session ids, so a copy
//! of the database lets no one in. Sessions are rows, so they survive a
//! daemon restart until they expire.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::error::classify;
use super::{schema, StoreError};

/// What an account may do (see `docs/web.md`): each role can do all the one
/// before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`: expected viewer, operator or admin"
            )),
        }
    }
}

/// One account, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
    /// Whether an API token has been issued.
    pub has_token: bool,
}

/// The accounts and sessions. Every write is one statement or transaction,
/// durable when it returns.
pub struct Accounts {
    conn: Connection,
    path: PathBuf,
}

const COLUMNS: &str = "name, role, created_at_ms, token_hash IS NOT NULL";

fn account(row: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let role: String = row.get(1)?;
    Ok(Account {
        name: row.get(0)?,
        // The CHECK constraint allows nothing else.
        role: role.parse().unwrap_or(Role::Viewer),
        created_at_ms: row.get(2)?,
        has_token: row.get(3)?,
    })
}

impl Accounts {
    /// Opens `state_dir/corong.db` (creating it and its schema if need be).
    pub fn open(state_dir: &Path) -> Result<Accounts, StoreError> {
        let (mut conn, path) = super::open_beside(state_dir)?;
        schema::migrate(&mut conn, &path).map_err(|e| e.into_store_error(&path))?;
        Ok(Accounts { conn, path })
    }

    /// In memory, for tests.
    pub fn open_in_memory() -> Result<Accounts, StoreError> {
        let path = PathBuf::from(":memory:");
        let mut conn = Connection::open_in_memory().map_err(|e| classify(&path, e))?;
        super::configure(&conn).map_err(|e| classify(&path, e))?;
        schema::migrate(&mut conn, &path).map_err(|e| e.into_store_error(&path))?;
        Ok(Accounts { conn, path })
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }

    /// Adds an account; false if the name is taken.
    pub fn add(
        &mut self,
        name: &str,
        role: Role,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO accounts (name, role, password_hash, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), password_hash, now_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Every account, by name.
    pub fn list(&self) -> Result<Vec<Account>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM accounts ORDER BY name"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], account)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| classify(&self.path, e))
    }

    /// Removes an account and its sessions; false if there was none.
    pub fn remove(&mut self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM accounts WHERE name = ?1", [name])
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Sets a new password and ends the account's sessions; false if there
    /// is no such account.
    pub fn set_password(&mut self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        let n = tx
            .execute(
                "UPDATE accounts SET password_hash = ?2 WHERE name = ?1",
                params![name, password_hash],
            )
            .map_err(|e| classify(&path, e))?;
        tx.execute("DELETE FROM sessions WHERE account = ?1", [name])
            .map_err(|e| classify(&path, e))?;
        tx.commit().map_err(|e| classify(&path, e))?;
        Ok(n == 1)
    }

    /// Replaces the account's API token (its hash); false if no account.
    pub fn set_token(&mut self, name: &str, token_hash: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE accounts SET token_hash = ?2 WHERE name = ?1",
                params![name, token_hash],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// The account and its password hash.
    pub fn with_password(&self, name: &str) -> Result<Option<(Account, String)>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS}, password_hash FROM accounts WHERE name = ?1"),
                [name],
                |r| Ok((account(r)?, r.get(4)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The account whose API token hashes to `token_hash`.
    pub fn by_token(&self, token_hash: &str) -> Result<Option<Account>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM accounts WHERE token_hash = ?1"),
                [token_hash],
                account,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records a session until `expires_ms`.
    pub fn start_session(
        &mut self,
        id_hash: &str,
        name: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO sessions (id_hash, account, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id_hash, name, now_ms, expires_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The account of a session that has not expired at `now_ms`.
    pub fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<Account>, StoreError> {
        self.conn
            .query_row(
                "SELECT a.name, a.role, a.created_at_ms, a.token_hash IS NOT NULL
                 FROM sessions s JOIN accounts a ON a.name = s.account
                 WHERE s.id_hash = ?1 AND s.expires_at_ms > ?2",
                params![id_hash, now_ms],
                account,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Ends a session (logout).
    pub fn end_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes sessions expired at `now_ms`; how many.
    pub fn prune_sessions(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE expires_at_ms <= ?1", [now_ms])
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_sessions_and_tokens() {
        let mut a = Accounts::open_in_memory().unwrap();
        assert!(a.add("sri", Role::Operator, "$argon2id$x", 1).unwrap());
        assert!(!a.add("sri", Role::Admin, "$argon2id$y", 2).unwrap());
        let (acc, hash) = a.with_password("sri").unwrap().unwrap();
        assert_eq!((acc.role, hash.as_str()), (Role::Operator, "$argon2id$x"));
        a.start_session("h1", "sri", 10, 20).unwrap();
        assert_eq!(a.session("h1", 19).unwrap().unwrap().name, "sri");
        assert_eq!(a.session("h1", 20).unwrap(), None, "expired");
        a.start_session("h2", "sri", 10, 100).unwrap();
        assert!(a.set_password("sri", "$argon2id$z").unwrap());
        assert_eq!(
            a.session("h2", 50).unwrap(),
            None,
            "a new password ends sessions"
        );
        assert!(a.set_token("sri", "t").unwrap());
        assert_eq!(a.by_token("t").unwrap().unwrap().name, "sri");
        assert!(a.list().unwrap()[0].has_token);
        a.start_session("h3", "sri", 10, 100).unwrap();
        assert!(a.remove("sri").unwrap());
        assert_eq!(a.session("h3", 50).unwrap(), None);
        assert!(a.list().unwrap().is_empty());
        assert!(!a.remove("sri").unwrap());
    }
}

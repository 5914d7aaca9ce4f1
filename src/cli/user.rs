//! `corong user add|list|remove|passwd|token`: the web console's accounts,
//! kept in the state database (`store/accounts.rs`), passwords hashed with
//! argon2id (`web/auth.rs`). Needs only the config's `state_dir`; works
//! whether the daemon runs or not.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::store::{Accounts, Role};
use crate::web::auth;

/// Shortest password accepted.
const MIN_PASSWORD: usize = 8;
/// Longest password accepted (argon2 takes any length; a bound keeps a
/// pasted file out).
const MAX_PASSWORD: usize = 1024;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (asks for the password twice on a terminal).
    Add {
        /// The account's name: 1 to 64 letters, digits, '-', '_' or '.'.
        name: String,
        /// viewer | operator | admin.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts.
    List {
        /// Print JSON (name, role, created_at_ms, has_token).
        #[arg(long)]
        json: bool,
    },
    /// Remove an account and end its sessions.
    Remove {
        /// The account's name.
        name: String,
    },
    /// Set a new password (ends the account's sessions).
    Passwd {
        /// The account's name.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issue a new API token (replacing the old one); printed once.
    Token {
        /// The account's name.
        name: String,
    },
}

/// A valid account name: what a log line and a label can carry plainly.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "account name `{name}`: expected 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

pub fn run(config: &Config, cmd: UserCommand) -> ExitCode {
    match run_inner(config, cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corong: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(config: &Config, cmd: UserCommand) -> Result<(), String> {
    let mut accounts = Accounts::open(&config.daemon.state_dir).map_err(|e| e.to_string())?;
    let now = chrono::Utc::now().timestamp_millis();
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            check_name(&name)?;
            let role: Role = role.parse()?;
            if accounts
                .with_password(&name)
                .map_err(|e| e.to_string())?
                .is_some()
            {
                return Err(format!("account `{name}` exists already"));
            }
            let hash =
                auth::hash_password(&password(password_stdin)?).map_err(|e| e.to_string())?;
            if !accounts
                .add(&name, role, &hash, now)
                .map_err(|e| e.to_string())?
            {
                return Err(format!("account `{name}` exists already"));
            }
            println!("account `{name}` added ({})", role.as_str());
        }
        UserCommand::List { json } => {
            let list = accounts.list().map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).expect("accounts serialize")
                );
            } else if list.is_empty() {
                println!("no accounts (add one with `corong user add NAME --role admin`)");
            } else {
                for a in list {
                    let token = if a.has_token { "  (API token)" } else { "" };
                    println!("{:<24} {}{token}", a.name, a.role.as_str());
                }
            }
        }
        UserCommand::Remove { name } => {
            if !accounts.remove(&name).map_err(|e| e.to_string())? {
                return Err(format!("no account `{name}`"));
            }
            println!("account `{name}` removed");
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            if accounts
                .with_password(&name)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err(format!("no account `{name}`"));
            }
            let hash =
                auth::hash_password(&password(password_stdin)?).map_err(|e| e.to_string())?;
            accounts
                .set_password(&name, &hash)
                .map_err(|e| e.to_string())?;
            println!("password of `{name}` changed; its sessions are ended");
        }
        UserCommand::Token { name } => {
            let token = auth::new_secret();
            if !accounts
                .set_token(&name, &auth::secret_hash(&token))
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no account `{name}`"));
            }
            // Only the hash is kept: this is the one time it is shown.
            println!("{token}");
        }
    }
    Ok(())
}

/// The new password: stdin's first line, or asked twice on the terminal
/// without echo.
fn password(from_stdin: bool) -> Result<String, String> {
    let stdin = std::io::stdin();
    let pw = if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        let a = ask("password: ")?;
        let b = ask("again: ")?;
        if a != b {
            return Err("the two passwords differ".into());
        }
        a
    };
    if pw.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "password too short: at least {MIN_PASSWORD} characters"
        ));
    }
    if pw.len() > MAX_PASSWORD {
        return Err(format!("password too long: at most {MAX_PASSWORD} bytes"));
    }
    Ok(pw)
}

/// One line from the terminal with echo off.
fn ask(prompt: &str) -> Result<String, String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let have = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a termios copied from tcgetattr, echo cleared.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have {
        // SAFETY: restoring what tcgetattr gave.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    eprintln!();
    read.map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

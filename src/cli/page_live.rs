//! `corong page` in live mode: the audio goes to the daemon as it comes.
//!
//! The client converts its input to mono 16-bit samples (the daemon fits
//! them to each zone), sends a `page_live` request on the control socket
//! and, once the daemon answers `queued`, sends the audio on the same
//! connection in small frames (`control/live.rs`) while a second thread
//! reads the daemon's lines: `playing` ("on air in ZONES"), why the page
//! ends, and the final answer. The page ends at the end of the input,
//! Ctrl-C, `--max-s` (the daemon fades it out), or when the daemon ends it
//! (an operator's stop, an emergency).

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::client::{print_error_json, print_json, Target};
use super::page_input::{catch_ctrl_c, Samples, INTERRUPTED};
use crate::control::live::{encode_frame, END_FRAME, MAX_LIVE_RATE};
use crate::control::protocol::{Delivery, ErrorCode, JobState, Progress, Reply, Request, Response};

/// Audio sent per frame: short, so each sample leaves soon after it came.
const FRAME: Duration = Duration::from_millis(5);

/// What a live page needs besides its input.
pub struct LiveOptions {
    pub delivery: Delivery,
    pub max_s: u32,
    pub gap_ms: u32,
    /// Where the audio comes from, for messages.
    pub source: &'static str,
}

/// What the daemon said, from the reading thread.
enum Said {
    Progress(Progress),
    Final(Response),
}

fn fail(target: &Target<'_>, code: ErrorCode, message: &str, exit: u8) -> ExitCode {
    if target.json {
        print_error_json(code, message);
    }
    eprintln!("corong: {message}");
    ExitCode::from(exit)
}

/// Run a live page from `next` (interleaved samples of `channels` at
/// `rate`).
pub fn run(
    target: &Target<'_>,
    rate: u32,
    channels: u16,
    mut next: Samples<'_>,
    opts: LiveOptions,
) -> ExitCode {
    if rate > MAX_LIVE_RATE {
        return fail(
            target,
            ErrorCode::BadRequest,
            &format!("a live page takes at most {MAX_LIVE_RATE} Hz; the input is {rate} Hz"),
            2,
        );
    }
    let path = match super::socket::socket_path(target.socket, &super::config_path(target.config)) {
        Ok(p) => p,
        Err(e) => return fail(target, ErrorCode::Unavailable, &e.to_string(), 3),
    };
    let stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                target,
                ErrorCode::Unavailable,
                &format!("cannot reach the daemon at {}: {e}", path.display()),
                3,
            )
        }
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let req = Request::PageLive {
        rate,
        max_s: opts.max_s,
        gap_ms: opts.gap_ms,
        delivery: opts.delivery,
    };
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => return fail(target, ErrorCode::Failed, &e.to_string(), 1),
    };
    let mut line = req.to_line().into_bytes();
    line.push(b'\n');
    if let Err(e) = writer.write_all(&line) {
        return fail(
            target,
            ErrorCode::Unavailable,
            &format!("the daemon: {e}"),
            3,
        );
    }
    // The first answer: queued (send the audio) or a refusal.
    let mut reader = BufReader::new(stream);
    let first = match read_response(&mut reader) {
        Ok(r) => r,
        Err(e) => return fail(target, ErrorCode::Failed, &e, 1),
    };
    let (id, zones) = match first {
        Response::Progress(p) => (
            p.id,
            p.reason
                .as_deref()
                .and_then(|r| r.strip_prefix("live on "))
                .unwrap_or("the zones")
                .to_string(),
        ),
        Response::Err { code, error } => {
            return fail(target, code, &error, 1);
        }
        other => {
            return fail(
                target,
                ErrorCode::Failed,
                &format!("unexpected answer to a live page: {other:?}"),
                1,
            )
        }
    };
    let (said_tx, said_rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        match read_response(&mut reader) {
            Ok(Response::Progress(p)) => {
                if said_tx.send(Said::Progress(p)).is_err() {
                    return;
                }
            }
            Ok(other) => {
                let _ = said_tx.send(Said::Final(other));
                return;
            }
            Err(e) => {
                let _ = said_tx.send(Said::Final(Response::error(ErrorCode::Failed, e)));
                return;
            }
        }
    });
    catch_ctrl_c();
    let terminal = io::stderr().is_terminal() && !target.json;
    if terminal {
        eprintln!(
            "live page {id} from {}: end with Ctrl-C or at the end of the input (at most {} s)",
            opts.source, opts.max_s
        );
    }
    let started = Instant::now();
    let per_frame = ((rate as f64 * FRAME.as_secs_f64()) as usize).max(1);
    let mut frame: Vec<i16> = Vec::with_capacity(per_frame);
    let mut bytes = Vec::with_capacity(per_frame * 2 + 2);
    let mut on_air = false;
    let mut ending: Option<String> = None;
    let mut fin: Option<Response> = None;
    let mut sent = 0u64;
    let mut peak = 0f32;
    let mut metered = Instant::now();
    let mut read_error: Option<String> = None;
    'feed: loop {
        // Mix the input's channels down to one.
        let mut sum = 0i32;
        let mut got = 0;
        while got < channels {
            match next() {
                None => break 'feed,
                Some(Ok(s)) => {
                    sum += i32::from(s);
                    got += 1;
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    if INTERRUPTED.load(Ordering::Relaxed) {
                        break 'feed;
                    }
                    // No input now: the daemon may have ended the page.
                    while let Ok(said) = said_rx.try_recv() {
                        match said {
                            Said::Progress(p) => note(&p, &zones, &mut on_air, &mut ending, target),
                            Said::Final(r) => {
                                fin = Some(r);
                                break 'feed;
                            }
                        }
                    }
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break 'feed,
                Some(Err(e)) => {
                    read_error = Some(format!("reading {}: {e}", opts.source));
                    break 'feed;
                }
            }
        }
        let s = (sum / i32::from(channels)) as i16;
        peak = peak.max((f32::from(s) / 32768.0).abs());
        frame.push(s);
        if frame.len() < per_frame {
            continue;
        }
        bytes.clear();
        encode_frame(&frame, &mut bytes);
        sent += frame.len() as u64;
        frame.clear();
        if writer.write_all(&bytes).is_err() {
            break; // the daemon ended the page: its answer says why
        }
        while let Ok(said) = said_rx.try_recv() {
            match said {
                Said::Progress(p) => note(&p, &zones, &mut on_air, &mut ending, target),
                Said::Final(r) => {
                    fin = Some(r);
                    break 'feed;
                }
            }
        }
        if INTERRUPTED.load(Ordering::Relaxed) {
            break;
        }
        if terminal && metered.elapsed() >= Duration::from_millis(100) {
            metered = Instant::now();
            super::page_input::meter("on air", sent as f64 / rate as f64, peak);
            peak = 0.0;
        }
    }
    if fin.is_none() {
        if !frame.is_empty() {
            bytes.clear();
            encode_frame(&frame, &mut bytes);
            let _ = writer.write_all(&bytes);
        }
        let _ = writer.write_all(&END_FRAME);
    }
    if terminal {
        eprintln!();
    }
    // The daemon plays what it holds, then answers.
    let fin = match fin {
        Some(f) => f,
        None => loop {
            match said_rx.recv() {
                Ok(Said::Progress(p)) => note(&p, &zones, &mut on_air, &mut ending, target),
                Ok(Said::Final(r)) => break r,
                Err(_) => break Response::error(ErrorCode::Failed, "the daemon went away"),
            }
        },
    };
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = &read_error {
        eprintln!("corong: {e}; the page ended");
    }
    match fin {
        Response::Ok(Reply::Finished(p)) => {
            if target.json {
                print_json(&Reply::Finished(p.clone()));
            } else {
                println!("{}", p.id);
                let why = p.reason.clone().or(ending);
                eprintln!(
                    "page {} ended after {seconds:.1} s{}: {}",
                    p.id,
                    why.map(|e| format!(" ({e})")).unwrap_or_default(),
                    p.state.as_str()
                );
            }
            if read_error.is_some() {
                ExitCode::from(2)
            } else if p.state == JobState::Done && p.reason.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Response::Err { code, error } => fail(target, code, &error, 1),
        other => fail(
            target,
            ErrorCode::Failed,
            &format!("unexpected answer to a live page: {other:?}"),
            1,
        ),
    }
}

/// A progress line: "on air in ZONES" once; why it ends.
fn note(
    p: &Progress,
    zones: &str,
    on_air: &mut bool,
    ending: &mut Option<String>,
    target: &Target<'_>,
) {
    if let Some(why) = p.reason.as_deref().and_then(|r| r.strip_prefix("ending: ")) {
        *ending = Some(why.to_string());
        return;
    }
    if p.state == JobState::Playing && !*on_air {
        *on_air = true;
        if !target.json {
            eprintln!("\ron air in {zones}");
        }
    }
}

fn read_response(reader: &mut impl BufRead) -> Result<Response, String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => Err("the daemon closed the connection".into()),
        Ok(_) => Response::from_line(line.trim_end()).map_err(|e| e.to_string()),
        Err(e) => Err(format!("reading the daemon's answer: {e}")),
    }
}

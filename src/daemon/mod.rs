//! The daemon: config -> zones and engine -> scheduler, and the control
//! plane's loop that turns events into jobs and logs what plays where.
//!
//! - `mod.rs`: start-up, the main loop, shutdown.
//! - `station.rs`: the running zones and jobs: start-up, reload, health.
//! - `effects.rs`: the station carrying out the ledger's effects (voices,
//!   decoders, timers) and handing the audio world's events back to it.
//! - `health.rs`: output counters turned into log lines, at most once a
//!   minute, one watch per endpoint.
//! - `receivers.rs`: the RTCP receiver reports (and BYEs) that come back to
//!   each RTP zone, read on the control plane into a table per zone; a
//!   receiver gone silent degrades its zone.
//! - `alerts.rs`: hazard feeds' pollers, the alerts' inbox, their jobs.
//! - `bridge.rs`: a thread that carries the engine's and the decoders' events
//!   into the tokio world.
//! - `control.rs`: the control socket's handler: requests into the loop.
//! - `requests.rs`: what each operator request does.
//! - `slots.rs`: how many voices each zone holds; jobs waiting for a place.
//! - `sounds.rs`: the chime, the alert signal and text to speech.
//! - `notify.rs`: systemd's READY, STATUS, WATCHDOG and STOPPING.
//! - `voices.rs`: the voices espeak-ng knows, to refuse unknown ones.
//! - `retention.rs`: prunes the as-run log past `asrun_keep_days`, in small
//!   batches at start and daily.
//!
//! # Shutdown
//!
//! SIGTERM (or SIGINT): STOPPING=1 to systemd; the control socket and the
//! scheduler stop; the engine finishes the packet in progress and reports
//! every voice on air as interrupted, which the store records (every store
//! write is durable when it returns, so there is nothing left to flush);
//! the store is closed, which merges its write-ahead log into `corong.db`
//! and marks the stop clean (a copy of `corong.db` alone is then whole, and
//! the next start can tell a crash from a clean stop); the process exits. Every wait on the way is bounded (see
//! [`SHUTDOWN_BUDGET`]) so that the whole takes well under systemd's and the
//! operators' 2 s, even when a thread hangs.

mod alerts;
mod bridge;
mod control;
mod effects;
mod fires;
pub mod health;
pub mod jobs;
pub mod notify;
mod page_book;
mod page_feed;
mod page_live;
mod page_margin;
mod pause_book;
mod pauses;
pub mod receivers;
mod refusal;
mod report;
mod requests;
mod retention;
mod slots;
pub mod sounds;
mod station;
mod voices;
mod when;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{self, Config};
use crate::schedule;
pub use station::Station;

/// `corong daemon`: load the config, run until SIGINT or SIGTERM. `socket`
/// (`--socket` or `$CORONG_SOCKET`) is listened on instead of the config's
/// `control_socket`.
pub fn main(config_path: PathBuf, socket: Option<PathBuf>) -> ExitCode {
    install_panic_hook();
    let config = match config::load_with_warnings(&config_path) {
        Ok((c, warnings)) => {
            // The log's times are in the daemon's time zone.
            crate::logging::init_in(Some(c.daemon.timezone));
            for w in &warnings.0 {
                tracing::warn!("{w}");
            }
            c
        }
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{d}");
            }
            eprintln!(
                "corong: {} has errors; the daemon does not start",
                config_path.display()
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("corong-control")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("corong: cannot start the control plane: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // The handlers are in place before the zones start and the log says
        // "started": a SIGTERM right after that stops the daemon cleanly
        // instead of killing it.
        let shutdown = shutdown_signal();
        run_on(config, socket, shutdown).await
    });
    // Tasks still running (a client's connection) are dropped; blocking work
    // is not waited for beyond this.
    runtime.shutdown_timeout(SHUTDOWN_BUDGET.runtime);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("corong: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reload the station's config and hand the scheduler the new schedules;
/// the reply for `corong reload`.
async fn reload(
    station: &mut Station,
    schedules: &mpsc::Sender<Vec<crate::config::Schedule>>,
) -> crate::control::protocol::Response {
    use crate::control::protocol::{DoneResult, ErrorCode, Reply, Response};
    match station.reload() {
        Ok((message, config)) => {
            let _ = schedules.send(config.schedules.clone()).await;
            Response::Ok(Reply::Done(DoneResult {
                message,
                zones: config.zones.iter().map(|z| z.name.clone()).collect(),
            }))
        }
        Err(e) => Response::error(ErrorCode::Failed, e),
    }
}

/// Panics go to the log, with the thread they happened on.
///
/// Which threads may panic, and what happens then:
/// - a decoder worker (`corong-decode-N`): the panic is caught around each
///   decode call; the item is logged as skipped ("decoder panicked: MESSAGE
///   at PLACE", with the file: the hook logs no line of its own) and the
///   playlist goes on;
/// - the loudness thread (`corong-loudness`): the panic is caught around
///   each measurement; the file plays without normalisation (and its
///   decoder worker then meets the same problem and skips it);
/// - the engine (`corong-engine`) is written not to panic; a panic there is
///   a bug, and the process aborts so that systemd restarts it (the queue is
///   on disk);
/// - the control plane (`corong-control`): a panic in the main loop ends
///   the process (exit status 101); one in the control server's or the
///   scheduler's task stops the daemon cleanly with an error (exit status
///   1); either way systemd restarts it. A panic while serving one client's
///   connection closes that connection only;
/// - the event bridge (`corong-bridge`): as the engine, it aborts the
///   process;
/// - a WAV writer thread: its zone's recording stops; the zone streams on.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // A decoder's panic is reported once, with its file, on the item's
        // `skipped` line (see media/panics.rs).
        if crate::media::panics::hand_over(&msg, &at) {
            return;
        }
        tracing::error!(thread = name, at = %at, "panicked: {msg}");
    }));
}

/// The most each step of shutdown waits. The engine (1.2 s, including the
/// WAV recorders' final header) and the decoder workers (0.5 s) bound their
/// own joins; these are the control plane's. Together the worst case stays
/// under 2 s; the usual case is a few packet times.
pub struct ShutdownBudget {
    pub scheduler: Duration,
    pub server: Duration,
    pub runtime: Duration,
}

/// See [`ShutdownBudget`].
pub const SHUTDOWN_BUDGET: ShutdownBudget = ShutdownBudget {
    scheduler: Duration::from_millis(50),
    server: Duration::from_millis(100),
    runtime: Duration::from_millis(100),
};

/// The one-line state systemd shows in `systemctl status corong`.
fn status_line(station: &Station) -> String {
    let on_air = station
        .ledger
        .jobs()
        .values()
        .filter(|j| !j.playing.is_empty())
        .count();
    let mut s = format!(
        "{} zones streaming, {on_air} jobs on air",
        station.zones.len()
    );
    if let Some(why) = station.ledger.store_problem() {
        s.push_str("; ");
        s.push_str(why);
    }
    s
}

/// Resolves on SIGINT or SIGTERM.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered now (not at the first poll), so that no SIGTERM or SIGINT
    // meets the default action once this returns.
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Run the daemon on `config` until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_on(config, None, shutdown).await
}

/// [`run`], listening on `socket` when given. The config keeps the file's
/// `control_socket`, so that a reload compares file with file.
pub async fn run_on(
    config: Config,
    socket: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // SIGHUP is watched from the first moment: its default action ends the
    // process, and a reload asked while the daemon starts (systemd's
    // `ExecReload`, an operator) must reload, not kill it. One that comes
    // before the loop runs is kept for it.
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| anyhow::anyhow!("cannot watch SIGHUP: {e}"))?;
    // The socket first: a second daemon on the same config stops here,
    // before it touches the zones or the store.
    let socket = socket.unwrap_or_else(|| config.daemon.control_socket.clone());
    let listener = control::server_bind(&socket, config.daemon.control_group.as_deref())?;

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (wake_tx, mut wakes) = mpsc::unbounded_channel();
    let (durable_tx, mut durables) = mpsc::unbounded_channel();
    let mut station = Station::start(config, events_tx, wake_tx, durable_tx)?;
    let config = station.config().clone();
    let (mut alerts, mut alert_inputs) = alerts::Alerts::start(&mut station);
    // Before the scheduler's first look at the clock: what it will not see.
    // A clock not yet synchronized cannot say what was missed: with
    // `wait_for_clock_sync` nothing is caught up then.
    let wait_for_sync = config.daemon.wait_for_clock_sync;
    if !wait_for_sync || schedule::sync::clock_synchronized() {
        station.catch_up(chrono::Utc::now());
    }

    let (requests_tx, mut requests) = mpsc::channel(64);
    let (checked_tx, mut checked) = mpsc::unbounded_channel();
    let (spoken_tx, mut spoken) = mpsc::unbounded_channel();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let handler = Arc::new(control::Forward { tx: requests_tx });
    // The web console (with `[web]`): the same requests, the same loop.
    let (changes_tx, changes_rx) = tokio::sync::watch::channel(0u64);
    // The regency (with `[mqtt]`): other kiosks' orders, the same loop.
    let sites = crate::sites::start(&config, handler.clone(), changes_tx.subscribe());
    station.broker = sites.as_ref().map(|s| s.link.clone());
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    let web_task = match &config.web {
        Some(web) => {
            let bound = crate::web::bind(web).await?;
            tracing::info!(listen = %bound.local_addr()?, tls = bound.is_tls(), "web console ready");
            let ctx = crate::web::Context {
                config: web.clone(),
                state_dir: config.daemon.state_dir.clone(),
                handler: handler.clone(),
                changes: changes_rx,
                heartbeat: Some(station.engine().heartbeat.clone()),
                sites: sites.as_ref().map(|s| s.link.watch()),
                quiet_hours: config.quiet_hours.map(|q| (q.from, q.to)),
            };
            Some(tokio::spawn(crate::web::serve(bound, ctx, async move {
                let _ = web_stopped.await;
            })))
        }
        None => None,
    };
    let serve_options = crate::control::ServeOptions {
        upload_dir: Some(config.daemon.state_dir.join("uploads")),
        ..Default::default()
    };
    let mut server_task = tokio::spawn(crate::control::server::serve_with(
        listener,
        handler,
        async move {
            let _ = server_stopped.await;
        },
        serve_options,
    ));
    tracing::info!(socket = %socket.display(), "control socket ready");

    let (fire_tx, mut fires) = mpsc::channel(64);
    let (schedules_tx, schedules_rx) = mpsc::channel(4);
    let scheduler = schedule::Scheduler::new(&config.schedules, config.daemon.timezone);
    station.fires_skipped_by_clock = scheduler.skipped_counter();
    let (stop_scheduler, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
    let clock: Arc<dyn schedule::Clock> = Arc::new(schedule::SystemClock);
    let mut scheduler_task = tokio::spawn(async move {
        let stopped = async move {
            let _ = scheduler_stopped.await;
        };
        tokio::pin!(stopped);
        if wait_for_sync {
            tokio::select! {
                _ = schedule::sync::wait_until_synchronized() => {}
                _ = &mut stopped => return,
            }
        }
        scheduler
            .run_with_updates(clock, fire_tx, schedules_rx, stopped)
            .await
    });
    let mut asrun_retention = retention::AsRunRetention::new(config.daemon.asrun_keep_days);
    let mut health_timer = tokio::time::interval(Duration::from_secs(1));
    health_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    // systemd: READY once every zone streams (polled every few ms until
    // then), WATCHDOG pings from this loop, so that a ping proves this loop
    // and the engine thread alive (see notify.rs).
    let mut systemd = notify::Systemd::from_env();
    let mut ready_poll = tokio::time::interval(Duration::from_millis(5));
    let watchdog_enabled = systemd.ping_every().is_some();
    let mut watchdog_timer =
        tokio::time::interval(systemd.ping_every().unwrap_or(Duration::from_secs(3600)));
    watchdog_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    tokio::pin!(shutdown);
    // Set when the control server or the scheduler ended on its own (a
    // panic): the daemon then stops and exits with an error, so that the
    // service manager restarts it, rather than stream on deaf or unscheduled.
    let mut failed: Option<String> = None;
    let (mut server_done, mut scheduler_done) = (false, false);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = &mut server_task => {
                server_done = true;
                failed = Some(format!("the control socket stopped serving ({})", task_end(r)));
                break;
            }
            r = &mut scheduler_task => {
                scheduler_done = true;
                failed = Some(format!("the scheduler stopped ({})", task_end(r)));
                break;
            }
            Some(mut r) = requests.recv() => {
                if !read_only(&r.request) {
                    changed(&changes_tx);
                }
                if crate::sites::takes(&r.request) {
                    crate::sites::submit(sites.as_ref(), r.request, r.peer.user, r.reply);
                } else if let Some(socket) = r.live.take() {
                    // A live page: its audio goes to a thread of its own.
                    station.page_live(r.request, r.peer, socket, r.reply);
                } else if let Some(reply) = alerts.on_request(&r.request, &r.peer.user, &mut station) {
                    let _ = r.reply.try_send(reply);
                } else if matches!(r.request, crate::control::protocol::Request::Reload) {
                    tracing::info!(user = %r.peer.user, "reload requested");
                    let reply = reload(&mut station, &schedules_tx).await;
                    alerts.on_reload(&mut station);
                    let _ = r.reply.try_send(reply);
                } else if let Err(refusal) = station.precheck(&r.request) {
                    tracing::warn!(user = %r.peer.user, "request refused: {}", refusal.message);
                    let _ = r.reply.try_send(refusal.response());
                } else if let Some(prep) = station.preparation(&r.request) {
                    // Opening and decoding what an operator names, and
                    // rendering speech, run beside the loop; the request
                    // comes back prepared.
                    let checked_tx = checked_tx.clone();
                    tokio::spawn(async move {
                        let result = requests::prepare_off_loop(prep).await;
                        let _ = checked_tx.send((r, result));
                    });
                } else {
                    station.on_request(r.request, requests::Prepared::default(), r.peer, r.reply);
                }
            }
            Some((r, result)) = checked.recv() => {
                changed(&changes_tx);
                match result {
                    Ok(prepared) => station.on_request(r.request, prepared, r.peer, r.reply),
                    Err(refusal) => {
                        tracing::warn!(user = %r.peer.user, "request refused: {}", refusal.message);
                        let _ = r.reply.try_send(refusal.response());
                    }
                }
            }
            Some((fire, speech)) = spoken.recv() => station.on_fire_spoken(&fire, speech),
            Some(()) = hangups.recv() => {
                tracing::info!("SIGHUP: reloading the config");
                let _ = reload(&mut station, &schedules_tx).await;
                alerts.on_reload(&mut station);
            }
            Some(event) = events.recv() => {
                station.on_event(event);
                changed(&changes_tx);
            }
            Some(input) = alert_inputs.recv() => {
                alerts.on_input(input, &mut station);
                changed(&changes_tx);
            }
            Some(fire) = fires.recv() => {
                changed(&changes_tx);
                if let Some(speech) = station.on_fire(&fire) {
                    // A text schedule's speech not in the cache yet (it is
                    // rendered at start): espeak-ng runs beside the loop.
                    let spoken_tx = spoken_tx.clone();
                    let failed = speech.failed("speech rendering stopped".into());
                    tokio::spawn(async move {
                        let spoken = tokio::task::spawn_blocking(move || speech.render())
                            .await
                            .unwrap_or(failed);
                        let _ = spoken_tx.send((fire, spoken));
                    });
                }
            }
            Some(id) = wakes.recv() => {
                station.on_wake(id);
                changed(&changes_tx);
            }
            Some(durable) = durables.recv() => station.on_durable(durable),
            _ = ready_poll.tick(), if !systemd.is_ready() => {
                let status = status_line(&station);
                systemd.poll_ready(station.engine(), status);
            }
            _ = watchdog_timer.tick(), if watchdog_enabled => {
                let ticks = station.engine().heartbeat.ticks.load(Ordering::Acquire);
                systemd.on_watchdog_timer(ticks);
            }
            _ = health_timer.tick() => {
                if station.check_health() {
                    changed(&changes_tx);
                }
                alerts.tick(&mut station);
                systemd.set_status(status_line(&station));
                // A bounded batch: the loop is not held long.
                tokio::task::block_in_place(|| {
                    asrun_retention.tick(station.ledger.store_mut(), chrono::Utc::now())
                });
            }
        }
    }

    let stopping = std::time::Instant::now();
    tracing::info!("shutting down");
    systemd.stopping();
    let _ = stop_server.send(());
    let _ = stop_web.send(());
    let _ = stop_scheduler.send(());
    if !scheduler_done {
        let _ = tokio::time::timeout(SHUTDOWN_BUDGET.scheduler, scheduler_task).await;
    }
    // Bounded inside: engine, decoder workers, event bridge.
    tokio::task::block_in_place(|| station.shutdown());
    // The engine reported the voices it interrupted; record them.
    while let Ok(event) = events.try_recv() {
        station.on_event(event);
    }
    // Nothing writes the queue from here on: checkpoint it into corong.db.
    station.close_store();
    if !server_done
        && tokio::time::timeout(SHUTDOWN_BUDGET.server, server_task)
            .await
            .is_err()
    {
        tracing::warn!("a client connection did not close in time; dropping it");
    }
    if let Some(web) = web_task {
        // The web drains its connections within its own bound.
        if tokio::time::timeout(SHUTDOWN_BUDGET.server, web)
            .await
            .is_err()
        {
            tracing::warn!("the web console did not stop in time; dropping it");
        }
    }
    tracing::info!(ms = stopping.elapsed().as_millis() as u64, "stopped");
    match failed {
        Some(why) => Err(anyhow::anyhow!(
            "{why}: exiting so that the daemon is restarted"
        )),
        None => Ok(()),
    }
}

/// A zone or the queue may have changed: the web console's event stream
/// looks (a watch: it never blocks the loop, and many changes between two
/// looks are one).
fn changed(changes: &tokio::sync::watch::Sender<u64>) {
    changes.send_modify(|n| *n = n.wrapping_add(1));
}

/// Requests that only read: they change nothing the board shows.
fn read_only(request: &crate::control::protocol::Request) -> bool {
    use crate::control::protocol::Request;
    matches!(
        request,
        Request::Status
            | Request::Sites
            | Request::Alerts
            | Request::Queue
            | Request::Zones
            | Request::Schedule { .. }
            | Request::SayPreview { .. }
            | Request::Log { .. }
    )
}

/// How a control-plane task that should run until shutdown ended.
fn task_end(r: Result<(), tokio::task::JoinError>) -> &'static str {
    match r {
        Ok(()) => "it returned",
        Err(e) if e.is_panic() => "it panicked",
        Err(_) => "it was cancelled",
    }
}

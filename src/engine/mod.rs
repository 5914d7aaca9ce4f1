//! The engine: one OS thread that paces every zone.
//!
//! Every packet time (default 20 ms, against absolute monotonic deadlines,
//! see `clock.rs`) the engine thread takes the commands waiting for it, mixes
//! each zone's voices (`mixer.rs`) into the zone's buffer, and hands that
//! buffer to each of the zone's outputs. In steady state it does not allocate,
//! lock or do I/O besides the outputs' UDP sends:
//!
//! - commands arrive through a lock-free ring ([`Command`]); what they carry
//!   (zones, voices) was built and allocated by the control plane;
//! - what the engine lets go of (ended voices, removed zones) goes back through
//!   another ring to be dropped off the engine thread;
//! - what happened ([`Event`]) goes out through a third ring.
//!
//! Zones are independent: an output whose sends fail counts the error and
//! the zone keeps its clock; no other zone notices.

pub mod clock;
pub mod mixer;
pub mod voice;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};

use crate::output::{Output, Tick};
use crate::ring::Doorbell;
pub use clock::Pacer;
pub use mixer::{Ramps, ZoneMixer};
pub use voice::{EndReason, JobId, Voice, VoiceInput, VoiceSpec, Yield};

pub use crate::ring::ZoneId;

/// Most zones one engine runs.
pub const MAX_ZONES: usize = 4096;

/// A zone as the engine runs it: its mixer, its outputs and its buffer.
pub struct ZoneRuntime {
    pub id: ZoneId,
    pub mixer: ZoneMixer,
    pub outputs: Vec<Box<dyn Output>>,
    buf: Vec<f32>,
}

impl ZoneRuntime {
    /// A zone producing `frames_per_packet` frames per packet.
    pub fn new(
        id: ZoneId,
        mixer: ZoneMixer,
        outputs: Vec<Box<dyn Output>>,
        frames_per_packet: usize,
    ) -> ZoneRuntime {
        let buf = vec![0.0; frames_per_packet * mixer.channels()];
        ZoneRuntime {
            id,
            mixer,
            outputs,
            buf,
        }
    }
}

/// What the control plane asks of the engine thread.
pub enum Command {
    AddZone(Box<ZoneRuntime>),
    /// Remove a zone: its voices end as interrupted and it is handed back.
    RemoveZone(ZoneId),
    AddVoice {
        zone: ZoneId,
        voice: Box<Voice>,
    },
    /// End `job` on `zone` (every zone when `None`).
    StopJob {
        job: JobId,
        zone: Option<ZoneId>,
        reason: EndReason,
    },
    /// End every voice of a zone.
    StopZone {
        zone: ZoneId,
        reason: EndReason,
    },
    /// Skip the rest of the item on air on a zone.
    Skip {
        zone: ZoneId,
    },
}

/// What happened on the engine thread. `at` is when it reaches the outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// Item `item` of `job` went on air on `zone`.
    ItemStarted {
        zone: ZoneId,
        job: JobId,
        item: u32,
        at: Instant,
    },
    Paused {
        zone: ZoneId,
        job: JobId,
        at: Instant,
    },
    Resumed {
        zone: ZoneId,
        job: JobId,
        at: Instant,
    },
    Ended {
        zone: ZoneId,
        job: JobId,
        reason: EndReason,
        at: Instant,
    },
    /// An operator skipped the rest of `item`.
    Skipped {
        zone: ZoneId,
        job: JobId,
        item: u32,
        at: Instant,
    },
    /// A voice could not be added (the zone is full or unknown); it was
    /// dropped.
    Rejected { zone: ZoneId, job: JobId },
}

impl Event {
    /// When it reaches the outputs (`None` for a rejected voice).
    pub fn at(&self) -> Option<Instant> {
        match *self {
            Event::ItemStarted { at, .. }
            | Event::Paused { at, .. }
            | Event::Resumed { at, .. }
            | Event::Ended { at, .. }
            | Event::Skipped { at, .. } => Some(at),
            Event::Rejected { .. } => None,
        }
    }
}

/// What the engine hands back to be dropped off its thread.
pub enum Retired {
    Voice(Box<Voice>),
    Zone(Box<ZoneRuntime>),
}

/// Engine-wide settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub packet_time: Duration,
}

/// Signs of life the engine thread leaves for the control plane (and the
/// systemd watchdog): updated every packet.
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// Packets produced since start.
    pub ticks: AtomicU64,
    /// Times the engine fell too far behind and re-anchored its clock.
    pub resyncs: AtomicU64,
    /// Times the pacer found the wall clock stepped and followed it.
    pub wall_steps: AtomicU64,
    /// Events lost because the event ring was full.
    pub events_dropped: AtomicU64,
    /// How long after its deadline each packet time's packets were all
    /// handed to the outputs: counts per bucket of [`LATENESS_BOUNDS`]
    /// (the last one: above them all), and the sum, in nanoseconds. Plain
    /// counters: the engine neither allocates nor locks to keep them.
    pub lateness: [AtomicU64; LATENESS_BOUNDS.len() + 1],
    pub lateness_sum_ns: AtomicU64,
}

/// Upper bounds of [`Heartbeat::lateness`]'s buckets, seconds: from well
/// inside a packet time to a whole stall.
pub const LATENESS_BOUNDS: [f64; 8] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];

impl Heartbeat {
    /// One packet time finished `late` after its deadline.
    fn record_lateness(&self, late: Duration) {
        let s = late.as_secs_f64();
        let bucket = LATENESS_BOUNDS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LATENESS_BOUNDS.len());
        self.lateness[bucket].fetch_add(1, Ordering::Relaxed);
        self.lateness_sum_ns.fetch_add(
            late.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }
}

const COMMAND_CAPACITY: usize = 1024;

/// How long [`Engine::shutdown`] waits for the engine thread (which also
/// finalizes the zones' WAV recordings as it drops them) before giving up on
/// it, so that a hung thread cannot keep the process from exiting.
pub const SHUTDOWN_JOIN_LIMIT: Duration = Duration::from_millis(1200);

/// Test hook, read once when the engine thread starts and only in debug
/// builds (tests run those): after this many milliseconds the engine thread
/// stops producing packets and ticking its heartbeat, as if it hung, while
/// still honouring shutdown. The end-to-end tests use it to check that the
/// systemd watchdog pings stop when the engine does. Release builds ignore it.
pub const TEST_FREEZE_ENV: &str = "CORONG_TEST_FREEZE_ENGINE_AFTER_MS";
const EVENT_CAPACITY: usize = 8192;
const RETIRED_CAPACITY: usize = 1024;

/// The control plane's handle on the engine thread. Dropping it stops the
/// thread after the packet in progress and joins it.
pub struct Engine {
    commands: Mutex<Producer<Command>>,
    stop: Arc<AtomicBool>,
    pub heartbeat: Arc<Heartbeat>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The engine's outbound side: events and retired objects. Poll it from one
/// thread of the control plane.
pub struct EngineOutbox {
    events: Consumer<Event>,
    retired: Consumer<Retired>,
    bell: Arc<Doorbell>,
}

impl EngineOutbox {
    /// Take the next event, dropping retired objects on the way.
    pub fn try_event(&mut self) -> Option<Event> {
        while let Ok(r) = self.retired.pop() {
            drop(r);
        }
        self.events.pop().ok()
    }

    /// Rung by the engine thread after a packet time in which it pushed an
    /// event or retired something: the outbox's reader sleeps on it.
    pub fn doorbell(&self) -> Arc<Doorbell> {
        self.bell.clone()
    }
}

impl Engine {
    /// Start the engine thread.
    pub fn start(config: EngineConfig) -> std::io::Result<(Engine, EngineOutbox)> {
        let (cmd_tx, cmd_rx) = RingBuffer::new(COMMAND_CAPACITY);
        let (ev_tx, ev_rx) = RingBuffer::new(EVENT_CAPACITY);
        let (ret_tx, ret_rx) = RingBuffer::new(RETIRED_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let heartbeat = Arc::new(Heartbeat::default());
        let bell = Arc::new(Doorbell::new());
        let mut state = EngineThread {
            bell: bell.clone(),
            commands: cmd_rx,
            events: ev_tx,
            retired: ret_tx,
            zones: Vec::with_capacity(MAX_ZONES),
            heartbeat: heartbeat.clone(),
        };
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("corong-engine".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| state.run(config, &thread_stop));
                if std::panic::catch_unwind(run).is_err() {
                    // The panic hook has logged it. An engine that is gone
                    // would leave every zone silent behind a running
                    // process: end it, so the service manager restarts it
                    // (the queue is on disk).
                    std::process::abort();
                }
            })?;
        Ok((
            Engine {
                commands: Mutex::new(cmd_tx),
                stop,
                heartbeat,
                thread: Mutex::new(Some(thread)),
            },
            EngineOutbox {
                events: ev_rx,
                retired: ret_rx,
                bell,
            },
        ))
    }

    /// Queue a command for the next packet. Fails (handing the command back)
    /// only when the command ring is full.
    pub fn send(&self, cmd: Command) -> Result<(), Command> {
        // A std Mutex, not a tokio one: it is held only for a push, never
        // across an await, and only the control plane takes it.
        let mut tx = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        tx.push(cmd).map_err(|rtrb::PushError::Full(c)| c)
    }

    /// [`Engine::send`], waiting up to `limit` for room when the ring is
    /// full: the engine takes every queued command each packet time, so a
    /// burst larger than the ring (two thousand zones added at start) waits
    /// a packet time, not forever. For the control plane's setup paths, not
    /// for requests.
    pub fn send_within(&self, mut cmd: Command, limit: Duration) -> Result<(), Command> {
        let end = Instant::now() + limit;
        loop {
            match self.send(cmd) {
                Ok(()) => return Ok(()),
                Err(back) if Instant::now() < end => {
                    cmd = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(back) => return Err(back),
            }
        }
    }

    /// Commands queued and not yet taken by the engine thread.
    pub fn commands_pending(&self) -> usize {
        let tx = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        COMMAND_CAPACITY - tx.slots()
    }

    /// Stop the engine after the packet in progress and wait for it, at most
    /// [`SHUTDOWN_JOIN_LIMIT`]: a thread that has not stopped by then is
    /// left behind (and logged), so the process can still exit.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = handle {
            if !join_within(t, SHUTDOWN_JOIN_LIMIT) {
                tracing::error!(
                    "the engine thread did not stop within {} ms; exiting without it",
                    SHUTDOWN_JOIN_LIMIT.as_millis()
                );
            }
        }
    }

    /// Whether the engine thread is still running.
    pub fn is_running(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub use crate::ring::join_within;

/// When the test hook says the engine should freeze (debug builds only).
fn freeze_at() -> Option<Instant> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let ms: u64 = std::env::var(TEST_FREEZE_ENV).ok()?.trim().parse().ok()?;
    Some(Instant::now() + Duration::from_millis(ms))
}

struct EngineThread {
    commands: Consumer<Command>,
    events: Producer<Event>,
    retired: Producer<Retired>,
    // Boxed for the same reason as the mixer's voices: they leave through
    // the retire ring, and re-boxing would allocate on this thread.
    #[allow(clippy::vec_box)]
    zones: Vec<Box<ZoneRuntime>>,
    heartbeat: Arc<Heartbeat>,
    /// Wakes the outbox's reader (see [`EngineThread::tell_outbox`]).
    bell: Arc<Doorbell>,
}

impl EngineThread {
    fn run(&mut self, config: EngineConfig, stop: &AtomicBool) {
        Pacer::tighten_timer_slack();
        let sched = Pacer::request_realtime();
        // Logging allocates: once, before the first packet.
        tracing::info!("engine thread running with {sched}");
        let mut pacer = Pacer::new(config.packet_time);
        let freeze = freeze_at();
        while !stop.load(Ordering::Acquire) {
            if freeze.is_some_and(|t| Instant::now() >= t) {
                // Test hook (see TEST_FREEZE_ENV): no packets, no heartbeat.
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            let tick = pacer.wait_next();
            self.apply_commands(&tick);
            self.produce(&tick);
            self.heartbeat
                .record_lateness(Instant::now().saturating_duration_since(tick.deadline));
            self.tell_outbox();
            self.heartbeat
                .ticks
                .store(tick.index + 1, Ordering::Release);
            self.heartbeat
                .resyncs
                .store(pacer.resyncs, Ordering::Relaxed);
            self.heartbeat
                .wall_steps
                .store(pacer.wall_steps, Ordering::Relaxed);
        }
        // Shutting down: every voice still on a zone was interrupted.
        let at = Instant::now();
        for z in &mut self.zones {
            for v in z.mixer.voices() {
                let _ = self.events.push(Event::Ended {
                    zone: z.id,
                    job: v.spec.job,
                    reason: EndReason::Interrupted,
                    at,
                });
            }
        }
        self.tell_outbox();
    }

    /// Wake the outbox's reader when there is something in the outbox. The
    /// reader sleeps rather than polling (a daemon with nothing to do
    /// should cost nothing); the doorbell makes a syscall only when it is
    /// asleep, so in steady state (nothing pushed, or a reader already
    /// awake) this is an atomic load or two, and the engine stays free of
    /// syscalls besides its outputs' sends.
    fn tell_outbox(&self) {
        if self.events.slots() < EVENT_CAPACITY || self.retired.slots() < RETIRED_CAPACITY {
            self.bell.ring();
        }
    }

    fn emit(events: &mut Producer<Event>, heartbeat: &Heartbeat, e: Event) {
        if events.push(e).is_err() {
            heartbeat.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn retire(&mut self, r: Retired) {
        // When the control plane has stopped collecting, dropping here is
        // the lesser evil: the ring only fills if nobody drains it.
        if let Err(rtrb::PushError::Full(r)) = self.retired.push(r) {
            drop(r);
        }
    }

    fn apply_commands(&mut self, tick: &Tick) {
        // Bounded per packet so a flood of commands cannot stall the audio.
        for _ in 0..64 {
            let Ok(cmd) = self.commands.pop() else { break };
            match cmd {
                Command::AddZone(z) => {
                    if self.zones.len() < self.zones.capacity() {
                        self.zones.push(z);
                    } else {
                        self.retire(Retired::Zone(z));
                    }
                }
                Command::RemoveZone(id) => {
                    if let Some(pos) = self.zones.iter().position(|z| z.id == id) {
                        let z = self.zones.remove(pos);
                        for v in z.mixer.voices() {
                            Self::emit(
                                &mut self.events,
                                &self.heartbeat,
                                Event::Ended {
                                    zone: id,
                                    job: v.spec.job,
                                    reason: EndReason::Interrupted,
                                    at: tick.deadline,
                                },
                            );
                        }
                        self.retire(Retired::Zone(z));
                    }
                }
                Command::AddVoice { zone, voice } => {
                    let job = voice.spec.job;
                    let rejected = match self.zones.iter_mut().find(|z| z.id == zone) {
                        Some(z) => z.mixer.add(voice).err(),
                        None => Some(voice),
                    };
                    if let Some(v) = rejected {
                        Self::emit(
                            &mut self.events,
                            &self.heartbeat,
                            Event::Rejected { zone, job },
                        );
                        self.retire(Retired::Voice(v));
                    }
                }
                Command::StopJob { job, zone, reason } => {
                    for z in self.zones.iter_mut() {
                        if zone.is_none_or(|id| id == z.id) {
                            z.mixer.stop(Some(job), reason);
                        }
                    }
                }
                Command::StopZone { zone, reason } => {
                    if let Some(z) = self.zones.iter_mut().find(|z| z.id == zone) {
                        z.mixer.stop(None, reason);
                    }
                }
                Command::Skip { zone } => {
                    if let Some(z) = self.zones.iter_mut().find(|z| z.id == zone) {
                        if let Some((job, item)) = z.mixer.skip() {
                            Self::emit(
                                &mut self.events,
                                &self.heartbeat,
                                Event::Skipped {
                                    zone,
                                    job,
                                    item,
                                    at: tick.deadline,
                                },
                            );
                        }
                    }
                }
            }
        }
    }

    fn produce(&mut self, tick: &Tick) {
        let events = &mut self.events;
        let heartbeat = &self.heartbeat;
        let retired = &mut self.retired;
        for z in self.zones.iter_mut() {
            let id = z.id;
            z.mixer.mix(
                id,
                &mut z.buf,
                tick,
                &mut |e| Self::emit(events, heartbeat, e),
                &mut |v| {
                    if let Err(rtrb::PushError::Full(r)) = retired.push(Retired::Voice(v)) {
                        drop(r);
                    }
                },
            );
            for out in z.outputs.iter_mut() {
                out.write(&z.buf, tick);
            }
        }
    }
}

//! The thread that fills a live page's voices from the client's
//! connection, as the audio comes.
//!
//! A plain OS thread (never a tokio task) per page: it waits on the socket
//! with `poll`, reads the frames (`control/live.rs`), converts them to each
//! group of like zones' rate and channels once, and pushes the same chunks
//! into every zone's ring of the group. With a pre-chime, the chime goes
//! first and the speech is held back behind it, time-shifted: the listener
//! hears every word. The engine conceals a short gap (it fades out, waits,
//! fades back in); no input for the page's `gap` ends it, as do the
//! client's end frame, its connection closing (it died), `max_s` (faded
//! out), and every voice of the page ending (an operator's stop, an
//! emergency).
//!
//! Chunks come from a pool this thread keeps: it holds a reference to
//! every chunk it pushed until the engine's ends are gone, so the engine
//! never frees one (see `ring/audio.rs`).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::control::live::{Frame, FrameReader};
use crate::control::protocol::{JobState, Progress, Response};
use crate::control::server::LiveSocket;
use crate::engine::voice::{Chunk, Marker, VoiceInput, CHUNK_FRAMES};
use crate::engine::ZoneId;
use crate::ids::JobId;
use crate::media::prefetch::FeedEvent;

use super::page_margin::Margin;

/// The fade at `max_s`, and the tail that takes the last sample to zero
/// when the input just stops.
const FADE_OUT: Duration = Duration::from_millis(50);
const TAIL: Duration = Duration::from_millis(10);

/// Longest pre-chime played (a longer file is cut).
const MAX_CHIME: Duration = Duration::from_secs(10);

/// Voices of one rate and channel count, given to the page's feed.
pub struct LiveGroup {
    pub rate: u32,
    pub channels: u16,
    /// Played first, then the speech.
    pub chime: Option<PathBuf>,
    pub inputs: Vec<(ZoneId, VoiceInput)>,
}

/// What a live page's thread needs.
pub struct FeedPlan {
    pub job: JobId,
    /// The client's samples a second (mono).
    pub rate: u32,
    pub max_s: u32,
    /// No input for this long ends the page.
    pub gap: Duration,
    /// The engine's packet time.
    pub packet: Duration,
    pub socket: LiveSocket,
    pub reply: mpsc::Sender<Response>,
    pub inputs: std_mpsc::Receiver<LiveGroup>,
    pub events: std_mpsc::Sender<FeedEvent>,
}

/// Start the page's thread.
pub fn spawn(plan: FeedPlan) -> io::Result<()> {
    std::thread::Builder::new()
        .name("corong-page".into())
        .spawn(move || run(plan))
        .map(|_| ())
}

/// One zone's ring and what waits to go into it.
struct Out {
    input: VoiceInput,
    pending: VecDeque<Arc<Chunk>>,
}

/// A group of like zones: one conversion, shared chunks.
struct Group {
    /// The zones' rate.
    rate: u32,
    channels: usize,
    resampler: Linear,
    outs: Vec<Out>,
    pool: Vec<Arc<Chunk>>,
    /// The speech waits until `margin.prime_frames` are held (a packet
    /// and a margin), then flows as it comes.
    margin: Margin,
    held: usize,
    primed: bool,
    /// Underruns the engine counted so far (all zones).
    underruns: u64,
    /// The last mono sample sent, for the tail at the end.
    last: f32,
    scratch: Vec<f32>,
    interleaved: Vec<f32>,
}

impl Group {
    fn new(plan: &FeedPlan, g: LiveGroup) -> Group {
        Group::build(plan.job, plan.rate, plan.packet, &plan.events, g)
    }

    /// A group for page `job` whose client sends `rate` samples a second,
    /// played by an engine of `packet` packets.
    fn build(
        job: JobId,
        rate: u32,
        packet: Duration,
        events: &std_mpsc::Sender<FeedEvent>,
        g: LiveGroup,
    ) -> Group {
        let mut group = Group {
            rate: g.rate,
            channels: g.channels.max(1) as usize,
            resampler: Linear::new(rate, g.rate),
            outs: Vec::new(),
            pool: Vec::new(),
            margin: Margin::new(g.rate, packet),
            held: 0,
            primed: false,
            underruns: 0,
            last: 0.0,
            scratch: Vec::with_capacity(CHUNK_FRAMES),
            interleaved: Vec::with_capacity(CHUNK_FRAMES * 2),
        };
        let chime = g
            .chime
            .as_deref()
            .and_then(|p| match decode_chime(p, g.rate, g.channels) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(job = %job, file = %p.display(), "live page without its chime: {e}");
                    None
                }
            });
        let mut chunks = Vec::new();
        let mut chime_frames = 0u64;
        if let Some(samples) = &chime {
            for piece in samples.chunks(CHUNK_FRAMES * group.channels) {
                chunks.push(group.chunk(piece));
                chime_frames += (piece.len() / group.channels) as u64;
            }
            // The chime gives the speech its lead, and it stays.
            group.primed = true;
            group.margin.keep_lead(chime_frames as usize);
        }
        for (zone, mut input) in g.inputs {
            let mut item = 0;
            if let Some(path) = g.chime.as_ref().filter(|_| chime.is_some()) {
                let _ = input.markers.push(Marker { item, at_frame: 0 });
                let _ = events.send(FeedEvent::ItemOpened {
                    zone,
                    job,
                    item,
                    path: path.clone(),
                });
                item += 1;
            }
            let _ = input.markers.push(Marker {
                item,
                at_frame: chime_frames,
            });
            let _ = events.send(FeedEvent::ItemOpened {
                zone,
                job,
                item,
                path: PathBuf::from("(live)"),
            });
            group.outs.push(Out {
                input,
                pending: chunks.iter().cloned().collect(),
            });
        }
        group
    }

    /// A chunk holding `samples`, from the pool when one is free.
    fn chunk(&mut self, samples: &[f32]) -> Arc<Chunk> {
        for c in &mut self.pool {
            if let Some(m) = Arc::get_mut(c) {
                if m.room() + m.len() >= samples.len() {
                    m.clear();
                    m.extend(samples);
                    return c.clone();
                }
            }
        }
        let mut c = Chunk::with_capacity(samples.len().max(CHUNK_FRAMES * self.channels));
        c.extend(samples);
        let c = Arc::new(c);
        self.pool.push(c.clone());
        c
    }

    /// Mono samples of the client's: converted and queued for every zone.
    fn add(&mut self, mono: &[f32]) {
        self.scratch.clear();
        self.resampler.push(mono, &mut self.scratch);
        // What a hiccup added to the speech's lead is dropped again, a
        // little at a time, once the input is steady.
        let held = self.outs.first().map_or(0, |o| {
            let read = o.input.shared.frames_read.load(Ordering::Acquire);
            let in_ring = o.input.frames_pushed().saturating_sub(read) as usize;
            in_ring + o.pending.iter().map(|c| c.len()).sum::<usize>() / self.channels
        });
        self.margin.arrived(held, &mut self.scratch);
        if let Some(l) = self.scratch.last() {
            self.last = *l;
        }
        self.queue_scratch();
    }

    /// Queue what is in `scratch` (mono) for every zone.
    fn queue_scratch(&mut self) {
        let ch = self.channels;
        let scratch = std::mem::take(&mut self.scratch);
        for piece in scratch.chunks(CHUNK_FRAMES) {
            self.interleaved.clear();
            self.interleaved
                .extend(piece.iter().flat_map(|s| std::iter::repeat_n(*s, ch)));
            let interleaved = std::mem::take(&mut self.interleaved);
            let c = self.chunk(&interleaved);
            self.interleaved = interleaved;
            for o in self.outs.iter_mut().filter(|o| !o.input.stop_requested()) {
                o.pending.push_back(c.clone());
            }
            self.held += piece.len();
        }
        self.scratch = scratch;
    }

    /// The last sample taken smoothly to zero (no click when the input
    /// just stops).
    fn tail(&mut self, rate: u32) {
        let n = ((rate as f64 * TAIL.as_secs_f64()) as usize).max(1);
        let last = self.last;
        self.scratch.clear();
        self.scratch
            .extend((0..n).map(|i| last * (1.0 - (i + 1) as f32 / n as f32)));
        self.queue_scratch();
    }

    /// Push what the rings have room for.
    fn flush(&mut self) {
        let mut just_primed = false;
        if !self.primed {
            // After the input ran dry (or at the start), hold the speech
            // until a packet and a margin are here.
            if self.held < self.margin.prime_frames {
                return;
            }
            self.primed = true;
            just_primed = true;
        }
        let ch = self.channels;
        for o in &mut self.outs {
            if o.input.stop_requested() {
                o.pending.clear();
                continue;
            }
            while let Some(c) = o.pending.front() {
                let frames = c.len() / ch;
                if o.input.room_frames() < frames || o.input.chunk_slots() == 0 {
                    break;
                }
                let c = o.pending.pop_front().expect("front exists");
                if o.input.push(c).is_err() {
                    break; // cannot happen: a slot was free
                }
            }
        }
        if self.outs.iter().all(|o| o.pending.is_empty()) {
            self.held = 0;
        }
        // The engine found a ring short (the input came late): it waits,
        // silent, for a packet; give the speech more lead from now on and
        // hold it until that is here, as a jitter buffer grows.
        let underruns: u64 = self
            .outs
            .iter()
            .map(|o| o.input.shared.underrun_frames.load(Ordering::Relaxed))
            .sum();
        if just_primed {
            // The engine counted the packets it waited for the lead: one
            // underrun, already answered.
            self.underruns = underruns;
        } else if underruns > self.underruns {
            self.underruns = underruns;
            self.margin.underrun();
            self.primed = false;
            tracing::debug!(
                lead_ms = self.margin.prime_frames as f64 * 1000.0 / self.rate as f64,
                "live page: the input came late; the speech leads by more"
            );
        }
    }

    fn pending(&self) -> bool {
        self.outs.iter().any(|o| !o.pending.is_empty())
    }

    fn stopped(&self) -> bool {
        self.outs.iter().all(|o| o.input.stop_requested())
    }

    fn dropped(&self) -> bool {
        self.outs
            .iter()
            .all(|o| o.input.shared.dropped.load(Ordering::Acquire))
    }
}

/// Linear interpolation between rates, streaming (no delay: a live page
/// cannot wait for a filter's block).
struct Linear {
    step: f64,
    /// Where the next output falls, in input samples; 0 is `prev`.
    t: f64,
    prev: f32,
}

impl Linear {
    fn new(from: u32, to: u32) -> Linear {
        Linear {
            step: from as f64 / to.max(1) as f64,
            t: 1.0,
            prev: 0.0,
        }
    }

    fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.step == 1.0 {
            out.extend_from_slice(input);
            return;
        }
        let n = input.len();
        if n == 0 {
            return;
        }
        let at = |i: usize| if i == 0 { self.prev } else { input[i - 1] };
        while self.t <= n as f64 {
            let i = self.t.floor() as usize;
            let f = (self.t - i as f64) as f32;
            let a = at(i);
            let b = if i < n { at(i + 1) } else { a };
            out.push(a + (b - a) * f);
            self.t += self.step;
        }
        self.t -= n as f64;
        self.prev = input[n - 1];
    }
}

/// The chime, decoded for a group.
fn decode_chime(path: &std::path::Path, rate: u32, channels: u16) -> Result<Vec<f32>, String> {
    let mut d = crate::media::Decoder::open(path, rate, channels).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let max = (rate as f64 * MAX_CHIME.as_secs_f64()) as usize;
    while out.len() / (channels.max(1) as usize) < max {
        match d.read(&mut out, CHUNK_FRAMES) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(out)
}

/// Why a page ended, for the log and the client.
fn say(plan: &FeedPlan, why: &str) {
    tracing::info!(job = %plan.job, "live page ends: {why}");
    let _ = plan.reply.try_send(Response::Progress(Progress {
        id: plan.job,
        zones_done: 0,
        zones_total: 0,
        state: JobState::Playing,
        reason: Some(format!("ending: {why}")),
    }));
}

/// Real-time scheduling for the page's thread, below the engine's
/// (`SCHED_FIFO` 20): on a busy machine a normal thread woken by the
/// speaker's frame can wait tens of milliseconds for a core, and the
/// engine then finds the ring short. Best effort, as for the engine.
fn request_realtime() -> &'static str {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param
    // that outlives the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        return "SCHED_FIFO priority 10";
    }
    // SAFETY: setpriority on the calling thread (who 0); no memory.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) } == 0 {
        return "nice -10";
    }
    "normal scheduling"
}

fn run(mut plan: FeedPlan) {
    let sched = request_realtime();
    tracing::debug!(job = %plan.job, "live page thread running with {sched}");
    let mut groups: Vec<Group> = Vec::new();
    let mut reader = FrameReader::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut early = std::mem::take(&mut plan.socket.early);
    let mut mono: Vec<f32> = Vec::with_capacity(crate::control::live::MAX_FRAME_SAMPLES);
    let limit = u64::from(plan.max_s) * u64::from(plan.rate);
    let fade = (plan.rate as f64 * FADE_OUT.as_secs_f64()) as u64;
    let mut received = 0u64;
    let mut last_input = Instant::now();
    let fd = plan.socket.stream.as_raw_fd();
    let mut faded = false;
    // Audio read before the page's voices came (they are given as the
    // client starts sending).
    let mut before: Vec<f32> = Vec::new();
    let why: String = 'read: loop {
        while let Ok(g) = plan.inputs.try_recv() {
            let mut g = Group::new(&plan, g);
            // What came before the voices existed is not lost.
            g.add(&before);
            groups.push(g);
        }
        if !groups.is_empty() && !before.is_empty() {
            before = Vec::new();
        }
        if !groups.is_empty() && groups.iter().all(Group::stopped) {
            break 'read "its voices ended (stopped or preempted)".into();
        }
        for g in &mut groups {
            g.flush();
        }
        let n = if early.is_empty() {
            let wait = if groups.iter().any(Group::pending) {
                5
            } else {
                20
            };
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the socket this thread owns.
            unsafe { libc::poll(&mut pfd, 1, wait) };
            match (&plan.socket.stream).read(&mut buf) {
                Ok(0) => break 'read "the client went away".into(),
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    if last_input.elapsed() >= plan.gap {
                        break 'read format!("no input for {:.1} s", plan.gap.as_secs_f64());
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    break 'read "the client went away (connection reset)".into()
                }
                Err(e) => break 'read format!("reading the client: {e}"),
            }
        } else {
            let n = early.len().min(buf.len());
            buf[..n].copy_from_slice(&early[..n]);
            early.drain(..n);
            n
        };
        last_input = Instant::now();
        let mut bytes = &buf[..n];
        while !bytes.is_empty() {
            let (used, frame) = match reader.feed(bytes) {
                Ok(r) => r,
                Err(e) => break 'read format!("bad input: {e}"),
            };
            bytes = &bytes[used..];
            match frame {
                None => {}
                Some(Frame::End) => break 'read "the speaker ended it".into(),
                Some(Frame::Samples(_)) => {
                    mono.clear();
                    for &s in reader.samples() {
                        if received >= limit {
                            break;
                        }
                        // The last FADE_OUT before max_s fades out.
                        let g = ((limit - received) as f32 / fade.max(1) as f32).min(1.0);
                        mono.push(s as f32 / 32768.0 * g);
                        received += 1;
                    }
                    if groups.is_empty() {
                        before.extend_from_slice(&mono);
                    }
                    for g in &mut groups {
                        g.add(&mono);
                    }
                    if received >= limit {
                        faded = true;
                        break 'read format!("--max-s {} reached", plan.max_s);
                    }
                }
            }
        }
    };
    say(&plan, &why);
    if !faded {
        for g in &mut groups {
            g.tail(plan.rate);
        }
    }
    // What is held back (behind a chime, or a full ring) still plays.
    let hold_until = Instant::now() + Duration::from_secs(u64::from(plan.max_s) + 15);
    loop {
        for g in &mut groups {
            g.primed = true;
            g.flush();
        }
        if !groups.iter().any(Group::pending) || Instant::now() >= hold_until {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for g in &groups {
        for o in &g.outs {
            o.input.finish();
        }
    }
    // Keep the chunks until the engine's ends are gone (it must never free
    // one); a voice the engine never dropped is leaked rather than freed
    // under it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !groups.iter().all(Group::dropped) {
        if Instant::now() >= deadline {
            tracing::warn!(job = %plan.job, "live page voices still held by the engine; their buffers are kept");
            std::mem::forget(groups);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's side, as the mixer takes a live voice: a packet when
    /// the ring holds one, else silence and an underrun.
    struct Engine {
        out: crate::ring::RingOutput,
        offset: usize,
        read: u64,
    }

    impl Engine {
        fn tick(&mut self, frames: usize, played: &mut Vec<f32>) -> bool {
            let shared = &self.out.shared;
            let pushed = shared.frames_pushed.load(Ordering::Acquire);
            if pushed - self.read < frames as u64 {
                shared
                    .underrun_frames
                    .fetch_add(frames as u64, Ordering::Relaxed);
                played.extend(std::iter::repeat_n(0.0, frames));
                return false;
            }
            let mut need = frames;
            while need > 0 {
                let c = self.out.chunks.peek().expect("a chunk is there");
                let take = (c.len() - self.offset).min(need);
                played.extend_from_slice(&c.samples()[self.offset..self.offset + take]);
                self.offset += take;
                need -= take;
                if self.offset == c.len() {
                    let _ = self.out.chunks.pop();
                    self.offset = 0;
                }
            }
            self.read += frames as u64;
            shared.frames_read.store(self.read, Ordering::Release);
            true
        }
    }

    #[test]
    fn the_lead_a_late_input_added_comes_back_without_a_click() {
        const RATE: u32 = 48_000;
        const PIECE: usize = 240; // 5 ms, as the client sends
        const PACKET: usize = 960; // 20 ms
        let (events, _seen) = std_mpsc::channel();
        let (out, input) = crate::ring::ring(1, RATE as usize * 2);
        let mut group = Group::build(
            JobId(1),
            RATE,
            Duration::from_millis(20),
            &events,
            LiveGroup {
                rate: RATE,
                channels: 1,
                chime: None,
                inputs: vec![(ZoneId(0), input)],
            },
        );
        let floor = group.margin.prime_frames;
        let mut engine = Engine {
            out,
            offset: 0,
            read: 0,
        };
        // A 440 Hz tone, never quiet: only flat spots may lose samples.
        let tone = |i: usize| {
            let cycles = (i as f64 * 440.0 / f64::from(RATE)).fract();
            (0.5 * (cycles * std::f64::consts::TAU).sin()) as f32
        };
        let own_step = (0..RATE as usize)
            .map(|i| (tone(i + 1) - tone(i)).abs())
            .fold(0.0, f32::max);
        // Pieces due every 5 ms; for the first 3 s the sender stalls for
        // 40 to 70 ms every half second, then sends what it held at once;
        // then it is on time for 60 s (sound loses at most a sample in
        // 500: the lead comes back slowly).
        let pieces = 63_000 / 5;
        let mut arrive = Vec::with_capacity(pieces);
        let mut seed = 7u32;
        let mut stall_end = 0;
        for i in 0..pieces {
            let due = i * 5;
            if due < 3_000 && due % 500 == 250 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                stall_end = due + 40 + (seed >> 16) as usize % 31;
            }
            arrive.push(due.max(stall_end));
        }
        let mut played = Vec::new();
        let mut next = 0;
        let mut most_added = 0;
        let mut last_silent_tick = 0;
        let mut lead_after_tick = Vec::new();
        let mut piece = Vec::with_capacity(PIECE);
        for ms in 0..63_000 {
            while next < pieces && arrive[next] <= ms {
                piece.clear();
                piece.extend((next * PIECE..(next + 1) * PIECE).map(tone));
                group.add(&piece);
                next += 1;
            }
            group.flush();
            most_added = most_added.max(group.margin.added());
            if ms % 20 == 19 {
                if !engine.tick(PACKET, &mut played) {
                    last_silent_tick = ms;
                }
                let pushed = engine.out.shared.frames_pushed.load(Ordering::Acquire);
                lead_after_tick.push(pushed - engine.read);
            }
        }
        assert!(
            most_added >= 2 * 480,
            "the late input never grew the lead: {most_added}"
        );
        assert!(
            last_silent_tick < 4_000,
            "still starving at {last_silent_tick} ms"
        );
        // The lead is back at its floor: the margin, and what the ring
        // holds just after the engine took a packet (a margin and a piece).
        assert_eq!(group.margin.prime_frames, floor);
        let last_second = &lead_after_tick[lead_after_tick.len() - 50..];
        assert!(
            last_second.iter().all(|&l| l <= (480 + PIECE) as u64),
            "still held after a packet: {last_second:?}"
        );
        // Only flat spots were dropped: from the first packet after the
        // last silent one the wave never steps further than the tone does.
        let from = (last_silent_tick / 20 + 1) * PACKET;
        let worst = played[from..]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(
            worst <= own_step * 1.001,
            "a step of {worst} (the tone's own: {own_step})"
        );
        // Nothing but the dropped samples is lost.
        let held = group.outs[0].pending.iter().map(|c| c.len()).sum::<usize>() as u64
            + engine.out.shared.frames_pushed.load(Ordering::Acquire)
            - engine.read;
        assert!(group.margin.dropped > 0);
        assert_eq!(
            engine.read + held + group.margin.dropped,
            (pieces * PIECE) as u64,
            "frames lost"
        );
    }

    #[test]
    fn linear_keeps_the_rate_ratio_across_pieces() {
        let input: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.01).sin()).collect();
        let mut r = Linear::new(16_000, 8_000);
        let mut out = Vec::new();
        for piece in input.chunks(333) {
            r.push(piece, &mut out);
        }
        assert!((out.len() as i64 - 8_000).abs() <= 1, "{}", out.len());
        assert!((out[100] - input[200]).abs() < 1e-6);
        let mut r = Linear::new(8_000, 48_000);
        let mut up = Vec::new();
        for piece in out.chunks(160) {
            r.push(piece, &mut up);
        }
        assert!((up.len() as i64 - 48_000).abs() <= 6, "{}", up.len());
    }
}

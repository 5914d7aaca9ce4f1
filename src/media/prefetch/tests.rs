//! Tests of feeds: fan-out, detaching, skips, damage, chunk lifetimes.

use std::path::Path;
use std::sync::mpsc::{self, Receiver};

use super::*;
use crate::engine::voice::{self, Voice, VoiceSpec, Yield};
use crate::priority::Priority;
use crate::ring::Marker;

const RATE: u32 = 8000;

/// A mono WAV of `seconds` of noise-like samples that differ from
/// frame to frame (so an offset shows).
fn wav(dir: &Path, name: &str, seconds: f32, seed: u32) -> PathBuf {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let samples: Vec<f32> = (0..(seconds * RATE as f32) as usize)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 20_000) as f32 / 40_000.0 + 0.1
        })
        .collect();
    let path = dir.join(name);
    crate::media::tone::write_wav(&path, &samples, RATE, 1).unwrap();
    path
}

/// `n` voices of `capacity` frames and their producer ends, zones 0..n.
fn voices(n: u32, capacity: usize) -> (Vec<Voice>, Vec<(ZoneId, VoiceInput)>) {
    let spec = VoiceSpec {
        job: JobId(7),
        priority: Priority(50),
        yields: Yield::Pause,
    };
    (0..n)
        .map(|zone| {
            let (v, input) = voice::voice(spec, 1, capacity);
            (v, (ZoneId(zone), input))
        })
        .unzip()
}

fn feed(outputs: Vec<(ZoneId, VoiceInput)>, files: &[PathBuf]) -> (Feed, Receiver<FeedEvent>) {
    let (tx, rx) = mpsc::channel();
    let feed = Feed::new(
        JobId(7),
        outputs,
        files.to_vec(),
        Order::default(),
        RATE,
        DecodeOptions::default(),
        tx,
    );
    (feed, rx)
}

/// What one zone alone gets from `files`.
fn reference(files: &[PathBuf]) -> Vec<f32> {
    let (mut v, outputs) = voices(1, RATE as usize * 60);
    let (mut f, _rx) = feed(outputs, files);
    while !f.fill().1 {}
    v[0].read_frames(usize::MAX, 1)
}

/// Fill a feed and its fork to their ends, reading voice 0 into `a`
/// and voice 1 into `b` as they go.
fn drain_both(f: &mut Feed, fork: &mut Feed, vs: &mut [Voice], a: &mut Vec<f32>, b: &mut Vec<f32>) {
    let (mut done_f, mut done_fork) = (false, false);
    while !(done_f && done_fork) {
        done_f = done_f || f.fill().1;
        done_fork = done_fork || fork.fill().1;
        read_all(&mut vs[0], a);
        read_all(&mut vs[1], b);
    }
    read_all(&mut vs[0], a);
    read_all(&mut vs[1], b);
}

fn read_all(v: &mut Voice, into: &mut Vec<f32>) {
    into.extend(v.read_frames(usize::MAX, 1));
}

#[test]
fn one_decoder_fills_three_zones_with_the_same_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let file = wav(dir.path(), "a.wav", 3.0, 1);
    let (mut vs, outputs) = voices(3, RATE as usize * 10);
    let (mut f, rx) = feed(outputs, std::slice::from_ref(&file));
    while !f.fill().1 {}
    assert_eq!(f.opened, 1, "one decoder for the three zones");
    // The rings hold the same chunks, not copies.
    let front: Vec<&Arc<Chunk>> = vs.iter().map(|v| v.chunks.peek().unwrap()).collect();
    assert!(Arc::ptr_eq(front[0], front[1]) && Arc::ptr_eq(front[0], front[2]));
    let got: Vec<Vec<f32>> = vs
        .iter_mut()
        .map(|v| v.read_frames(usize::MAX, 1))
        .collect();
    assert_eq!(got[0].len(), 3 * RATE as usize);
    assert!(got[0] == got[1] && got[0] == got[2]);
    assert!(got[0] == reference(&[file]));
    let opened: Vec<ZoneId> = rx
        .try_iter()
        .filter_map(|e| match e {
            FeedEvent::ItemOpened { zone, item: 0, .. } => Some(zone),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [ZoneId(0), ZoneId(1), ZoneId(2)],
        "the as-run log hears of the item per zone"
    );
}

/// A zone that stops reading (paused under an announcement) while the
/// other plays on gets a decoder of its own, which goes on exactly
/// where its ring stopped: both zones get every sample, in order.
#[test]
fn a_zone_left_behind_is_detached_and_goes_on_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let file = wav(dir.path(), "a.wav", 6.0, 2);
    let (mut vs, outputs) = voices(2, CHUNK_FRAMES * 3);
    let (mut f, _rx) = feed(outputs, std::slice::from_ref(&file));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        f.fill();
        a.extend(vs[0].read_frames(1000, 1));
        b.extend(vs[1].read_frames(1000, 1));
    }
    assert!(f.forks.is_empty(), "in step: nobody is behind");
    // Zone 0 stops reading; zone 1 reads all it gets.
    let start = Instant::now();
    let mut seen_full = 0;
    let mut fork = loop {
        assert!(start.elapsed() < Duration::from_secs(5), "never detached");
        f.fill();
        read_all(&mut vs[1], &mut b);
        if let Some(fork) = f.forks.pop() {
            break fork;
        }
        seen_full += 1;
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        start.elapsed() >= DETACH_AFTER && seen_full > 1,
        "not on one look"
    );
    assert_eq!(f.outputs.len(), 1);
    assert_eq!(fork.outputs[0].zone, ZoneId(0));
    let (_, _, offset) = fork.resume.clone().expect("goes on mid-item");
    assert!(offset > 0 && offset == fork.published);
    fork.fill();
    assert_eq!(
        fork.discard, 0,
        "the fork seeked rather than decoding to drop"
    );
    drain_both(&mut f, &mut fork, &mut vs, &mut a, &mut b);
    assert_eq!(fork.opened, 1);
    let r = reference(&[file]);
    assert_eq!(a.len(), r.len());
    assert!(
        a == r,
        "the detached zone's samples differ from a decode of its own"
    );
    assert!(b == r);
    assert!(vs[0]
        .shared
        .producer_done
        .load(std::sync::atomic::Ordering::Acquire));
}

/// A file truncated while its feed decodes it ends where it was cut,
/// reported damaged (once per zone) with the reason; the next item
/// plays whole and is not.
#[test]
fn a_file_truncated_while_it_plays_is_reported_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let long = wav(dir.path(), "long.wav", 10.0, 1);
    let next = wav(dir.path(), "next.wav", 1.0, 2);
    let (mut vs, outputs) = voices(2, RATE as usize * 2);
    let (mut f, rx) = feed(outputs, &[long.clone(), next.clone()]);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    f.fill();
    std::fs::File::options()
        .write(true)
        .open(&long)
        .unwrap()
        .set_len(44 + 4 * RATE as u64 * 2)
        .unwrap();
    let mut done = false;
    while !done {
        done = f.fill().1;
        read_all(&mut vs[0], &mut a);
        read_all(&mut vs[1], &mut b);
    }
    read_all(&mut vs[0], &mut a);
    // At most what the stream had read ahead past the cut, then the
    // next item's second.
    assert!(a.len() < 6 * RATE as usize, "{} frames", a.len());
    let damaged: Vec<(ZoneId, u32, PathBuf, String)> = rx
        .try_iter()
        .filter_map(|e| match e {
            FeedEvent::ItemDamaged {
                zone,
                item,
                path,
                reason,
                ..
            } => Some((zone, item, path, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(damaged.len(), 2, "{damaged:?}");
    for (zone, (z, item, path, reason)) in damaged.iter().enumerate() {
        assert_eq!((*z, *item, path), (ZoneId(zone as u32), 0, &long));
        assert!(reason.contains("changed while it played"), "{reason}");
        assert!(reason.contains("cut short"), "{reason}");
    }
}

/// Every zone of the feed skips: the feed skips as it always did, on
/// its one decoder.
#[test]
fn a_skip_on_every_zone_skips_the_shared_feed() {
    let dir = tempfile::tempdir().unwrap();
    let first = wav(dir.path(), "a.wav", 4.0, 5);
    let second = wav(dir.path(), "b.wav", 1.0, 6);
    let files = [first, second.clone()];
    let (mut vs, outputs) = voices(2, CHUNK_FRAMES * 3);
    let (mut f, _rx) = feed(outputs, &files);
    f.fill();
    for v in &vs {
        v.shared
            .skip_to
            .store(1, std::sync::atomic::Ordering::Release);
    }
    let mut got = [Vec::new(), Vec::new()];
    while !f.fill().1 {
        for (v, g) in vs.iter_mut().zip(got.iter_mut()) {
            read_all(v, g);
        }
    }
    for (v, g) in vs.iter_mut().zip(got.iter_mut()) {
        read_all(v, g);
    }
    assert!(f.forks.is_empty());
    assert_eq!(f.opened, 2, "item 0, then item 1: one decoder each");
    assert!(got[0] == got[1]);
    // Item 1 starts where its marker says, from its start.
    let markers: Vec<Marker> = std::iter::from_fn(|| vs[0].markers.pop().ok()).collect();
    assert_eq!(markers.len(), 2);
    assert_eq!(markers[1].item, 1);
    let at = markers[1].at_frame as usize;
    assert!(got[0][at..] == reference(&[second])[..]);
}

/// A finished feed keeps its chunks until every voice it fed is gone:
/// the engine never holds the last reference.
#[test]
fn a_feed_keeps_its_chunks_until_its_voices_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let file = wav(dir.path(), "a.wav", 1.0, 7);
    let (mut vs, outputs) = voices(2, RATE as usize * 10);
    let (mut f, _rx) = feed(outputs, &[file]);
    while !f.fill().1 {}
    f.wind_down();
    let held: Vec<Arc<Chunk>> = f.pool.clone();
    assert!(!f.released());
    vs[0].read_frames(usize::MAX, 1);
    drop(vs.remove(0));
    assert!(!f.released(), "one voice still holds chunks");
    drop(vs);
    assert!(f.released());
    // Only the feed (and this test) hold them now.
    assert!(held.iter().all(|c| Arc::strong_count(c) == 2));
}

/// One zone of two skips the item: it goes on with the next item from
/// its start, on a decoder of its own; the other plays on.
#[test]
fn a_skip_on_one_zone_detaches_it_to_the_next_item() {
    let dir = tempfile::tempdir().unwrap();
    let first = wav(dir.path(), "a.wav", 4.0, 3);
    let second = wav(dir.path(), "b.wav", 1.0, 4);
    let files = [first.clone(), second.clone()];
    let (mut vs, outputs) = voices(2, CHUNK_FRAMES * 3);
    let (mut f, _rx) = feed(outputs, &files);
    f.fill();
    let (mut a, mut b) = (vs[0].read_frames(500, 1), vs[1].read_frames(500, 1));
    vs[0]
        .shared
        .skip_to
        .store(1, std::sync::atomic::Ordering::Release);
    f.fill();
    assert!(
        f.forks.is_empty(),
        "a skip settles before it splits the feed"
    );
    std::thread::sleep(SKIP_SETTLE + Duration::from_millis(5));
    f.fill();
    let mut fork = f.forks.pop().expect("the zone that skipped is detached");
    assert!(fork.resume.is_none());
    assert_eq!(fork.next_item, 1);
    let at = fork.published as usize;
    drain_both(&mut f, &mut fork, &mut vs, &mut a, &mut b);
    let whole = reference(&files);
    assert!(b == whole, "the other zone plays both items");
    assert!(a[..at] == whole[..at]);
    assert!(a[at..] == reference(&[second])[..], "item 1 from its start");
    let markers: Vec<Marker> = std::iter::from_fn(|| vs[0].markers.pop().ok()).collect();
    assert_eq!(
        markers,
        [
            Marker {
                item: 0,
                at_frame: 0
            },
            Marker {
                item: 1,
                at_frame: at as u64
            }
        ]
    );
}

/// A zone paused under a short announcement ten minutes into a long item,
/// while another zone of the same job plays on, gets a decoder of its own
/// (a fork, which seeks to where the zone is) and, when the announcement
/// is over, goes on exactly where it paused: every frame of the item, in
/// order, none twice, and no read comes up short. The test reads the two
/// rings as the engine would: ten minutes at once (to get there), then a
/// 20 ms packet every 20 ms on the clock, with the feed on a real worker
/// that sleeps until its rings have room.
#[test]
fn a_zone_paused_ten_minutes_into_an_item_resumes_exactly_where_it_paused() {
    let dir = tempfile::tempdir().unwrap();
    let long = wav(dir.path(), "speech.wav", 630.0, 11);
    let capacity = RATE as usize * 2 + CHUNK_FRAMES;
    let (mut vs, outputs) = voices(2, capacity);
    let (mut f, _rx) = feed(outputs, std::slice::from_ref(&long));
    let ten_minutes = 600 * RATE as usize;
    let mut got = [
        Vec::with_capacity(630 * RATE as usize),
        Vec::with_capacity(630 * RATE as usize),
    ];
    // Both zones in step up to ten minutes in.
    while got[0].len() < ten_minutes {
        f.fill();
        let n = vs[0]
            .frames_available()
            .min(vs[1].frames_available())
            .min(ten_minutes - got[0].len());
        for (v, g) in vs.iter_mut().zip(got.iter_mut()) {
            g.extend(v.read_frames(n, 1));
        }
    }
    assert!(f.forks.is_empty());
    let prefetcher = Prefetcher::start(1).unwrap();
    prefetcher.submit(f);
    // Then on the clock: zone 0 pauses at 0.5 s for a 1 s announcement.
    let packet = RATE as usize / 50;
    let start = Instant::now();
    let mut short = Vec::new();
    for n in 0..250u32 {
        // Pacing like the engine's clock: this is the consumer's timing,
        // not a wait for a condition.
        let deadline = start + Duration::from_millis(20) * n;
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        let paused = (25..75).contains(&n);
        for (zone, (v, g)) in vs.iter_mut().zip(got.iter_mut()).enumerate() {
            if zone == 0 && paused {
                continue;
            }
            let frames = v.read_frames(packet, 1);
            if frames.len() < packet {
                short.push((zone, n, frames.len()));
            }
            g.extend(frames);
        }
    }
    assert!(short.is_empty(), "reads came up short: {short:?}");
    // Every frame, in order, as a decode of the file alone has them (past
    // the item's 10 ms fade-in).
    let mut decoder = crate::media::Decoder::open(&long, RATE, 1).unwrap();
    let mut whole = Vec::new();
    while decoder.read(&mut whole, 1 << 16).unwrap() > 0 {}
    let ramp = (ITEM_RAMP.as_secs_f64() * RATE as f64) as usize;
    for (zone, g) in got.iter().enumerate() {
        assert!(g.len() > ten_minutes + 2 * RATE as usize, "zone {zone}");
        let first_wrong = (ramp..g.len()).find(|&i| g[i] != whole[i]);
        assert_eq!(first_wrong, None, "zone {zone} differs from the file");
    }
    assert_eq!(
        got[0].len() + 50 * packet,
        got[1].len(),
        "zone 0 is behind by the pause alone"
    );
    drop(prefetcher);
}

/// A worker with nothing to do sleeps for as long as its rings take to
/// drain to half full at the rate they are read (with 2 s buffered, about
/// a second); not at all once they have drained that far; and while one
/// voice is full and another not, until the full one is due to be split
/// off.
#[test]
fn a_full_ring_lets_its_worker_sleep_until_half_of_it_is_played() {
    let dir = tempfile::tempdir().unwrap();
    let file = wav(dir.path(), "a.wav", 30.0, 12);
    let capacity = RATE as usize * 3;
    let (mut vs, outputs) = voices(2, capacity);
    let (mut f, _rx) = feed(outputs, &[file]);
    while f.fill().0 {}
    let now = Instant::now();
    let idle = f.idle_for(now).as_secs_f64() * RATE as f64;
    let half = capacity as f64 / 2.0;
    assert!(
        // Full but for a decode step's room (the chunk being filled too).
        idle > half - 2.0 * CHUNK_FRAMES as f64 - 100.0 && idle <= half,
        "{idle} frames"
    );
    // Over half of it played on both zones: time to refill.
    for v in vs.iter_mut() {
        v.read_frames(capacity * 6 / 10, 1);
    }
    assert_eq!(f.idle_for(now), Duration::ZERO);
    while f.fill().0 {}
    vs[1].read_frames(capacity * 6 / 10, 1);
    assert!(!f.room(now), "zone 0 is full, zone 1 is not");
    assert_eq!(f.idle_for(now), DETACH_AFTER);
}

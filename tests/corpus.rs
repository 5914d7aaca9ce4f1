//! The corrupt-media corpus: hundreds of broken variants of small valid files
//! of every format, played in one playlist through a recorder zone beside a
//! valid tone, while another zone streams RTP. The daemon stays up, every
//! file is either played or reported once, the valid tone plays at its pitch
//! and length, and the other zone's stream has no gap.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::station::{cron_in, free_port_pair, Station};
use common::{count_near, ffmpeg_tone, frequency_track, read_wav_mono, require_peer};

/// A small deterministic generator (xorshift64*), so a failure names a
/// corpus that can be made again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn a_corrupt_media_corpus_never_takes_a_zone_down() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    let sources: [(&str, &[&str]); 5] = [
        ("mp3", &["-c:a", "libmp3lame", "-b:a", "64k"]),
        ("flac", &["-c:a", "flac"]),
        ("ogg", &["-c:a", "libvorbis"]),
        ("wav", &["-c:a", "pcm_s16le"]),
        ("m4a", &["-c:a", "aac", "-b:a", "64k"]),
    ];
    let mut rng = Rng(0x636f_726f_6e67);
    let mut corpus: Vec<String> = Vec::new();
    let mut write = |name: String, bytes: &[u8]| {
        std::fs::write(st.path(&format!("media/bad/{name}")), bytes).unwrap();
        corpus.push(format!("../media/bad/{name}"));
    };
    std::fs::create_dir_all(st.path("media/bad")).unwrap();
    for (ext, opts) in sources {
        let src = st.path(&format!("media/src.{ext}"));
        ffmpeg_tone(&src, 300.0, 0.1, 44_100, 1, opts);
        let good = std::fs::read(&src).unwrap();
        let len = good.len();
        // Truncated.
        for (i, frac) in [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
            .iter()
            .enumerate()
        {
            let cut = ((len as f64 * frac) as usize).max(1);
            write(format!("trunc{i}.{ext}"), &good[..cut]);
        }
        // Header only.
        for n in [4usize, 12, 44, 64, 128, 512] {
            write(format!("head{n}.{ext}"), &good[..n.min(len)]);
        }
        // Bit-flipped: 1 to 200 random bits.
        for i in 0..24 {
            let mut b = good.clone();
            let flips = [1, 4, 16, 64, 200][i % 5];
            for _ in 0..flips {
                let at = rng.below(len);
                b[at] ^= 1 << rng.below(8);
            }
            write(format!("flip{i}.{ext}"), &b);
        }
        // Zero-length, and garbage under this extension.
        write(format!("empty.{ext}"), &[]);
        for i in 0..4 {
            let n = 16 + rng.below(8000);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            write(format!("junk{i}.{ext}"), &junk);
        }
        // This format's bytes under every other extension.
        for other in ["mp3", "flac", "ogg", "wav", "m4a"] {
            if other != ext {
                write(format!("as-{other}-from-{ext}.{other}"), &good[..len / 2]);
            }
        }
    }
    let tried = corpus.len();
    ffmpeg_tone(&st.path("media/valid.flac"), 1000.0, 1.0, 48_000, 1, &[]);
    let mut playlist: Vec<&str> = corpus.iter().map(String::as_str).collect();
    playlist.push("../media/valid.flac");
    st.playlist("corpus", &playlist);

    let port = free_port_pair();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    st.config(&format!(
        "[[zones]]\nname = \"arsip\"\nwav = \"rec.wav\"\n\n\
         [[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"pcmu\"\n\n\
         [[schedules]]\nname = \"corpus\"\ncron = \"{}\"\nplaylist = \"corpus\"\nzones = [\"arsip\"]\n",
        cron_in(2)
    ));
    let mut d = st.start();
    let watcher = std::thread::spawn(move || common::watch_rtp_gaps(rtp, 120).1);
    d.wait_log(
        "ended zone=arsip job=1 how=completed",
        Duration::from_secs(90),
    );
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon is still running"
    );
    let log = d.log_text();
    assert!(d.stop().success());
    let gaps = watcher.join().unwrap();

    // From the job's start on: every warning or error names a corpus file
    // (symphonia's own lines, which name none, are off).
    let run: Vec<&str> = log
        .lines()
        .skip_while(|l| !l.contains("job started job=1"))
        .collect();
    let is_report = |l: &str| l.contains(" WARN ") || l.contains(" ERROR ");
    let unnamed: Vec<&str> = run
        .iter()
        .copied()
        .filter(|l| is_report(l) && !l.contains("/media/bad/"))
        .collect();
    assert!(
        unnamed.is_empty(),
        "reports that name no file: {unnamed:#?}"
    );

    // Each file: exactly one report naming it (`skipped: ...` or
    // `damaged: ...`); or, when the decoder found nothing wrong (a flipped
    // bit in MP3 audio data, a cut at a frame boundary), no report and
    // exactly one `on air` line.
    let (mut skipped, mut damaged, mut clean) = (0, 0, 0);
    for file in &corpus {
        let name = file.trim_start_matches("../media/bad/");
        // `flip1.mp3` must not match `flip1.mp3x`: the name ends a word
        // (`file=PATH` or `skipped: PATH: reason`).
        let tail = format!("/media/bad/{name}");
        let named = |l: &str| {
            l.split(' ')
                .any(|w| w.trim_end_matches(':').ends_with(&tail))
        };
        let reports: Vec<&str> = run
            .iter()
            .copied()
            .filter(|l| is_report(l) && named(l))
            .collect();
        let on_air = run
            .iter()
            .filter(|l| l.contains(" INFO on air ") && named(l))
            .count();
        match reports.len() {
            1 if reports[0].contains("skipped: ") => skipped += 1,
            1 if reports[0].contains("damaged: ") => damaged += 1,
            0 if on_air == 1 => clean += 1,
            n => panic!(
                "{name}: expected one report, or none and one `on air`; got {n} reports and {on_air} on air: {reports:#?}"
            ),
        }
    }
    let reported = skipped + damaged;
    eprintln!(
        "corpus: {tried} files tried; {skipped} skipped, {damaged} played damaged, {clean} played with nothing detected; daemon crashes 0; other zone's gaps {gaps}"
    );
    assert!(
        reported >= tried / 3,
        "most broken files are reported: {reported}"
    );
    assert_eq!(gaps, 0, "the other zone's stream had gaps");

    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    let track = frequency_track(&s, rate, 1920);
    let valid = count_near(&track, 1000.0, 0.03) as f64 / 25.0;
    assert!(
        (valid - 1.0).abs() <= 0.08,
        "the valid tone played {valid:.2} s"
    );
}

/// A decoder that panics mid-item (a test hook in debug builds, for files
/// named `*.panic-test.wav`): the panic is logged once, with the file, the
/// item is skipped, the playlist goes on, and every zone streams without a
/// gap.
/// (The hook exists in debug builds only, as `cargo test` builds them.)
#[cfg(debug_assertions)]
#[test]
fn a_panicking_decoder_is_contained() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/a.wav"), 500.0, 0.5, 48_000, 1, &[]);
    ffmpeg_tone(
        &st.path("media/boom.panic-test.wav"),
        700.0,
        2.0,
        48_000,
        1,
        &[],
    );
    ffmpeg_tone(&st.path("media/b.wav"), 1000.0, 0.5, 48_000, 1, &[]);
    st.playlist(
        "p",
        &[
            "../media/a.wav",
            "../media/boom.panic-test.wav",
            "../media/b.wav",
        ],
    );
    let port = free_port_pair();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    st.config(&format!(
        "[[zones]]\nname = \"arsip\"\nwav = \"rec.wav\"\n\n\
         [[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"p\"\nzones = [\"arsip\", \"alun-alun\"]\n",
        cron_in(2)
    ));
    let d = st.start();
    let watcher = std::thread::spawn(move || {
        let (count, gaps) = common::watch_rtp_gaps(rtp, 5);
        assert!(count > 200, "the zone streams: {count} packets");
        gaps
    });
    d.wait_log(
        "ended zone=arsip job=1 how=completed",
        Duration::from_secs(10),
    );
    let gaps = watcher.join().unwrap();
    let log = d.log_text();
    assert!(d.stop().success());
    assert_eq!(gaps, 0);
    // One line for the panic, naming the file, the message and the place:
    // the panic hook hands a decoder's panic over instead of logging it
    // apart (where it could not name the file).
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("panic") || l.contains("boom.panic-test.wav"))
        .filter(|l| !l.contains(" INFO on air "))
        .collect();
    // One line, naming the file, the message and the place: the item
    // skipped (once per job, for both zones). The loudness thread, which
    // decodes the file too, leaves the report to it; the panic hook hands
    // a decoder's panic over instead of logging it apart (where it could
    // not name the file).
    assert_eq!(lines.len(), 1, "logged once per job: {lines:#?}");
    assert!(lines[0].contains(" WARN skipped: "), "{lines:?}");
    assert!(
        lines[0].contains("file=") && lines[0].contains("boom.panic-test.wav"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains(
            "decoder panicked: test hook: the decoder panics on purpose at src/media/decode.rs:"
        ),
        "{lines:?}"
    );
    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    let track = frequency_track(&s, rate, 1920);
    assert!(
        count_near(&track, 500.0, 0.05) >= 10,
        "the item before played"
    );
    assert!(
        count_near(&track, 1000.0, 0.05) >= 10,
        "the item after played"
    );
}

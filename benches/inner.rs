//! Benchmarks of corong's inner parts, with divan: `cargo bench`.
//!
//! One module per part, each a group in divan's output:
//!
//! - `decode`: the daemon's own [`Decoder`](corong::media::Decoder) over a
//!   10 s file per format (made once per run with ffmpeg), to the engine
//!   format of the shipped config (48 kHz mono);
//! - `resample`: [`StreamResampler`](corong::media::resample::StreamResampler),
//!   44.1 and 96 kHz stereo to 48 kHz, one block of input per iteration;
//! - `loudness`: [`loudness::measure`](corong::media::loudness::measure) on a
//!   5 s WAV, and the ebur128 meter alone on the same samples;
//! - `payload`: one 20 ms packet to L16 bytes, and to PCMU (the 48 -> 8 kHz
//!   decimator, then G.711 for 160 samples);
//! - `mixer`: [`ZoneMixer::mix`](corong::engine::ZoneMixer::mix) for one 20 ms
//!   packet at 48 kHz, one voice playing, and one voice ducked under another.
//! - `alerts`: read the largest nowcast shape (150 polygons, 3,000 points)
//!   and match it against 500 zones (the target: under 5 ms).
//!
//! Throughput is in frames (or samples, for the mono payload stages) per
//! second. `cargo bench -- mixer` runs one group (the argument filters by
//! name). The parts share one file so that the bench profile's LTO links one
//! benchmark binary, not five.

use std::path::Path;

use divan::counter::ItemsCount;
use divan::{black_box, Bencher};

fn main() {
    divan::main();
    decode::remove_inputs();
}

/// Engine rate of the shipped config, Hz.
const ENGINE_RATE: u32 = 48_000;
/// Frames in one 20 ms packet at the engine rate.
const PACKET_FRAMES: usize = 960;

/// Music-like test signal: two tones and a little deterministic noise,
/// `frames` frames of `channels` interleaved channels at `rate` Hz.
fn signal(frames: usize, rate: u32, channels: usize) -> Vec<f32> {
    let mut noise_state = 0x2545_f491_u32;
    let mut out = Vec::with_capacity(frames * channels);
    for n in 0..frames {
        let t = n as f32 / rate as f32;
        let tones = 0.3 * (std::f32::consts::TAU * 440.0 * t).sin()
            + 0.2 * (std::f32::consts::TAU * 660.0 * t).sin();
        for _ in 0..channels {
            // xorshift32: the same noise every run.
            noise_state ^= noise_state << 13;
            noise_state ^= noise_state >> 17;
            noise_state ^= noise_state << 5;
            let noise = noise_state as f32 / u32::MAX as f32 - 0.5;
            out.push(tones + 0.1 * noise);
        }
    }
    out
}

mod decode {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::{Mutex, MutexGuard};

    use corong::media::Decoder;
    use tempfile::TempDir;

    use super::*;

    /// Length of each input file, seconds.
    const SECONDS: u32 = 10;
    /// Engine format: the shipped config's zones are mono.
    const OUT_CHANNELS: u16 = 1;
    /// Frames asked for per read: what a decoder worker asks for at a time
    /// (as in examples/decode_speed.rs).
    const CHUNK_FRAMES: usize = 4096;

    /// The inputs: a name for divan, the file's name, and ffmpeg's encoding
    /// arguments (those of bench/decode.sh).
    const FORMATS: [(&str, &str, &[&str]); 5] = [
        (
            "wav_16bit_44k1_stereo",
            "music.wav",
            &["-ar", "44100", "-c:a", "pcm_s16le"],
        ),
        (
            "flac_24bit_96k_stereo",
            "music.flac",
            &[
                "-c:a",
                "flac",
                "-sample_fmt",
                "s32",
                "-bits_per_raw_sample",
                "24",
            ],
        ),
        (
            "mp3_44k1_stereo",
            "music.mp3",
            &["-ar", "44100", "-c:a", "libmp3lame", "-b:a", "192k"],
        ),
        (
            "vorbis_22k05_mono",
            "speech.ogg",
            &["-ar", "22050", "-ac", "1", "-c:a", "libvorbis", "-q:a", "4"],
        ),
        (
            "aac_m4a_48k_stereo",
            "music.m4a",
            &["-ar", "48000", "-c:a", "aac", "-b:a", "160k"],
        ),
    ];

    /// The directory of inputs, made by the first decode benchmark that runs
    /// and removed by `main` after the last one.
    static INPUTS: Mutex<Option<TempDir>> = Mutex::new(None);

    fn inputs() -> MutexGuard<'static, Option<TempDir>> {
        INPUTS.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn remove_inputs() {
        inputs().take();
    }

    /// The path of the input for `name` (one of [`FORMATS`]).
    fn input(name: &str) -> PathBuf {
        let (_, file, _) = FORMATS
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("a known format");
        let mut dir = inputs();
        dir.get_or_insert_with(make_inputs).path().join(file)
    }

    fn make_inputs() -> TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let src = dir.path().join("src.wav");
        let tones = format!(
            "aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*660*t):s=96000:c=stereo:d={SECONDS}"
        );
        let noise = format!("anoisesrc=c=pink:r=96000:a=0.1:d={SECONDS}");
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                &tones,
                "-f",
                "lavfi",
                "-i",
                &noise,
                "-filter_complex",
                "[0][1]amix=inputs=2:normalize=0",
                "-c:a",
                "pcm_f32le",
            ],
            &src,
        );
        let src = src.to_str().expect("a UTF-8 temporary path").to_owned();
        for (_, file, args) in FORMATS {
            let mut all = vec!["-i", &src];
            all.extend_from_slice(args);
            ffmpeg(&all, &dir.path().join(file));
        }
        dir
    }

    fn ffmpeg(args: &[&str], out: &Path) {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin"])
            .args(args)
            .arg("-y")
            .arg(out)
            .status()
            .expect("ffmpeg runs (the decode benchmarks make their inputs with it)");
        assert!(status.success(), "ffmpeg failed making {}", out.display());
    }

    /// Open and decode the whole file, as a decoder worker does; returns
    /// the frames produced.
    fn decode_all(path: &Path, buf: &mut Vec<f32>) -> usize {
        let mut decoder = Decoder::open(path, ENGINE_RATE, OUT_CHANNELS).expect("the input opens");
        let mut frames = 0;
        loop {
            buf.clear();
            match decoder.read(buf, CHUNK_FRAMES).expect("the input decodes") {
                0 => return frames,
                n => frames += n,
            }
        }
    }

    /// Open, decode, mix to mono and resample to 48 kHz one 10 s file.
    /// Counter: frames out (48 kHz).
    #[divan::bench(args = FORMATS.map(|(name, _, _)| name), sample_count = 30)]
    fn to_48k_mono(bencher: Bencher, name: &str) {
        let path = input(name);
        let mut buf = Vec::with_capacity(CHUNK_FRAMES * OUT_CHANNELS as usize);
        let frames = decode_all(&path, &mut buf);
        bencher
            .counter(ItemsCount::new(frames))
            .bench_local(|| decode_all(black_box(&path), &mut buf));
    }
}

mod resample {
    use corong::media::resample::StreamResampler;

    use super::*;

    /// Input frames per push: what a decoder worker reads at a time.
    const BLOCK_FRAMES: usize = 4096;
    const CHANNELS: usize = 2;

    /// One block of stereo input through the resampler (its FFT runs on
    /// every whole chunk the block completes). Counter: input frames.
    #[divan::bench(args = [44_100, 96_000])]
    fn stereo_to_48k(bencher: Bencher, in_rate: u32) {
        let mut resampler =
            StreamResampler::new(in_rate, ENGINE_RATE, CHANNELS).expect("a resampler");
        let input = signal(BLOCK_FRAMES, in_rate, CHANNELS);
        let mut out = Vec::with_capacity(4 * BLOCK_FRAMES * CHANNELS);
        // Past the start-up delay the wrapper trims.
        for _ in 0..8 {
            out.clear();
            resampler.push(&input, &mut out);
        }
        bencher
            .counter(ItemsCount::new(BLOCK_FRAMES))
            .bench_local(|| {
                out.clear();
                resampler.push(black_box(&input), &mut out);
                black_box(&out);
            });
    }
}

mod loudness {
    use corong::media::loudness;
    use ebur128::{EbuR128, Mode};

    use super::*;

    const SECONDS: usize = 5;
    const CHANNELS: u16 = 2;
    const FRAMES: usize = SECONDS * ENGINE_RATE as usize;

    /// `loudness::measure` as the loudness cache runs it: decode a 5 s
    /// 16-bit stereo WAV at the engine rate (no resampling) and meter it
    /// (integrated loudness and true peak). Counter: frames.
    #[divan::bench(sample_count = 30)]
    fn measure_wav_5s(bencher: Bencher) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("signal.wav");
        write_wav(&path, &signal(FRAMES, ENGINE_RATE, CHANNELS as usize));
        bencher.counter(ItemsCount::new(FRAMES)).bench_local(|| {
            loudness::measure(black_box(&path), ENGINE_RATE, CHANNELS).expect("measured")
        });
    }

    /// Frames `measure` hands the meter at a time (its `MEASURE_CHUNK`).
    const MEASURE_CHUNK: usize = 16_384;

    /// The ebur128 meter alone on the same samples, fed in the chunks
    /// `measure` feeds it (what `measure` spends beside decoding).
    /// Counter: frames.
    #[divan::bench(sample_count = 30)]
    fn meter_only_5s(bencher: Bencher) {
        let samples = signal(FRAMES, ENGINE_RATE, CHANNELS as usize);
        bencher.counter(ItemsCount::new(FRAMES)).bench_local(|| {
            let mut meter = EbuR128::new(CHANNELS as u32, ENGINE_RATE, Mode::I | Mode::TRUE_PEAK)
                .expect("a meter");
            for chunk in black_box(&samples).chunks(MEASURE_CHUNK * CHANNELS as usize) {
                meter.add_frames_f32(chunk).expect("metered");
            }
            let lufs = meter.loudness_global().expect("a loudness");
            let peak = (0..CHANNELS as u32)
                .map(|c| meter.true_peak(c).expect("a peak"))
                .fold(0.0f64, f64::max);
            (lufs, peak)
        });
    }

    fn write_wav(path: &Path, samples: &[f32]) {
        let spec = hound::WavSpec {
            channels: CHANNELS,
            sample_rate: ENGINE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("a WAV file");
        for &s in samples {
            w.write_sample(corong::output::to_i16(s)).expect("written");
        }
        w.finalize().expect("written");
    }
}

mod payload {
    use corong::output::to_i16;
    use corong::rtp::pcmu::{self, Decimator, PCMU_RATE};

    use super::*;

    /// PCMU samples in one 20 ms packet.
    const PCMU_SAMPLES: usize = 160;

    /// One 20 ms mono packet at 48 kHz to big-endian L16 bytes, as the RTP
    /// output writes it. Counter: samples.
    #[divan::bench]
    fn l16_960_samples(bencher: Bencher) {
        let pcm = signal(PACKET_FRAMES, ENGINE_RATE, 1);
        let mut payload = [0u8; 2 * PACKET_FRAMES];
        bencher
            .counter(ItemsCount::new(PACKET_FRAMES))
            .bench_local(|| {
                for (out, &s) in payload.chunks_exact_mut(2).zip(black_box(&pcm)) {
                    out.copy_from_slice(&to_i16(s).to_be_bytes());
                }
                black_box(&payload);
            });
    }

    /// The PCMU decimator's low-pass, 960 samples at 48 kHz in, 160 at
    /// 8 kHz out (its state carries over, as packet after packet).
    /// Counter: input samples.
    #[divan::bench]
    fn pcmu_decimate_960_to_160(bencher: Bencher) {
        let pcm = signal(PACKET_FRAMES, ENGINE_RATE, 1);
        let mut decimator = Decimator::new(ENGINE_RATE, PCMU_RATE).expect("48k/8k is whole");
        let mut narrow = [0.0f32; PCMU_SAMPLES];
        bencher
            .counter(ItemsCount::new(PACKET_FRAMES))
            .bench_local(|| {
                let n = decimator.process(black_box(&pcm), &mut narrow);
                black_box(&narrow);
                n
            });
    }

    /// G.711 mu-law for one packet's 160 samples. Counter: samples.
    #[divan::bench]
    fn pcmu_encode_160(bencher: Bencher) {
        let narrow = signal(PCMU_SAMPLES, PCMU_RATE, 1);
        let mut payload = [0u8; PCMU_SAMPLES];
        bencher
            .counter(ItemsCount::new(PCMU_SAMPLES))
            .bench_local(|| {
                for (out, &s) in payload.iter_mut().zip(black_box(&narrow)) {
                    *out = pcmu::encode(to_i16(s));
                }
                black_box(&payload);
            });
    }
}

/// One 20 ms packet of a zone through its codec's encoder (`rtp::encode`,
/// what the RTP output runs on the engine thread per packet), the zone
/// mixing at the codec's own rate. Counter: packets (so the time is the
/// encode cost per packet).
mod codec {
    use corong::rtp::encode::Encoder;
    use corong::rtp::{Codec, EncodeOptions, PacketLayout, MAX_PAYLOAD};

    use super::*;

    fn encode_packets(bencher: Bencher, codec: Codec, rate: u32, channels: u16) {
        let frames = rate as usize / 50;
        let layout = PacketLayout::new(codec, rate, channels, frames).expect("a layout");
        let mut encoder = Encoder::new(layout, rate, channels, frames, EncodeOptions::default())
            .expect("an encoder");
        // Two seconds of the music-like signal, a packet at a time, not one
        // packet over and over (a codec could code a repeat for less).
        let pcm = signal(frames * 100, rate, channels as usize);
        let mut out = [0u8; MAX_PAYLOAD];
        let mut k = 0;
        bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
            let start = (k % 100) * frames * channels as usize;
            let packet = &pcm[start..start + frames * channels as usize];
            k += 1;
            encoder.start(black_box(packet));
            let mut bytes = 0;
            for p in 0..layout.packets_per_write {
                bytes += encoder.payload(packet, p, &mut out);
            }
            black_box(&out);
            bytes
        });
    }

    /// G.722 at 16 kHz mono: 320 samples to 160 bytes.
    #[divan::bench]
    fn g722_packet(bencher: Bencher) {
        encode_packets(bencher, Codec::G722, 16_000, 1);
    }

    /// Opus at 48 kHz, 32 kbit/s, mono and stereo.
    #[divan::bench(args = [1, 2])]
    fn opus_packet(bencher: Bencher, channels: u16) {
        encode_packets(bencher, Codec::Opus, 48_000, channels);
    }

    /// PCMU at 8 kHz, for scale.
    #[divan::bench]
    fn pcmu_packet(bencher: Bencher) {
        encode_packets(bencher, Codec::Pcmu, 8_000, 1);
    }
}

mod mixer {
    use std::sync::atomic::Ordering;
    use std::time::{Instant, SystemTime};

    use corong::engine::voice::{voice, Marker, VoiceInput};
    use corong::engine::{Event, Ramps, Voice, VoiceSpec, Yield, ZoneMixer};
    use corong::output::Tick;
    use corong::priority::Priority;

    use super::*;

    /// Each voice's ring, in packets: 4 s, as the decoder workers keep.
    const RING_PACKETS: usize = 200;
    /// Packets mixed per divan sample. The rings are topped up before each
    /// sample, so this must stay below `RING_PACKETS` for the voices never
    /// to run short (checked after the run: no underrun).
    const SAMPLE_SIZE: u32 = 64;
    /// Packets mixed before measuring: past the fade in and the 300 ms duck.
    const WARM_UP_PACKETS: usize = 50;

    /// A voice's producer end and a looped signal to keep its ring full.
    struct Feed {
        input: VoiceInput,
        signal: Vec<f32>,
        pos: usize,
    }

    impl Feed {
        /// Push whole packets of the signal while the ring has room (each
        /// push makes a chunk: that allocates, outside the timing).
        fn top_up(&mut self) {
            let ch = self.input.channels as usize;
            let packet = PACKET_FRAMES * ch;
            while self.input.room_frames() >= PACKET_FRAMES && self.input.chunk_slots() > 0 {
                let from = self.pos;
                self.input
                    .push_frames(&self.signal[from..from + packet])
                    .expect("a free slot");
                self.pos = (self.pos + packet) % self.signal.len();
            }
        }
    }

    fn new_voice(job: i64, priority: Priority, yields: Yield, channels: u16) -> (Box<Voice>, Feed) {
        let spec = VoiceSpec {
            job: corong::ids::JobId(job),
            priority,
            yields,
        };
        let (v, mut input) = voice(spec, channels, RING_PACKETS * PACKET_FRAMES);
        input
            .markers
            .push(Marker {
                item: 0,
                at_frame: 0,
            })
            .expect("room for a marker");
        let mut feed = Feed {
            input,
            // A whole number of packets, so the loop is seamless.
            signal: signal(50 * PACKET_FRAMES, ENGINE_RATE, channels as usize),
            pos: 0,
        };
        feed.top_up();
        (Box::new(v), feed)
    }

    struct Zone {
        mixer: ZoneMixer,
        feeds: Vec<Feed>,
        out: Vec<f32>,
        tick: Tick,
    }

    impl Zone {
        fn new(channels: u16) -> Zone {
            Zone {
                mixer: ZoneMixer::new(channels, ENGINE_RATE, 0.0, Ramps::default()),
                feeds: Vec::new(),
                out: vec![0.0; PACKET_FRAMES * channels as usize],
                tick: Tick {
                    index: 0,
                    deadline: Instant::now(),
                    wall: SystemTime::now(),
                },
            }
        }

        fn add(&mut self, job: i64, priority: Priority, yields: Yield) {
            let (v, feed) = new_voice(job, priority, yields, self.mixer.channels() as u16);
            assert!(self.mixer.add(v).is_ok(), "room for the voice");
            self.feeds.push(feed);
        }

        fn mix(mixer: &mut ZoneMixer, out: &mut [f32], tick: &Tick) {
            mixer.mix(
                corong::ids::ZoneId(0),
                out,
                tick,
                &mut |_: Event| {},
                &mut |_: Box<Voice>| panic!("a voice ended"),
            );
        }

        fn warm_up(&mut self) {
            for _ in 0..WARM_UP_PACKETS {
                Zone::mix(&mut self.mixer, &mut self.out, &self.tick);
                self.feeds.iter_mut().for_each(Feed::top_up);
            }
        }

        /// Check that voice `i` is on air at `gain`: the path measured is
        /// the one meant. (A voice's state is the crate's own; its `Debug`
        /// shows it.)
        fn assert_playing(&self, i: usize, gain: f32) {
            let v = self.mixer.voices().nth(i).expect("the voice");
            let shown = format!("{v:?}");
            assert!(
                shown.contains("state: Playing") && shown.contains(&format!("gain: {gain:?}")),
                "voice {i} not playing at gain {gain}: {shown}"
            );
        }

        /// Time one packet's mix, the rings topped up outside the timing.
        fn bench(mut self, bencher: Bencher) {
            let Zone {
                mixer,
                feeds,
                out,
                tick,
            } = &mut self;
            bencher
                .counter(ItemsCount::new(PACKET_FRAMES))
                .with_inputs(|| feeds.iter_mut().for_each(Feed::top_up))
                .bench_local_values(|()| {
                    Zone::mix(mixer, out, tick);
                    black_box(&*out);
                });
            for f in &self.feeds {
                let short = f.input.shared.underrun_frames.load(Ordering::Relaxed);
                assert_eq!(short, 0, "a voice ran short: not steady-state mixing");
            }
            assert_eq!(self.mixer.voices().count(), self.feeds.len());
        }
    }

    /// One packet, one voice on air at full gain. Counter: frames.
    #[divan::bench(args = [1, 2], sample_size = SAMPLE_SIZE)]
    fn one_voice(bencher: Bencher, channels: u16) {
        let mut zone = Zone::new(channels);
        zone.add(1, Priority::PROGRAM, Yield::Pause);
        zone.warm_up();
        zone.assert_playing(0, 1.0);
        zone.bench(bencher);
    }

    /// One packet, an announcement on air and the music ducked under it
    /// (both read and mixed). Counter: frames.
    #[divan::bench(args = [1, 2], sample_size = SAMPLE_SIZE)]
    fn two_voices_one_ducked(bencher: Bencher, channels: u16) {
        let mut zone = Zone::new(channels);
        zone.add(1, Priority::BACKGROUND, Yield::Duck { gain: 0.2 });
        // The music plays first: a voice that never played would wait.
        zone.warm_up();
        zone.add(2, Priority::ANNOUNCEMENT, Yield::Pause);
        zone.warm_up();
        zone.assert_playing(0, 0.2);
        zone.assert_playing(1, 1.0);
        zone.bench(bencher);
    }
}

mod alerts {
    use std::fmt::Write;
    use std::path::Path;

    use divan::{black_box, Bencher};

    use corong::alerts::{cap, matching};

    /// A CAP document of `polygons` squares-ish rings of 20 points each
    /// (150 x 20 = 3,000 points, the largest BMKG nowcast seen), laid over
    /// Jawa Timur.
    fn document(polygons: usize) -> String {
        let mut areas = String::new();
        for i in 0..polygons {
            let lat = -7.0 - (i / 15) as f64 * 0.12;
            let lon = 111.0 + (i % 15) as f64 * 0.2;
            let mut ring = String::new();
            for k in 0..19 {
                let a = k as f64 / 19.0 * std::f64::consts::TAU;
                let _ = write!(
                    ring,
                    "{:.4},{:.4} ",
                    lat + 0.05 * a.sin(),
                    lon + 0.08 * a.cos()
                );
            }
            let _ = write!(ring, "{:.4},{:.4}", lat, lon + 0.08);
            let _ = write!(areas, "<polygon>{ring}</polygon>");
        }
        format!(
            "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>b-1</identifier>\
             <sender>bench@corong.invalid</sender><sent>2026-12-06T15:00:00+07:00</sent>\
             <status>Actual</status><msgType>Alert</msgType><scope>Public</scope><info>\
             <category>Met</category><event>Hujan Lebat</event><urgency>Immediate</urgency>\
             <severity>Severe</severity><certainty>Likely</certainty>\
             <expires>2099-01-01T00:00:00+07:00</expires><headline>h</headline>\
             <area><areaDesc>Jawa Timur</areaDesc>{areas}</area></info></alert>"
        )
    }

    /// 500 zones spread over the same box, and one playbook.
    fn config() -> corong::config::Config {
        let mut text = String::new();
        for i in 0..500 {
            let lat = -7.0 - (i / 25) as f64 * 0.06;
            let lon = 111.0 + (i % 25) as f64 * 0.12;
            let _ = write!(
                text,
                "[[zones]]\nname = \"z{i}\"\nwav = \"z{i}.wav\"\nlocation = [{lat:.4}, {lon:.4}]\n"
            );
        }
        text.push_str(
            "[[alerts.playbooks]]\nname = \"hujan\"\nwhen = { event = \"Hujan Lebat*\" }\ntext = \"{headline}\"\n",
        );
        corong::config::load_str(&text, Path::new("/tmp/corong-bench/config.toml")).unwrap()
    }

    #[divan::bench]
    fn read_and_match_150_polygons_500_zones(bencher: Bencher) {
        let doc = document(150);
        let config = config();
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T15:05:00+07:00").unwrap();
        let out = matching::match_cap(&config, &cap::read(doc.as_bytes()).unwrap(), None, now);
        assert!(!out.covered.is_empty() && out.covered.len() < 500);
        bencher.bench(|| {
            let alert = cap::read(black_box(doc.as_bytes())).unwrap();
            black_box(matching::match_cap(&config, &alert, None, now))
        });
    }
}

//! [`Decoder`]: a media file as a stream of engine-format frames.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use symphonia::core::audio::{SampleBuffer, SignalSpec};
use symphonia::core::codecs::{CodecParameters, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, Packet, SeekMode, SeekTo, Track};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::convert::Converter;
use super::mp4::{self, EditList};
use super::{flac, id3};
use super::{MediaError, SourceInfo};

/// Limits on one item's decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Stop (cleanly, with a warning) after this much audio, so a bogus
    /// header or an endless stream can't hold a zone forever.
    /// Default: 6 hours.
    pub max_duration: Duration,
    /// Give up with [`MediaError::Decode`] after this many packets in a row
    /// fail to decode; single bad packets are skipped. Default: 50.
    pub max_consecutive_errors: u32,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_duration: Duration::from_secs(6 * 3600),
            max_consecutive_errors: 50,
        }
    }
}

/// Source sample rates accepted, Hz. The resampler's buffers grow with the
/// rate: a header claiming 4 GHz would take gigabytes (found by the `decode`
/// fuzz target). 384 kHz is the highest rate in use (DXD).
pub const SOURCE_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Packets in a row that yield no audio (other tracks, empty packets) before
/// we decide the file is not going to produce any.
const MAX_PACKETS_WITHOUT_AUDIO: u32 = 100_000;

/// Once this many consumed samples sit at the front of the ready queue, the
/// queue is compacted.
const READY_COMPACT_SAMPLES: usize = 1 << 16;

/// Source frames a seek decodes and drops before the frame it aims at, so
/// that the codec's state there (an MP3's bit reservoir and overlap, any
/// decoder's filter memory) is what a decode from the start would have.
/// About 0.2 s at 44.1 kHz: milliseconds of decoding.
const SEEK_PREROLL_FRAMES: u64 = 8192;

/// How much shorter than its header declares a file may end before it counts
/// as cut short: the larger of these. Headers of valid files can be off by a
/// frame or an encoder's padding; a file truncated while it plays, or copied
/// in part, misses far more.
const SHORT_BY_SECONDS: f64 = 0.5;
const SHORT_BY_FRACTION: f64 = 0.02;

/// The file as it was when it was opened, to tell at its end whether it
/// changed while it played (rewritten in place, truncated, appended to).
struct Watch {
    /// A second handle on the open file: `fstat` on it sees the file being
    /// read, not whatever a rename has since put at its path (the old file,
    /// which we go on reading, is intact).
    file: File,
    len: u64,
    modified: Option<SystemTime>,
}

impl Watch {
    fn of(file: &File, meta: &std::fs::Metadata) -> Option<Watch> {
        Some(Watch {
            file: file.try_clone().ok()?,
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// How the file differs from when it was opened, if it does.
    fn change(&self) -> Option<String> {
        let meta = self.file.metadata().ok()?;
        let len = meta.len();
        if len != self.len {
            return Some(format!(
                "the file changed while it played ({} bytes at the start, {len} at the end)",
                self.len
            ));
        }
        (meta.modified().ok() != self.modified)
            .then(|| "the file changed while it played (rewritten in place)".to_string())
    }
}

/// A file being decoded to `out_rate` Hz and `out_channels` channels, as
/// interleaved f32 samples in -1.0..=1.0.
pub struct Decoder {
    path: PathBuf,
    info: SourceInfo,
    options: DecodeOptions,
    out_rate: u32,
    out_channels: usize,
    format: Box<dyn FormatReader>,
    codec: Box<dyn symphonia::core::codecs::Decoder>,
    track_id: u32,
    /// Decoded packet as interleaved f32; reused while it is big enough.
    samples: Option<SampleBuffer<f32>>,
    /// Converter for the current signal spec; created at the first audio.
    converter: Option<Converter>,
    /// Converted output not yet read, interleaved; `ready_pos` samples of it
    /// are already consumed.
    ready: Vec<f32>,
    ready_pos: usize,
    /// Seconds of source audio passed on so far.
    decoded_seconds: f64,
    /// What the MP4 edit list says to play, if the file has one.
    edit: Option<EditList>,
    /// Source frames decoded so far, before any edit-list trimming.
    source_pos: u64,
    /// The file as opened (none for bytes in memory).
    watch: Option<Watch>,
    /// The source ran out of packets (rather than reaching the edit list's
    /// end or the duration limit).
    hit_end_of_stream: bool,
    consecutive_errors: u32,
    packets_without_audio: u32,
    skipped_packets: u64,
    seen_audio: bool,
    /// The source has no more packets (or hit the duration limit).
    source_done: bool,
    /// Everything, including the resampler's tail, is in `ready`.
    finished: bool,
    /// After a seek: source frames still to decode and drop before the
    /// converter, and converted frames still to drop after it.
    drop_source: u64,
    drop_ready: u64,
}

impl Decoder {
    /// Open `path` for decoding to `out_rate` Hz, `out_channels` channels,
    /// with the default [`DecodeOptions`].
    pub fn open(path: &Path, out_rate: u32, out_channels: u16) -> Result<Decoder, MediaError> {
        Decoder::open_with(path, out_rate, out_channels, DecodeOptions::default())
    }

    /// Open `path` with explicit limits. The file's content decides its
    /// format; the extension is only a hint. The first audio is decoded
    /// here, so a file that can't start playing fails now.
    pub fn open_with(
        path: &Path,
        out_rate: u32,
        out_channels: u16,
        options: DecodeOptions,
    ) -> Result<Decoder, MediaError> {
        let file = super::open_regular(path)?;
        let meta = file.metadata().map_err(|source| MediaError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let watch = Watch::of(&file, &meta);
        let mut decoder = Decoder::open_source(path, file, out_rate, out_channels, options)?;
        decoder.watch = watch;
        Ok(decoder)
    }

    /// Decode `bytes` as if they were the file `name` (its extension is the
    /// format hint; errors name it). The same code as [`Decoder::open_with`]
    /// past opening the file: what the fuzz target of the media path runs.
    pub fn open_bytes(
        name: &Path,
        bytes: Vec<u8>,
        out_rate: u32,
        out_channels: u16,
        options: DecodeOptions,
    ) -> Result<Decoder, MediaError> {
        Decoder::open_source(
            name,
            std::io::Cursor::new(bytes),
            out_rate,
            out_channels,
            options,
        )
    }

    /// Decode from any seekable source named `path`.
    fn open_source<S: MediaSource + 'static>(
        path: &Path,
        mut source: S,
        out_rate: u32,
        out_channels: u16,
        options: DecodeOptions,
    ) -> Result<Decoder, MediaError> {
        let unsupported = |reason: String| MediaError::Unsupported {
            path: path.to_path_buf(),
            reason,
        };
        if out_rate == 0 || !(1..=2).contains(&out_channels) {
            return Err(unsupported(format!(
                "can't convert to {out_rate} Hz, {out_channels} channels (1 or 2 channels, rate above 0)"
            )));
        }
        let open_err = |source| MediaError::Open {
            path: path.to_path_buf(),
            source,
        };
        if source.byte_len() == Some(0) {
            return Err(unsupported("empty file".into()));
        }
        // symphonia allocates what some headers claim before reading it:
        // check those claims first.
        mp4::check_atoms(&mut source)
            .and_then(|()| id3::check_tags(&mut source))
            .and_then(|after_tags| match after_tags {
                Some(id3::Stream::Flac(at)) => flac::check_metadata(&mut source, at),
                Some(id3::Stream::Mp4(at)) if at > 0 => mp4::check_atoms_from(&mut source, at),
                _ => Ok(()),
            })
            .map_err(|reason| MediaError::Decode {
                path: path.to_path_buf(),
                reason,
            })?;
        let edit = mp4::edit_list(&mut source);
        source.rewind().map_err(open_err)?;

        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let mss = MediaSourceStream::new(Box::new(source), Default::default());
        let format_opts = FormatOptions {
            // Trim encoder delay and padding (MP3 LAME/Xing headers) so
            // items start on time and are as long as their source.
            enable_gapless: true,
            ..Default::default()
        };
        let probed = guard(|| {
            symphonia::default::get_probe().format(
                &hint,
                mss,
                &format_opts,
                &MetadataOptions::default(),
            )
        })
        .map_err(|what| MediaError::Decode {
            path: path.to_path_buf(),
            reason: panicked(what),
        })?
        .map_err(|e| match e {
            // The probe reads until it finds a known format or the file
            // ends: both mean the content is no audio we know.
            SymError::Unsupported(_) => unsupported("not a recognised audio format".into()),
            SymError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
                unsupported("not a recognised audio format".into())
            }
            SymError::IoError(io) => open_err(io),
            other => MediaError::Decode {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        })?;
        let format = probed.format;

        let track = first_audio_track(format.tracks())
            .ok_or_else(|| unsupported("no audio track".into()))?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        let codec = make_codec(&params).map_err(unsupported)?;

        let info = SourceInfo {
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.map(|c| c.count() as u16).unwrap_or(0),
            codec: codec_name(&params),
            duration: edit.map(|e| e.duration()).or_else(|| duration_of(&params)),
        };

        let mut decoder = Decoder {
            path: path.to_path_buf(),
            info,
            options,
            out_rate,
            out_channels: out_channels as usize,
            format,
            codec,
            track_id,
            samples: None,
            converter: None,
            ready: Vec::new(),
            ready_pos: 0,
            decoded_seconds: 0.0,
            edit,
            source_pos: 0,
            watch: None,
            hit_end_of_stream: false,
            consecutive_errors: 0,
            packets_without_audio: 0,
            skipped_packets: 0,
            seen_audio: false,
            source_done: false,
            finished: false,
            drop_source: 0,
            drop_ready: 0,
        };
        // Decode up to the first audio, which also tells the real spec.
        while !decoder.seen_audio && !decoder.finished {
            decoder.step()?;
        }
        Ok(decoder)
    }

    /// Append up to `max_frames` frames to `out`. Returns how many frames were
    /// appended; `Ok(0)` means the end of the file.
    pub fn read(&mut self, out: &mut Vec<f32>, max_frames: usize) -> Result<usize, MediaError> {
        // Test hook, in debug builds only: a file named `*.panic-test.wav`
        // makes the decoder panic mid-item, as symphonia has done on
        // malformed input, so tests can show the panic is contained.
        #[cfg(debug_assertions)]
        if self.decoded_seconds >= 0.2 && self.path.to_string_lossy().ends_with(".panic-test.wav") {
            panic!("test hook: the decoder panics on purpose");
        }
        let ch = self.out_channels;
        while (self.ready.len() - self.ready_pos) / ch < max_frames && !self.finished {
            if let Err(e) = self.step() {
                // An unrecoverable error ends the item; don't try again.
                self.finished = true;
                self.source_done = true;
                return Err(e);
            }
        }
        let frames = ((self.ready.len() - self.ready_pos) / ch).min(max_frames);
        let end = self.ready_pos + frames * ch;
        out.extend_from_slice(&self.ready[self.ready_pos..end]);
        self.ready_pos = end;
        if self.ready_pos == self.ready.len() {
            self.ready.clear();
            self.ready_pos = 0;
        } else if self.ready_pos >= READY_COMPACT_SAMPLES {
            self.ready.drain(..self.ready_pos);
            self.ready_pos = 0;
        }
        Ok(frames)
    }

    /// Go to frame `frame` (of the output, at the output rate) of the
    /// item: the next [`Decoder::read`] returns it, exactly as a decode
    /// from the start would have (bit for bit, `tests/seek.rs`; AAC but for
    /// the bands its encoder noise-substituted, which the decoder fills from
    /// a random generator whose state a seek does not restore). Call it on
    /// a decoder that has read nothing yet.
    ///
    /// The container is asked for an accurate seek a little before the
    /// frame; what lies between is decoded and dropped, before the
    /// converter ([`SEEK_PREROLL_FRAMES`], for the codec's state) and after
    /// it (two resampler blocks, for the resampler's). The converter starts
    /// again on one of its block boundaries, so its output lines up.
    ///
    /// `Err` when the format cannot seek (or the seek failed): the decoder
    /// is then in no known place, and the caller opens the file again and
    /// decodes from the start instead.
    pub fn seek_to(&mut self, frame: u64) -> Result<(), String> {
        if frame == 0 {
            return Ok(());
        }
        let Some(converter) = self.converter.as_ref() else {
            return Err("no audio decoded yet".into());
        };
        if !seeks_exactly(&self.info.codec) {
            return Err(format!(
                "{} does not seek to the exact frame",
                self.info.codec
            ));
        }
        let in_rate = self.info.sample_rate as u64;
        let out_rate = self.out_rate as u64;
        let block = converter.block_frames() as u64;
        if (block * out_rate) % in_rate != 0 {
            return Err(format!(
                "{block} frames at {in_rate} Hz is no whole number of output frames"
            ));
        }
        let block_out = block * out_rate / in_rate;
        let warm_out = if in_rate == out_rate {
            0
        } else {
            2 * block_out
        };
        let blocks = frame.saturating_sub(warm_out) / block_out;
        let (start_src, start_out) = (blocks * block, blocks * block_out);
        let track = self
            .format
            .tracks()
            .iter()
            .find(|t| t.id == self.track_id)
            .ok_or("the track is gone")?;
        // Timestamps must count source frames for the arithmetic here.
        if let Some(tb) = track.codec_params.time_base {
            if tb.numer != 1 || tb.denom as u64 != in_rate {
                return Err(format!("time base {tb} is not one frame at {in_rate} Hz"));
            }
        }
        let skip = self
            .edit
            .as_ref()
            .map_or(0, |e| e.skip_frames(self.info.sample_rate));
        let aim = start_src + skip;
        let ts = aim.saturating_sub(SEEK_PREROLL_FRAMES);
        let track_id = self.track_id;
        let to = SeekTo::TimeStamp { ts, track_id };
        let seeked = match guard(|| self.format.seek(SeekMode::Accurate, to)) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(what) => return Err(panicked(what)),
        };
        if seeked.actual_ts > aim {
            return Err(format!("the seek to {ts} reached {}", seeked.actual_ts));
        }
        self.codec.reset();
        self.converter = None;
        self.ready.clear();
        self.ready_pos = 0;
        self.source_pos = seeked.actual_ts;
        self.drop_source = aim - seeked.actual_ts;
        self.drop_ready = frame - start_out;
        self.decoded_seconds = start_src as f64 / in_rate as f64;
        self.source_done = false;
        self.finished = false;
        self.hit_end_of_stream = false;
        Ok(())
    }

    /// Drop converted frames a seek still owes (see [`Decoder::seek_to`]).
    fn drop_ready_frames(&mut self) {
        if self.drop_ready == 0 {
            return;
        }
        let ch = self.out_channels;
        let have = ((self.ready.len() - self.ready_pos) / ch) as u64;
        let n = have.min(self.drop_ready);
        self.ready_pos += n as usize * ch;
        self.drop_ready -= n;
    }

    /// What the file holds. Rate and channels are those of the decoded audio
    /// (more reliable than some headers) once any audio was decoded.
    pub fn source_info(&self) -> &SourceInfo {
        &self.info
    }

    /// The file being decoded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Packets skipped because they failed to decode.
    pub fn skipped_packets(&self) -> u64 {
        self.skipped_packets
    }

    /// Why what was decoded is not the whole file, once [`Decoder::read`]
    /// has returned its end; `None` for a file that played whole. The
    /// reasons, joined: packets that failed to decode were left out; the
    /// stream ended well before the duration its header declares (cut
    /// short: truncated, or copied in part; not for MP3, whose stated
    /// length may be an estimate); the file's size or time of change
    /// differs from when it was opened (written to while it played: what
    /// went on air may be noise). A file that ends badly still plays what
    /// it holds; this says that it was not all there.
    pub fn damage(&self) -> Option<String> {
        let mut why = Vec::new();
        if let Some(change) = self.watch.as_ref().and_then(Watch::change) {
            why.push(change);
        }
        if let Some(short) = self.cut_short() {
            why.push(short);
        }
        if self.skipped_packets > 0 {
            why.push(format!(
                "{} packets could not be decoded and were left out",
                self.skipped_packets
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// "cut short: ..." when the stream ended well before its header said.
    fn cut_short(&self) -> Option<String> {
        if !self.hit_end_of_stream {
            return None;
        }
        // An MP3 without a Xing or Info header states no length: symphonia
        // estimates one from the first frames' bitrate, which a VBR file can
        // miss by far. One cut while it plays is still seen: the file
        // changed.
        if matches!(self.info.codec.as_str(), "mp1" | "mp2" | "mp3") {
            return None;
        }
        let declared = self.info.duration?.as_secs_f64();
        // A header that claims more than an item may play is not a length
        // (streamed WAVs say 0xFFFFFFFF bytes, "unknown"): nothing to hold
        // the file to.
        if declared > self.options.max_duration.as_secs_f64() {
            return None;
        }
        let played = self.decoded_seconds;
        let missing = declared - played;
        (missing > SHORT_BY_SECONDS.max(declared * SHORT_BY_FRACTION)).then(|| {
            format!("cut short: the audio ends at {played:.1} s of the {declared:.1} s its header declares")
        })
    }

    fn decode_error(&self, reason: String) -> MediaError {
        MediaError::Decode {
            path: self.path.clone(),
            reason,
        }
    }

    /// Advance by one packet, or finish the stream.
    fn step(&mut self) -> Result<(), MediaError> {
        if self.source_done {
            if let Some(c) = &mut self.converter {
                c.finish(&mut self.ready);
            }
            self.drop_ready_frames();
            self.finished = true;
            return Ok(());
        }
        let packet = match guard(|| self.format.next_packet()) {
            Ok(Ok(p)) => p,
            Ok(Err(SymError::IoError(e))) if e.kind() == ErrorKind::UnexpectedEof => {
                self.source_done = true;
                self.hit_end_of_stream = true;
                return Ok(());
            }
            Ok(Err(SymError::ResetRequired)) => return self.reset_track(),
            Ok(Err(e)) => return Err(self.decode_error(e.to_string())),
            Err(what) => return Err(self.decode_error(panicked(what))),
        };
        if packet.track_id() != self.track_id {
            return self.no_audio_from_packet();
        }
        self.decode_packet(&packet)
    }

    fn decode_packet(&mut self, packet: &Packet) -> Result<(), MediaError> {
        let codec = &mut self.codec;
        let samples = &mut self.samples;
        // Copy the decoded packet out as interleaved f32 inside the borrow of
        // the codec; the spec and frame count come out of it.
        let decoded: Result<Result<Option<(SignalSpec, usize)>, SymError>, String> = guard(|| {
            let buf = codec.decode(packet)?;
            let frames = buf.frames();
            if frames == 0 {
                return Ok(None);
            }
            let spec = *buf.spec();
            let need = frames * spec.channels.count();
            let fits = samples.as_ref().is_some_and(|s| s.capacity() >= need);
            if !fits {
                *samples = Some(SampleBuffer::new(buf.capacity() as u64, spec));
            }
            samples
                .as_mut()
                .expect("sample buffer was just made")
                .copy_interleaved_ref(buf);
            Ok(Some((spec, frames)))
        });
        let decoded = match decoded {
            Ok(d) => d,
            Err(what) => return Err(self.decode_error(panicked(what))),
        };
        match decoded {
            Ok(Some((spec, frames))) => {
                self.consecutive_errors = 0;
                self.packets_without_audio = 0;
                self.push_audio(spec, frames)
            }
            Ok(None) => self.no_audio_from_packet(),
            // Per symphonia: a packet that fails to decode is skipped.
            // A seek's first packets may lack what they refer back to (an
            // MP3's bit reservoir): they are dropped anyway.
            Err(SymError::DecodeError(_)) if self.drop_source > 0 => Ok(()),
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                self.skipped_packets += 1;
                self.consecutive_errors += 1;
                if self.consecutive_errors > self.options.max_consecutive_errors {
                    let reason = format!(
                        "{} packets in a row failed to decode{}",
                        self.consecutive_errors,
                        if self.seen_audio {
                            ""
                        } else {
                            " (is it really audio?)"
                        }
                    );
                    return Err(self.decode_error(reason));
                }
                Ok(())
            }
            Err(SymError::ResetRequired) => self.reset_track(),
            Err(e) => Err(self.decode_error(e.to_string())),
        }
    }

    fn no_audio_from_packet(&mut self) -> Result<(), MediaError> {
        self.packets_without_audio += 1;
        if self.packets_without_audio > MAX_PACKETS_WITHOUT_AUDIO {
            return Err(
                self.decode_error(format!("{MAX_PACKETS_WITHOUT_AUDIO} packets without audio"))
            );
        }
        Ok(())
    }

    /// Hand the decoded packet in `self.samples` to the converter.
    fn push_audio(&mut self, spec: SignalSpec, frames: usize) -> Result<(), MediaError> {
        let channels = spec.channels.count();
        if spec.rate == 0 || channels == 0 {
            return Err(self.decode_error("audio with no sample rate or no channels".into()));
        }
        if !SOURCE_RATES.contains(&spec.rate) {
            return Err(MediaError::Unsupported {
                path: self.path.clone(),
                reason: format!(
                    "sample rate {} Hz: expected {}..={} Hz",
                    spec.rate,
                    SOURCE_RATES.start(),
                    SOURCE_RATES.end()
                ),
            });
        }
        if !self.seen_audio {
            self.seen_audio = true;
            self.info.sample_rate = spec.rate;
            self.info.channels = channels as u16;
        }
        // A new spec midway (chained Ogg streams, odd MP3s): flush the old
        // conversion and start a new one.
        if !self
            .converter
            .as_ref()
            .is_some_and(|c| c.accepts(spec.rate, channels))
        {
            if let Some(old) = &mut self.converter {
                old.finish(&mut self.ready);
            }
            let c = Converter::new(
                spec.rate,
                channels,
                Some(spec.channels),
                self.out_rate,
                self.out_channels,
            )
            .map_err(|reason| self.decode_error(reason))?;
            self.converter = Some(c);
        }

        // The part of this packet to play: the MP4 edit list may cut
        // priming samples at the start and padding at the end.
        let first = self.source_pos;
        self.source_pos += frames as u64;
        let (mut from, mut to) = (0, frames);
        if let Some(edit) = &self.edit {
            let skip = edit.skip_frames(spec.rate);
            let end = skip + edit.keep_frames(spec.rate);
            from = skip.saturating_sub(first).min(frames as u64) as usize;
            to = end.saturating_sub(first).min(frames as u64) as usize;
            if self.source_pos >= end {
                self.source_done = true;
            }
        }
        if self.drop_source > 0 {
            let n = ((to - from) as u64).min(self.drop_source);
            self.drop_source -= n;
            from += n as usize;
        }
        if to <= from {
            return Ok(());
        }

        let limit = self.options.max_duration.as_secs_f64();
        let allowed = ((limit - self.decoded_seconds) * spec.rate as f64)
            .round()
            .max(0.0) as usize;
        if to - from > allowed {
            tracing::warn!(
                file = %self.path.display(),
                "stopping after {:?}, the longest an item may play",
                self.options.max_duration
            );
            self.source_done = true;
            to = from + allowed;
        }
        self.decoded_seconds += (to - from) as f64 / spec.rate as f64;

        let samples = self.samples.as_mut().expect("audio was decoded into it");
        let part = &mut samples.samples_mut()[from * channels..to * channels];
        // Float formats carry any value: NaN would poison the mix, and
        // values past full scale would play as full scale anyway. (Found by
        // the `decode` fuzz target.)
        for s in part.iter_mut() {
            *s = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
        }
        let converter = self.converter.as_mut().expect("converter was just made");
        converter.push(part, &mut self.ready);
        self.drop_ready_frames();
        Ok(())
    }

    /// Symphonia asked for a reset: re-examine the tracks and recreate the
    /// decoder. The converter follows any change of spec by itself.
    fn reset_track(&mut self) -> Result<(), MediaError> {
        let track = first_audio_track(self.format.tracks())
            .ok_or_else(|| self.decode_error("no audio track after a stream reset".into()))?;
        self.track_id = track.id;
        let params = track.codec_params.clone();
        self.codec = make_codec(&params).map_err(|reason| self.decode_error(reason))?;
        Ok(())
    }
}

/// Codecs whose seek lands on the exact frame (`tests/seek.rs` checks them
/// against a decode from the start). Vorbis does not: the first packets
/// after a seek give no audio, so the frames do not start at the position
/// the seek reports; an Ogg item catches up by decoding from its start.
fn seeks_exactly(codec: &str) -> bool {
    codec.starts_with("pcm") || matches!(codec, "flac" | "mp1" | "mp2" | "mp3" | "aac")
}

fn first_audio_track(tracks: &[Track]) -> Option<&Track> {
    tracks
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
}

fn make_codec(
    params: &CodecParameters,
) -> Result<Box<dyn symphonia::core::codecs::Decoder>, String> {
    match guard(|| symphonia::default::get_codecs().make(params, &DecoderOptions::default())) {
        Ok(made) => made.map_err(|e| format!("codec {}: {e}", codec_name(params))),
        Err(what) => Err(format!("codec {}: {}", codec_name(params), panicked(what))),
    }
}

fn codec_name(params: &CodecParameters) -> String {
    symphonia::default::get_codecs()
        .get_codec(params.codec)
        .map(|d| d.short_name.to_string())
        .unwrap_or_else(|| format!("unknown codec {}", params.codec))
}

fn duration_of(params: &CodecParameters) -> Option<Duration> {
    let frames = params.n_frames?;
    if let Some(tb) = params.time_base {
        let t = tb.calc_time(frames);
        return Some(Duration::from_secs(t.seconds) + Duration::from_secs_f64(t.frac));
    }
    let rate = params.sample_rate.filter(|&r| r > 0)?;
    Some(Duration::from_secs_f64(frames as f64 / rate as f64))
}

/// Run a symphonia call; a panic on malformed input (decoders have had such
/// bugs) comes back as `Err(description)` instead of killing the worker.
/// The item then ends: a decoder that unwound midway is not trusted again.
fn guard<T>(f: impl FnOnce() -> Result<T, SymError>) -> Result<Result<T, SymError>, String> {
    super::panics::contain(f)
}

/// The reason given for an item whose decoder panicked.
fn panicked(what: String) -> String {
    format!("decoder panicked: {what}")
}

// Decoders are opened on one worker thread and may be handed to another.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Decoder>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    const RATE: u32 = 8000;

    /// A mono 16-bit WAV of `seconds` of a 440 Hz tone, last changed an
    /// hour ago (timestamps tick in jiffies: a change made right after the
    /// file was written could otherwise keep its time).
    fn wav(dir: &Path, seconds: f32) -> PathBuf {
        let path = dir.join("t.wav");
        let samples = crate::media::tone::sine(440.0, RATE, seconds as f64, 0.5);
        crate::media::tone::write_wav(&path, &samples, RATE, 1).unwrap();
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        path
    }

    /// Read `d` to its end; the frames read.
    fn read_to_end(d: &mut Decoder) -> usize {
        let mut out = Vec::new();
        let mut total = 0;
        loop {
            out.clear();
            match d.read(&mut out, 1024).unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    }

    #[test]
    fn a_whole_file_is_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 2.0);
        let mut d = Decoder::open(&path, RATE, 1).unwrap();
        assert_eq!(read_to_end(&mut d), 2 * RATE as usize);
        assert_eq!(d.damage(), None);
    }

    #[test]
    fn a_file_shorter_than_its_header_is_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 4.0);
        // Copied in part: a quarter of the data is there.
        let bytes = std::fs::read(&path).unwrap();
        let part = bytes[..44 + RATE as usize * 2].to_vec();
        let mut d = Decoder::open_bytes(&path, part, RATE, 1, DecodeOptions::default()).unwrap();
        assert_eq!(read_to_end(&mut d), RATE as usize);
        let why = d.damage().expect("damaged");
        assert!(why.contains("cut short"), "{why}");
        assert!(why.contains("1.0 s of the 4.0 s"), "{why}");
    }

    #[test]
    fn a_file_truncated_while_it_plays_is_cut_short_and_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 10.0);
        let mut d = Decoder::open(&path, RATE, 1).unwrap();
        let mut out = Vec::new();
        d.read(&mut out, RATE as usize / 2).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(44 + 6 * RATE as u64 * 2)
            .unwrap();
        // What the stream had read ahead before the cut still plays.
        let rest = read_to_end(&mut d);
        assert!(rest < 6 * RATE as usize, "{rest} frames after the cut");
        let why = d.damage().expect("damaged");
        assert!(why.contains("the file changed while it played"), "{why}");
        assert!(why.contains("cut short"), "{why}");
    }

    #[test]
    fn a_file_written_to_while_it_plays_has_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 3.0);
        let mut d = Decoder::open(&path, RATE, 1).unwrap();
        let mut out = Vec::new();
        d.read(&mut out, RATE as usize / 2).unwrap();
        // Random bytes over the middle, the size unchanged: they play as
        // noise, and nothing in the stream itself says so.
        let mut f = File::options().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(44 + RATE as u64 * 3)).unwrap();
        f.write_all(&[0x5a; 4000]).unwrap();
        drop(f);
        assert_eq!(read_to_end(&mut d), 3 * RATE as usize - RATE as usize / 2);
        let why = d.damage().expect("damaged");
        assert!(why.contains("rewritten in place"), "{why}");
        assert!(!why.contains("cut short"), "{why}");
    }

    #[test]
    fn a_file_replaced_by_a_rename_plays_the_old_one_undamaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 2.0);
        let mut d = Decoder::open(&path, RATE, 1).unwrap();
        // The usual way to update a file: write a new one, rename it over.
        let new = dir.path().join("new.wav");
        crate::media::tone::write_wav(&new, &[0.1; 800], RATE, 1).unwrap();
        std::fs::rename(&new, &path).unwrap();
        assert_eq!(read_to_end(&mut d), 2 * RATE as usize);
        assert_eq!(d.damage(), None);
    }

    /// Decode `path` to `rate` Hz mono from `frame` on, `frames` frames:
    /// by seeking when `seek`, else by reading from the start.
    fn window(path: &Path, rate: u32, frame: usize, frames: usize, seek: bool) -> Vec<f32> {
        let mut d = Decoder::open(path, rate, 1).unwrap();
        let mut out = Vec::new();
        if seek {
            d.seek_to(frame as u64).unwrap();
        } else {
            while out.len() < frame {
                let want = (frame - out.len()).min(4096);
                assert!(d.read(&mut out, want).unwrap() > 0);
            }
            out.clear();
        }
        while out.len() < frames {
            let want = (frames - out.len()).min(4096);
            assert!(d.read(&mut out, want).unwrap() > 0);
        }
        out
    }

    #[test]
    fn a_seek_lands_on_the_exact_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("noise.wav");
        // Noise-like, so that a frame off shows.
        let mut x = 0x9e37_79b9_u32;
        let samples: Vec<f32> = (0..RATE as usize * 30)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 20_000) as f32 / 40_000.0 - 0.25
            })
            .collect();
        crate::media::tone::write_wav(&path, &samples, RATE, 1).unwrap();
        for frame in [1, 4095, 4096, 123_457, 25 * RATE as usize] {
            let by_seek = window(&path, RATE, frame, 20_000, true);
            assert!(
                by_seek == window(&path, RATE, frame, 20_000, false),
                "at {frame}"
            );
        }
        // The seek's end is the file's end.
        let mut d = Decoder::open(&path, RATE, 1).unwrap();
        d.seek_to(29 * RATE as u64).unwrap();
        assert_eq!(read_to_end(&mut d), RATE as usize);
        assert_eq!(d.damage(), None);
    }

    #[test]
    fn a_seek_through_the_resampler_lands_on_the_same_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.wav");
        let samples = crate::media::tone::sine(997.0, 44_100, 20.0, 0.5);
        crate::media::tone::write_wav(&path, &samples, 44_100, 1).unwrap();
        for frame in [5, 48_001, 777_777] {
            let by_seek = window(&path, 48_000, frame, 9_600, true);
            let by_reading = window(&path, 48_000, frame, 9_600, false);
            let worst = by_seek
                .iter()
                .zip(&by_reading)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            // A frame off would differ by up to 0.5 * 2 * pi * 997 / 48000.
            assert!(worst < 1e-4, "at {frame}: off by up to {worst}");
        }
    }
}

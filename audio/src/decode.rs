//! Decoders behind one interface: each yields blocks of interleaved f32 at the source rate.
//! Symphonia demuxes every container and decodes FLAC, MP3, Vorbis and PCM; Opus packets go to
//! libopus; raw G.729 goes to libbcg729.

use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};

use symphonia::core::audio::{SampleBuffer, SignalSpec};
use symphonia::core::codecs::{self, CodecParameters, CodecType, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, Packet};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::default::formats::{FlacReader, MkvReader, MpaReader, OggReader, WavReader};

use crate::error::AudioError;
use crate::g729::{self, G729Decoder};
use crate::media::{Bytes, SliceSource};
use crate::opus::{OpusDecoder, OpusHead, OPUS_RATE};
use crate::sniff::{Detected, XiphCodec};
use crate::{AudioInfo, MAX_CHANNELS, MAX_RATE, MIN_RATE};

/// Bad packets tolerated before giving up: a damaged frame here and there (a bit error in an old
/// recording) should not cost the whole transcript, but a file that is mostly garbage after a
/// valid header must be rejected rather than transcribed as silence.
const MAX_BAD_PACKETS: u64 = 8;
/// ... and beyond that, the largest tolerated share of bad packets (1 in 20).
const MAX_BAD_SHARE: u64 = 20;

/// A decoder of one stream into interleaved f32 blocks at the source rate.
pub(crate) trait BlockSource: Send {
    /// Clears `out` and fills it with the next non-empty block of interleaved samples; returns
    /// its channel count, or `None` at the end of the stream.
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<Option<usize>, AudioError>;

    /// Frames (per channel) decoded so far.
    fn decoded_frames(&self) -> u64;
}

/// An opened stream: its description, the frame count its container declares (if it declares
/// an exact one), and its decoder.
pub(crate) struct Opened {
    pub info: AudioInfo,
    pub declared_frames: Option<u64>,
    pub source: Box<dyn BlockSource>,
}

fn check_shape(channels: u32, rate: u32) -> Result<(), AudioError> {
    if channels > u32::from(MAX_CHANNELS) {
        return Err(AudioError::TooManyChannels { channels });
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(AudioError::UnsupportedSampleRate { rate });
    }
    Ok(())
}

fn undecodable(mime: &str, detail: impl Into<String>) -> AudioError {
    AudioError::Undecodable {
        format: mime.to_owned(),
        detail: detail.into(),
    }
}

/// Symphonia is pure Rust but not hardened against every malformed input (some paths still
/// `unwrap`); a panic on a user's file must become that file's error, not take down a worker.
fn guarded<T>(mime: &str, f: impl FnOnce() -> Result<T, SymError>) -> Result<T, SymErrorOr> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SymErrorOr::Sym(e)),
        Err(_) => Err(SymErrorOr::Fatal(undecodable(
            mime,
            "the decoder failed on malformed data",
        ))),
    }
}

enum SymErrorOr {
    Sym(SymError),
    Fatal(AudioError),
}

/// Opens the detected format over the caller's bytes.
pub(crate) fn open(
    bytes: Bytes,
    detected: Detected,
    allow_g729: bool,
) -> Result<Opened, AudioError> {
    match detected {
        Detected::G729 => open_g729(bytes, allow_g729),
        Detected::Wav(header) => {
            let mime = "audio/wav";
            // The RIFF size is not trusted (the chunks were validated against the real file
            // size instead), but symphonia rejects a data chunk longer than it, which writers
            // that never patch their header produce. u32::MAX is what symphonia (like ffmpeg's
            // streamed output) takes as "unknown".
            let source = SliceSource::new(bytes.clone(), 0).with_patch(4, [0xFF; 4]);
            let (reader, track_id, params) = open_reader(source, mime, |mss, o| {
                Ok(Box::new(WavReader::try_new(mss, o)?))
            })?;
            check_shape(u32::from(header.channels), header.sample_rate)?;
            let decoder = symphonia_decoder(&params, mime)?;
            let info = stream_info(
                mime,
                header.sample_rate,
                header.channels,
                header.declared_frames,
            );
            Ok(symphonia_source(
                info,
                header.declared_frames,
                reader,
                track_id,
                decoder,
            ))
        }
        Detected::Flac { offset } => {
            let mime = "audio/flac";
            let (reader, track_id, params) =
                open_reader(SliceSource::new(bytes.clone(), offset), mime, |mss, o| {
                    Ok(Box::new(FlacReader::try_new(mss, o)?))
                })?;
            // STREAMINFO's total is exact; 0 means "unknown".
            let declared = params.n_frames.filter(|&n| n > 0);
            simple_symphonia(mime, reader, track_id, params, declared)
        }
        Detected::Mpeg { offset, length_tag } => {
            let mime = "audio/mpeg";
            let (reader, track_id, params) =
                open_reader(SliceSource::new(bytes.clone(), offset), mime, |mss, o| {
                    Ok(Box::new(MpaReader::try_new(mss, o)?))
                })?;
            // Without a Xing/Info/VBRI tag, symphonia estimates the length from the bitrate,
            // which is no basis for calling a file truncated.
            let declared = params.n_frames.filter(|_| length_tag);
            simple_symphonia(mime, reader, track_id, params, declared)
        }
        Detected::Ogg(codec) => {
            let mime = format!("audio/ogg;codecs={}", codec.name());
            let (reader, track_id, params) =
                open_reader(SliceSource::new(bytes.clone(), 0), &mime, |mss, o| {
                    Ok(Box::new(OggReader::try_new(mss, o)?))
                })?;
            open_xiph(&mime, codec, reader, track_id, params, false)
        }
        Detected::Matroska => {
            let (reader, track_id, params) = open_reader(
                SliceSource::new(bytes.clone(), 0),
                "audio/webm",
                |mss, o| Ok(Box::new(MkvReader::try_new(mss, o)?)),
            )?;
            let codec = match params.codec {
                codecs::CODEC_TYPE_OPUS => XiphCodec::Opus,
                codecs::CODEC_TYPE_VORBIS => XiphCodec::Vorbis,
                other => {
                    return Err(AudioError::UnsupportedCodec {
                        container: "WebM",
                        codec: codec_name(other).to_owned(),
                    })
                }
            };
            let mime = format!("audio/webm;codecs={}", codec.name());
            open_xiph(&mime, codec, reader, track_id, params, true)
        }
    }
}

type MakeReader = fn(MediaSourceStream, &FormatOptions) -> Result<Box<dyn FormatReader>, SymError>;

/// Creates the format reader over `source` and picks the audio track: the first one with a
/// codec the service decodes (an Ogg or WebM file may also carry video).
fn open_reader(
    source: SliceSource,
    mime: &str,
    make: MakeReader,
) -> Result<(Box<dyn FormatReader>, u32, CodecParameters), AudioError> {
    let mss = MediaSourceStream::new(Box::new(source), MediaSourceStreamOptions::default());
    // Gapless: symphonia trims encoder delay and padding (MP3 LAME tags, Vorbis/Opus end
    // granules), so durations match the original audio.
    let options = FormatOptions {
        enable_gapless: true,
        ..FormatOptions::default()
    };
    let reader = match guarded(mime, || make(mss, &options)) {
        Ok(reader) => reader,
        Err(SymErrorOr::Fatal(e)) => return Err(e),
        Err(SymErrorOr::Sym(e)) => {
            return Err(match e {
                SymError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
                    undecodable(mime, "the file ends inside its header")
                }
                SymError::Unsupported(what) => AudioError::UnsupportedFormat {
                    format: format!("This {mime} variant ({what})"),
                },
                other => AudioError::InvalidHeader {
                    format: mime_format_name(mime),
                    detail: other.to_string(),
                },
            })
        }
    };
    let tracks = reader.tracks();
    let track = tracks
        .iter()
        .find(|t| {
            matches!(
                t.codec_params.codec,
                codecs::CODEC_TYPE_OPUS
                    | codecs::CODEC_TYPE_VORBIS
                    | codecs::CODEC_TYPE_FLAC
                    | codecs::CODEC_TYPE_MP1
                    | codecs::CODEC_TYPE_MP2
                    | codecs::CODEC_TYPE_MP3
            ) || symphonia_pcm(t.codec_params.codec)
        })
        .or_else(|| tracks.first())
        .ok_or_else(|| undecodable(mime, "the file contains no audio track"))?;
    let (id, params) = (track.id, track.codec_params.clone());
    Ok((reader, id, params))
}

fn symphonia_pcm(codec: CodecType) -> bool {
    use codecs::*;
    [
        CODEC_TYPE_PCM_U8,
        CODEC_TYPE_PCM_S16LE,
        CODEC_TYPE_PCM_S24LE,
        CODEC_TYPE_PCM_S32LE,
        CODEC_TYPE_PCM_F32LE,
        CODEC_TYPE_PCM_F64LE,
        CODEC_TYPE_PCM_ALAW,
        CODEC_TYPE_PCM_MULAW,
    ]
    .contains(&codec)
}

/// A readable name for the codecs one meets in Matroska files.
fn codec_name(codec: CodecType) -> &'static str {
    use codecs::*;
    match codec {
        CODEC_TYPE_AAC => "AAC",
        CODEC_TYPE_FLAC => "FLAC",
        CODEC_TYPE_MP3 | CODEC_TYPE_MP2 | CODEC_TYPE_MP1 => "MPEG audio",
        CODEC_TYPE_ALAC => "ALAC",
        CODEC_TYPE_NULL => "missing or in an unknown codec",
        c if symphonia_pcm(c) => "PCM",
        _ => "in another codec",
    }
}

fn mime_format_name(mime: &str) -> &'static str {
    match mime.split(';').next() {
        Some("audio/flac") => "FLAC",
        Some("audio/mpeg") => "MPEG audio",
        Some("audio/ogg") => "Ogg",
        Some("audio/webm") => "WebM",
        _ => "WAV",
    }
}

fn symphonia_decoder(params: &CodecParameters, mime: &str) -> Result<Box<dyn Decoder>, AudioError> {
    let registry = symphonia::default::get_codecs();
    match guarded(mime, || {
        registry.make(params, &DecoderOptions { verify: false })
    }) {
        Ok(decoder) => Ok(decoder),
        Err(SymErrorOr::Fatal(e)) => Err(e),
        Err(SymErrorOr::Sym(e)) => Err(undecodable(mime, e.to_string())),
    }
}

/// FLAC and MP3: channels and rate are in the codec parameters.
fn simple_symphonia(
    mime: &str,
    reader: Box<dyn FormatReader>,
    track_id: u32,
    params: CodecParameters,
    declared: Option<u64>,
) -> Result<Opened, AudioError> {
    let rate = params
        .sample_rate
        .ok_or_else(|| undecodable(mime, "the stream declares no sampling rate"))?;
    let channels = params
        .channels
        .map(|c| c.count() as u32)
        .ok_or_else(|| undecodable(mime, "the stream declares no channel count"))?;
    check_shape(channels, rate)?;
    let decoder = symphonia_decoder(&params, mime)?;
    let info = stream_info(mime, rate, channels as u16, declared);
    Ok(symphonia_source(info, declared, reader, track_id, decoder))
}

/// The channel count and rate from a Vorbis identification header, wherever it sits in the
/// codec's extra data (Ogg passes it alone, Matroska Xiph-laces it with the other headers).
fn vorbis_ident(extra: &[u8]) -> Option<(u32, u32)> {
    let at = extra.windows(7).position(|w| w == b"\x01vorbis")?;
    let b = extra.get(at + 7..at + 16)?;
    // vorbis_version (4), audio_channels (1), audio_sample_rate (4).
    Some((
        u32::from(b[4]),
        u32::from_le_bytes([b[5], b[6], b[7], b[8]]),
    ))
}

/// Ogg and WebM with Opus or Vorbis.
fn open_xiph(
    mime: &str,
    codec: XiphCodec,
    reader: Box<dyn FormatReader>,
    track_id: u32,
    params: CodecParameters,
    matroska: bool,
) -> Result<Opened, AudioError> {
    let extra = params.extra_data.as_deref().unwrap_or_default();
    // Matroska declares a duration (in its time base, usually ms) rather than a frame count;
    // Ogg's count comes from the last page's granule position.
    let declared_seconds = params.n_frames.and_then(|n| {
        if matroska {
            let tb = params.time_base?;
            Some(n as f64 * f64::from(tb.numer) / f64::from(tb.denom))
        } else {
            None
        }
    });
    match codec {
        XiphCodec::Opus => {
            let head = OpusHead::parse(extra)
                .ok_or_else(|| undecodable(mime, "the Opus identification header is invalid"))?;
            check_shape(u32::from(head.channels), OPUS_RATE)?;
            let decoder = OpusDecoder::new(&head).map_err(|e| undecodable(mime, e))?;
            let declared = if matroska {
                declared_seconds.map(|s| (s * f64::from(OPUS_RATE)).round() as u64)
            } else {
                // The last granule position counts the pre-skip too.
                params
                    .n_frames
                    .map(|n| n.saturating_sub(u64::from(head.pre_skip)))
            };
            let info = stream_info(mime, OPUS_RATE, u16::from(head.channels), declared);
            Ok(Opened {
                info,
                declared_frames: declared,
                source: Box::new(SymphoniaSource::new(
                    mime,
                    reader,
                    track_id,
                    Codec::Opus {
                        decoder,
                        skip_left: u64::from(head.pre_skip),
                    },
                )),
            })
        }
        XiphCodec::Vorbis => {
            let (channels, rate) = vorbis_ident(extra)
                .or_else(|| Some((params.channels?.count() as u32, params.sample_rate?)))
                .ok_or_else(|| undecodable(mime, "the Vorbis identification header is missing"))?;
            check_shape(channels, rate)?;
            if channels == 0 {
                return Err(undecodable(mime, "the Vorbis header declares 0 channels"));
            }
            let decoder = symphonia_decoder(&params, mime)?;
            let declared = if matroska {
                declared_seconds.map(|s| (s * f64::from(rate)).round() as u64)
            } else {
                params.n_frames
            };
            let info = stream_info(mime, rate, channels as u16, declared);
            Ok(symphonia_source(info, declared, reader, track_id, decoder))
        }
    }
}

/// What the caller learns about a stream: its format, shape and declared length.
fn stream_info(mime: &str, rate: u32, channels: u16, declared_frames: Option<u64>) -> AudioInfo {
    AudioInfo {
        mime: mime.to_owned(),
        sample_rate: rate,
        channels,
        declared_duration: declared_frames.map(|f| f as f64 / f64::from(rate)),
    }
}

fn symphonia_source(
    info: AudioInfo,
    declared_frames: Option<u64>,
    reader: Box<dyn FormatReader>,
    track_id: u32,
    decoder: Box<dyn Decoder>,
) -> Opened {
    let source = SymphoniaSource::new(&info.mime, reader, track_id, Codec::Symphonia(decoder));
    Opened {
        info,
        declared_frames,
        source: Box::new(source),
    }
}

enum Codec {
    Symphonia(Box<dyn Decoder>),
    /// libopus, with the pre-skip still to drop at 48 kHz.
    Opus {
        decoder: OpusDecoder,
        skip_left: u64,
    },
}

/// A symphonia demuxer feeding a symphonia decoder or libopus.
struct SymphoniaSource {
    mime: String,
    reader: Box<dyn FormatReader>,
    track_id: u32,
    codec: Codec,
    sample_buf: Option<(SampleBuffer<f32>, SignalSpec)>,
    decoded: u64,
    good_packets: u64,
    bad_packets: u64,
    done: bool,
}

impl SymphoniaSource {
    fn new(mime: &str, reader: Box<dyn FormatReader>, track_id: u32, codec: Codec) -> Self {
        SymphoniaSource {
            mime: mime.to_owned(),
            reader,
            track_id,
            codec,
            sample_buf: None,
            decoded: 0,
            good_packets: 0,
            bad_packets: 0,
            done: false,
        }
    }

    /// Counts a damaged packet; fails once there are too many (see [`MAX_BAD_PACKETS`]).
    fn bad_packet(&mut self, detail: String) -> Result<(), AudioError> {
        self.bad_packets += 1;
        let total = self.good_packets + self.bad_packets;
        if self.bad_packets > MAX_BAD_PACKETS && self.bad_packets * MAX_BAD_SHARE > total {
            self.done = true;
            return Err(undecodable(
                &self.mime,
                format!(
                    "{} of {} packets are damaged (last error: {detail})",
                    self.bad_packets, total
                ),
            ));
        }
        Ok(())
    }

    /// Decodes one packet into `out`; returns the channel count, or `None` for a bad packet.
    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<Option<usize>, AudioError> {
        match &mut self.codec {
            Codec::Symphonia(decoder) => {
                let decoded = match guarded(&self.mime, || decoder.decode(packet)) {
                    Ok(buf) => buf,
                    Err(SymErrorOr::Fatal(e)) => {
                        self.done = true;
                        return Err(e);
                    }
                    Err(SymErrorOr::Sym(SymError::DecodeError(e))) => {
                        self.bad_packet(e.to_owned())?;
                        return Ok(None);
                    }
                    Err(SymErrorOr::Sym(SymError::IoError(e))) => {
                        self.bad_packet(e.to_string())?;
                        return Ok(None);
                    }
                    Err(SymErrorOr::Sym(e)) => {
                        self.done = true;
                        return Err(undecodable(&self.mime, e.to_string()));
                    }
                };
                let spec = *decoded.spec();
                let frames = decoded.frames();
                let channels = spec.channels.count();
                if channels > usize::from(MAX_CHANNELS) {
                    self.done = true;
                    return Err(AudioError::TooManyChannels {
                        channels: channels as u32,
                    });
                }
                // Reuse the conversion buffer while it is big enough and of the same layout.
                let buf = match &mut self.sample_buf {
                    Some((buf, buf_spec))
                        if buf.capacity() >= frames * channels && *buf_spec == spec =>
                    {
                        buf
                    }
                    slot => {
                        let buf = SampleBuffer::new(decoded.capacity() as u64, spec);
                        &mut slot.insert((buf, spec)).0
                    }
                };
                buf.copy_interleaved_ref(decoded);
                out.extend_from_slice(&buf.samples()[..frames * channels]);
                Ok(Some(channels))
            }
            Codec::Opus { decoder, skip_left } => {
                let channels = decoder.channels();
                let frames = match decoder.decode(&packet.data, out) {
                    Ok(frames) => frames,
                    Err(e) => {
                        out.clear();
                        self.bad_packet(e)?;
                        return Ok(None);
                    }
                };
                // The pre-skip counts from the start of the stream; whatever the demuxer already
                // asked to trim from this packet counts towards it.
                let front = (packet.trim_start as u64)
                    .max(*skip_left)
                    .min(frames as u64) as usize;
                *skip_left = skip_left.saturating_sub(front as u64);
                let back = (packet.trim_end as usize).min(frames - front);
                out.truncate((frames - back) * channels);
                out.drain(..front * channels);
                Ok(Some(channels))
            }
        }
    }
}

impl BlockSource for SymphoniaSource {
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<Option<usize>, AudioError> {
        loop {
            out.clear();
            if self.done {
                return Ok(None);
            }
            let packet = match guarded(&self.mime, || self.reader.next_packet()) {
                Ok(packet) => packet,
                Err(SymErrorOr::Sym(SymError::IoError(e)))
                    if e.kind() == ErrorKind::UnexpectedEof =>
                {
                    // The normal end of the stream, or a cut inside the last packet: the
                    // declared-length check tells the two apart.
                    self.done = true;
                    return Ok(None);
                }
                Err(SymErrorOr::Sym(SymError::ResetRequired)) => {
                    self.done = true;
                    return Err(undecodable(
                        &self.mime,
                        "the stream changes its audio parameters part-way (chained streams \
                         are not supported)",
                    ));
                }
                Err(SymErrorOr::Sym(e)) => {
                    self.done = true;
                    return Err(undecodable(&self.mime, e.to_string()));
                }
                Err(SymErrorOr::Fatal(e)) => {
                    self.done = true;
                    return Err(e);
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            if let Some(channels) = self.decode(&packet, out)? {
                self.good_packets += 1;
                let frames = out.len() / channels.max(1);
                self.decoded += frames as u64;
                if frames > 0 {
                    return Ok(Some(channels));
                }
            }
        }
    }

    fn decoded_frames(&self) -> u64 {
        self.decoded
    }
}

/// Frames of G.729 per block: 0.5 s.
const G729_BLOCK_FRAMES: usize = 50;

fn open_g729(bytes: Bytes, allow_g729: bool) -> Result<Opened, AudioError> {
    if !allow_g729 {
        return Err(AudioError::G729NeedsNarrowband);
    }
    let len = (*bytes).as_ref().len();
    if len % g729::FRAME_BYTES != 0 {
        return Err(undecodable(
            "audio/g729",
            format!(
                "the file is {len} bytes long, which is not a whole number of 10-byte G.729 \
                 frames (only raw 8 kbit/s G.729 without a header is supported)"
            ),
        ));
    }
    let frames = (len / g729::FRAME_BYTES * g729::FRAME_SAMPLES) as u64;
    let decoder = G729Decoder::new().map_err(AudioError::Internal)?;
    Ok(Opened {
        info: stream_info("audio/g729", g729::G729_RATE, 1, Some(frames)),
        declared_frames: Some(frames),
        source: Box::new(G729Source {
            bytes,
            pos: 0,
            decoder,
            decoded: 0,
        }),
    })
}

/// Raw G.729: consecutive 10-byte frames.
struct G729Source {
    bytes: Bytes,
    pos: usize,
    decoder: G729Decoder,
    decoded: u64,
}

impl BlockSource for G729Source {
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<Option<usize>, AudioError> {
        out.clear();
        let data = (*self.bytes).as_ref();
        let end = data
            .len()
            .min(self.pos + G729_BLOCK_FRAMES * g729::FRAME_BYTES);
        for frame in data[self.pos..end].chunks_exact(g729::FRAME_BYTES) {
            let frame: &[u8; g729::FRAME_BYTES] = frame.try_into().expect("chunks_exact");
            self.decoder.decode_frame(frame, out);
        }
        self.pos = end;
        self.decoded += out.len() as u64;
        Ok((!out.is_empty()).then_some(1))
    }

    fn decoded_frames(&self) -> u64 {
        self.decoded
    }
}

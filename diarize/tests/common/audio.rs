//! Reading the development set's audio (test-only: the engine's decoder is speechbatch-audio).

use std::fs::File;
use std::path::Path;

use super::SR;

/// Decodes a FLAC or WAV file to 16 kHz mono f32 (8 kHz files are upsampled as the engine does).
pub fn read_audio(path: &Path) -> Vec<f32> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .expect("probe audio");
    let mut format = probed.format;
    let track = format.default_track().expect("audio track").clone();
    let rate = track.codec_params.sample_rate.expect("sample rate") as usize;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("decoder");
    let mut mono = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let decoded = decoder.decode(&packet).expect("decode");
        let channels = decoded.spec().channels.count();
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
        buf.copy_interleaved_ref(decoded);
        mono.extend(
            buf.samples()
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() / channels as f32),
        );
    }
    if rate == SR {
        mono
    } else {
        resample(&mono, rate)
    }
}

/// Resamples mono audio to 16 kHz with rubato's FFT resampler.
pub fn resample(input: &[f32], rate: usize) -> Vec<f32> {
    resample_to(input, rate, SR)
}

/// Resamples mono audio between any two rates.
pub fn resample_to(input: &[f32], from: usize, to: usize) -> Vec<f32> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};
    let mut r = Fft::<f32>::new(from, to, 1024, 1, FixedSync::Both).expect("resampler");
    let adapter = InterleavedSlice::new(input, 1, input.len()).expect("adapter");
    r.process_all(&adapter, input.len(), None)
        .expect("resample")
        .take_data()
}

/// G.711 mu-law encode and decode of one sample (8-bit companding, as on a telephone line).
pub fn mu_law_round_trip(x: f32) -> f32 {
    const MU: f32 = 255.0;
    let x = x.clamp(-1.0, 1.0);
    let y = x.signum() * (1.0 + MU * x.abs()).ln() / (1.0 + MU).ln();
    let q = (y * 127.0).round() / 127.0;
    q.signum() * ((1.0 + MU).powf(q.abs()) - 1.0) / MU
}

//! Decodes files given on the command line and prints what was detected (a debugging aid).
fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable file");
        let opts = speechbatch_audio::DecodeOptions {
            name_hint: Some(&path),
            allow_g729: true,
        };
        match speechbatch_audio::decode_all(&bytes, &opts) {
            Ok((info, samples)) => println!(
                "{path}: {info:?}, {:.4} s at 16 kHz",
                samples.len() as f64 / f64::from(speechbatch_audio::TARGET_RATE)
            ),
            Err(e) => println!("{path}: error ({}): {e}", e.http_status()),
        }
    }
}

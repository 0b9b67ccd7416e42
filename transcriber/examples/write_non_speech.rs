//! Writes the generated non-speech set (`speechbatch_testkit::non_speech_set`) as 16 kHz WAV
//! files, for the benchmarks: `cargo run --release -p transcriber --example write_non_speech -- DIR [SECONDS]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: write_non_speech DIR [SECONDS]"));
    let seconds: f32 = args
        .next()
        .map_or(30.0, |s| s.parse().expect("SECONDS is a number"));
    std::fs::create_dir_all(&dir).expect("creating the folder");
    for s in speechbatch_testkit::non_speech_set(seconds) {
        let name: String = s
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("{name}.wav"));
        std::fs::write(
            &path,
            speechbatch_testkit::wav_from_f32(16_000, 1, &s.samples),
        )
        .expect("writing a file");
        println!("{}", path.display());
    }
}

//! The log-mel front end against Whisper's own reference filterbank (`mel_filters.npz` from the
//! openai-whisper package, unpacked by set-up).

use ndarray::Array2;
use ndarray_npy::NpzReader;
use transcriber::mel::MelFrontEnd;

#[test]
fn filterbank_matches_whispers_reference() {
    let path = transcriber::runtime::models_dir().join("reference/mel_filters.npz");
    let mut npz = NpzReader::new(std::fs::File::open(&path).expect("run setup/models.sh")).unwrap();
    let reference: Array2<f32> = npz
        .by_name("mel_80")
        .or_else(|_| npz.by_name("mel_80.npy"))
        .unwrap();
    let fe = MelFrontEnd::new(80);
    assert_eq!(reference.shape(), &[80, 201]);
    let mut max_err = 0f32;
    for (m, row) in fe.filters().iter().enumerate() {
        for (k, w) in row.iter().enumerate() {
            max_err = max_err.max((w - reference[[m, k]]).abs());
        }
    }
    assert!(max_err < 1e-6, "largest difference {max_err}");
}

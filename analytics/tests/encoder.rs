//! The sentence encoder as the service runs it (the model set-up built, the Rust tokenizer, ONNX
//! Runtime) against the reference the converter wrote from an independent numpy forward pass
//! (`testdata/analytics/minilm-reference.json`): the same word pieces and the same embeddings.

use speechbatch_analytics::encoder::{cosine, SentenceEncoder, DIM};

#[test]
fn tokens_and_embeddings_match_the_reference() {
    let reference: serde_json::Value = serde_json::from_slice(&speechbatch_testkit::read_testdata(
        "analytics/minilm-reference.json",
    ))
    .unwrap();
    let encoder = SentenceEncoder::load(&SentenceEncoder::default_dir(), 1).unwrap();
    let sentences = reference["sentences"].as_array().unwrap();
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    // All at once: padding to the longest must not change any embedding.
    let got = encoder.encode(&texts).unwrap();
    for (s, e) in sentences.iter().zip(&got) {
        let ids: Vec<i64> = serde_json::from_value(s["input_ids"].clone()).unwrap();
        assert_eq!(
            encoder.token_ids(s["text"].as_str().unwrap()).unwrap(),
            vec![ids]
        );
        let want: Vec<f32> = serde_json::from_value(s["embedding"].clone()).unwrap();
        assert_eq!(e.len(), DIM);
        let worst = e
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{}: max abs difference {worst}", s["text"]);
    }
    // Paraphrases are closer than unrelated sentences.
    let e = encoder
        .encode(&[
            "I was charged twice for my monthly plan",
            "You billed me two times this month",
            "The hotel room has an ocean view",
        ])
        .unwrap();
    assert!(cosine(&e[0], &e[1]) > cosine(&e[0], &e[2]) + 0.3);
}

#[test]
fn long_texts_are_cut_into_pieces_and_all_of_them_count() {
    let encoder = SentenceEncoder::load(&SentenceEncoder::default_dir(), 1).unwrap();
    let long = "my debit card was charged twice for the same purchase ".repeat(60);
    let pieces = encoder.token_ids(&long).unwrap();
    assert!(pieces.len() > 1);
    assert!(pieces
        .iter()
        .all(|p| p.len() <= speechbatch_analytics::encoder::MAX_TOKENS));
    let e = encoder
        .encode(&[long.as_str(), "a double charge on my card"])
        .unwrap();
    let norm: f32 = e[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    assert!(cosine(&e[0], &e[1]) > 0.4, "{}", cosine(&e[0], &e[1]));
}

//! Analyses recognised files as a batch: `analyse OUT_DIR FILE.json...` writes each file with
//! its analytics to OUT_DIR, and OUT_DIR/Conversation.zip and OUT_DIR/Speaker.zip (for trying
//! the analytics on results without running a batch).

use speechbatch_analytics::{archive, with_analytics, Analyzer, Document, SentenceEncoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, files) = args
        .split_first()
        .ok_or("usage: analyse OUT_DIR FILE.json...")?;
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out)?;
    let mut docs = Vec::new();
    for f in files {
        let name = std::path::Path::new(f)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .trim_end_matches(".json")
            .to_owned();
        docs.push(Document {
            id: name,
            result: serde_json::from_slice(&std::fs::read(f)?)?,
        });
    }
    docs.sort_by(|a, b| a.id.cmp(&b.id));
    let analyzer = Analyzer::new(SentenceEncoder::load(&SentenceEncoder::default_dir(), 2)?)?;
    let t = std::time::Instant::now();
    let batch = analyzer.analyse(&docs)?;
    for (d, a) in docs.iter().zip(&batch.files) {
        let v = with_analytics(&d.result, a);
        std::fs::write(
            out.join(format!("{}.json", d.id)),
            serde_json::to_vec_pretty(&v)?,
        )?;
    }
    std::fs::write(
        out.join(archive::CONVERSATION_ZIP),
        archive::conversation_zip(&batch),
    )?;
    std::fs::write(out.join(archive::SPEAKER_ZIP), archive::speaker_zip(&batch))?;
    eprintln!(
        "{} files analysed in {:.2} s",
        docs.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

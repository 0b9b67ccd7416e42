//! Whisper's byte-level BPE vocabulary, for turning token ids back into text.
//!
//! The engine only decodes (the prompt is special tokens, looked up by name), so this reads the
//! `tokenizer.json` vocabulary and GPT-2's byte-to-character table rather than pulling in the full
//! `tokenizers` crate with its regex and encoder machinery.

use std::collections::HashMap;
use std::path::Path;

use crate::EngineError;

/// Token ids of the special tokens the decoder needs.
#[derive(Debug, Clone, Copy)]
pub struct SpecialTokens {
    /// `<|endoftext|>`: the end of a transcript.
    pub eot: u32,
    /// `<|startoftranscript|>`.
    pub sot: u32,
    /// `<|en|>` on multilingual models.
    pub english: Option<u32>,
    /// `<|transcribe|>`.
    pub transcribe: u32,
    /// `<|notimestamps|>`.
    pub no_timestamps: u32,
    /// `<|nospeech|>` (`<|nocaptions|>` in the first models' vocabularies): its probability
    /// after the start token says how likely the window holds no speech.
    pub no_speech: Option<u32>,
}

/// Maps token ids to their bytes.
pub struct Tokenizer {
    bytes: Vec<Vec<u8>>,
    special: SpecialTokens,
}

impl Tokenizer {
    /// Loads the vocabulary of `tokenizer.json` (Hugging Face format, as the model packages ship).
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::Model(format!("cannot read {}: {e}", path.display())))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| EngineError::Model(format!("{}: {e}", path.display())))?;
        let mut by_name: HashMap<String, u32> = HashMap::new();
        if let Some(vocab) = json["model"]["vocab"].as_object() {
            for (name, id) in vocab {
                by_name.insert(name.clone(), id.as_u64().unwrap_or(0) as u32);
            }
        }
        if let Some(added) = json["added_tokens"].as_array() {
            for t in added {
                if let (Some(name), Some(id)) = (t["content"].as_str(), t["id"].as_u64()) {
                    by_name.insert(name.to_string(), id as u32);
                }
            }
        }
        let unicode_to_byte = unicode_to_byte();
        let size = by_name.values().max().map_or(0, |m| *m as usize + 1);
        let mut bytes = vec![Vec::new(); size];
        for (name, &id) in &by_name {
            bytes[id as usize] = if name.starts_with("<|") && name.ends_with("|>") {
                name.as_bytes().to_vec()
            } else {
                name.chars()
                    .map(|c| unicode_to_byte.get(&c).copied().unwrap_or(b'?'))
                    .collect()
            };
        }
        let get = |name: &str| {
            by_name
                .get(name)
                .copied()
                .ok_or_else(|| EngineError::Model(format!("{}: no token {name}", path.display())))
        };
        let special = SpecialTokens {
            eot: get("<|endoftext|>")?,
            sot: get("<|startoftranscript|>")?,
            english: by_name.get("<|en|>").copied(),
            transcribe: get("<|transcribe|>")?,
            no_timestamps: get("<|notimestamps|>")?,
            no_speech: by_name
                .get("<|nospeech|>")
                .or_else(|| by_name.get("<|nocaptions|>"))
                .copied(),
        };
        Ok(Self { bytes, special })
    }

    /// The special tokens.
    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    /// The bytes of a token sequence (UTF-8 text, unless it was cut inside a character).
    pub fn bytes_of(&self, tokens: &[u32]) -> Vec<u8> {
        tokens
            .iter()
            .flat_map(|&t| self.token_bytes(t).iter().copied())
            .collect()
    }

    /// The raw bytes of one token (possibly part of a UTF-8 character).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map_or(&[], |b| b.as_slice())
    }
}

/// GPT-2's reversible byte <-> printable character table (`bytes_to_unicode`), inverted.
fn unicode_to_byte() -> HashMap<char, u8> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut map = HashMap::new();
    let mut n = 0;
    for b in 0u32..256 {
        let c = if printable(b) {
            b
        } else {
            n += 1;
            255 + n
        };
        map.insert(char::from_u32(c).expect("valid code point"), b as u8);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_and_newline_map_to_their_gpt2_characters() {
        let map = unicode_to_byte();
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
        assert_eq!(map[&'a'], b'a');
        assert_eq!(map.len(), 256);
    }
}

//! Whisper's byte-level BPE vocabulary, for turning token ids back into text.
//!
//! The engine mostly decodes; it encodes only the few words of a custom model's prompt. So this
//! reads the `tokenizer.json` vocabulary and merges with GPT-2's byte-to-character table, and
//! encodes with a plain byte-pair loop, rather than pulling in the full `tokenizers` crate with
//! its regex and normaliser machinery for a few dozen words per job.

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
    /// `<|startofprev|>`: opens the text the decoder is given as context before the transcript.
    pub start_of_prev: Option<u32>,
}

/// Maps token ids to their bytes.
pub struct Tokenizer {
    bytes: Vec<Vec<u8>>,
    special: SpecialTokens,
    /// Token ids by their bytes, for encoding.
    ids: HashMap<Vec<u8>, u32>,
    /// The rank of each merge (lower merges first), by the byte strings it joins.
    merges: HashMap<(Vec<u8>, Vec<u8>), u32>,
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
        let to_bytes = |s: &str| -> Vec<u8> {
            s.chars()
                .map(|c| unicode_to_byte.get(&c).copied().unwrap_or(b'?'))
                .collect()
        };
        let mut merges = HashMap::new();
        if let Some(list) = json["model"]["merges"].as_array() {
            for (rank, m) in list.iter().enumerate() {
                // Older files write a merge as "a b", newer ones as ["a", "b"].
                let pair = match m {
                    serde_json::Value::String(s) => s.split_once(' '),
                    serde_json::Value::Array(v) => {
                        v[0].as_str().zip(v.get(1).and_then(|b| b.as_str()))
                    }
                    _ => None,
                };
                if let Some((a, b)) = pair {
                    merges.insert((to_bytes(a), to_bytes(b)), rank as u32);
                }
            }
        }
        let ids = by_name
            .iter()
            .filter(|(name, _)| !(name.starts_with("<|") && name.ends_with("|>")))
            .map(|(name, &id)| (to_bytes(name), id))
            .collect();
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
            start_of_prev: by_name.get("<|startofprev|>").copied(),
        };
        Ok(Self {
            bytes,
            special,
            ids,
            merges,
        })
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

    /// The tokens of `text`, as GPT-2's byte-level BPE makes them: the text is cut into pieces
    /// (a word, a number or a run of punctuation, each with the space before it), and each
    /// piece's bytes are merged pair by pair in the merges' order.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        pieces(text)
            .into_iter()
            .flat_map(|piece| self.encode_piece(piece.as_bytes()))
            .collect()
    }

    fn encode_piece(&self, piece: &[u8]) -> Vec<u32> {
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let best = parts
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| {
                    self.merges
                        .get(&(w[0].clone(), w[1].clone()))
                        .map(|&rank| (rank, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        parts
            .iter()
            .filter_map(|p| self.ids.get(p).copied())
            .collect()
    }
}

/// GPT-2's pre-tokenisation: letters, digits and other non-space characters in runs of one
/// kind, each taking one space before it; other whitespace on its own.
fn pieces(text: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Letter,
        Digit,
        Other,
        Space,
    }
    let kind = |c: char| {
        if c.is_alphabetic() {
            Kind::Letter
        } else if c.is_numeric() {
            Kind::Digit
        } else if c.is_whitespace() {
            Kind::Space
        } else {
            Kind::Other
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_kind = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let k = kind(c);
        // A single space joins the piece after it.
        if c == ' ' && chars.peek().is_some_and(|&n| kind(n) != Kind::Space) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.push(c);
            current_kind = None;
            continue;
        }
        match current_kind {
            Some(ck) if ck == k => current.push(c),
            None if !current.is_empty() => {
                current.push(c);
                current_kind = Some(k);
            }
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                current.push(c);
                current_kind = Some(k);
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
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
    fn text_is_cut_into_gpt2_pieces() {
        assert_eq!(
            pieces("Hello Zentraphone, X9 ok!"),
            ["Hello", " Zentraphone", ",", " X", "9", " ok", "!"]
        );
    }

    #[test]
    fn space_and_newline_map_to_their_gpt2_characters() {
        let map = unicode_to_byte();
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
        assert_eq!(map[&'a'], b'a');
        assert_eq!(map.len(), 256);
    }
}

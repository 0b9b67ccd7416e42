//! Moonshine's SentencePiece vocabulary (`tokens.json`, written by `setup/convert_moonshine.py`),
//! for turning token ids back into text.

use std::path::Path;

use serde::Deserialize;

use crate::EngineError;

/// `▁` (U+2581): SentencePiece's mark for a space.
const SPACE_MARK: &str = "\u{2581}";

#[derive(Deserialize)]
struct TokensFile {
    unk_id: u32,
    bos_id: u32,
    eos_id: u32,
    byte_fallback_base: u32,
    tokens: Vec<String>,
}

/// Maps token ids to their bytes.
pub struct MoonshineTokenizer {
    /// Each id's text bytes, `▁` already a space; empty for special ids.
    bytes: Vec<Vec<u8>>,
    unk: u32,
    bos: u32,
    eos: u32,
}

impl MoonshineTokenizer {
    /// Loads `tokens.json`.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::Model(format!("cannot read {}: {e}", path.display())))?;
        let file: TokensFile = serde_json::from_str(&text)
            .map_err(|e| EngineError::Model(format!("{}: {e}", path.display())))?;
        Ok(Self::new(file))
    }

    fn new(file: TokensFile) -> Self {
        let bytes = file
            .tokens
            .iter()
            .enumerate()
            .map(|(id, t)| {
                let id = id as u32;
                if [file.unk_id, file.bos_id, file.eos_id].contains(&id) {
                    Vec::new()
                } else if let Some(b) = id.checked_sub(file.byte_fallback_base).filter(|b| *b < 256)
                {
                    // Byte fallback: "<0xNN>" is the raw byte NN (possibly part of a character).
                    vec![b as u8]
                } else {
                    t.replace(SPACE_MARK, " ").into_bytes()
                }
            })
            .collect();
        Self {
            bytes,
            unk: file.unk_id,
            bos: file.bos_id,
            eos: file.eos_id,
        }
    }

    /// The end-of-text token.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// The start token.
    pub fn bos(&self) -> u32 {
        self.bos
    }

    /// Whether `id` can be emitted as text: it has a string (ids past the vocabulary pad the
    /// logits and have none) and is not one of the special tokens.
    pub fn is_text(&self, id: u32) -> bool {
        (id as usize) < self.bytes.len() && ![self.unk, self.bos, self.eos].contains(&id)
    }

    /// The raw bytes of one token, a space for `▁` (possibly part of a UTF-8 character).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map_or(&[], |b| b.as_slice())
    }

    /// The bytes of a token sequence.
    pub fn bytes_of(&self, tokens: &[u32]) -> Vec<u8> {
        tokens
            .iter()
            .flat_map(|&t| self.token_bytes(t).iter().copied())
            .collect()
    }

    /// The text of a token sequence, as the converter documents it: special tokens dropped,
    /// bytes joined and decoded (invalid UTF-8 replaced), `▁` a space, trimmed.
    pub fn detokenize(&self, tokens: &[u32]) -> String {
        String::from_utf8_lossy(&self.bytes_of(tokens))
            // A `▁` spelt by byte-fallback tokens is a space too.
            .replace(SPACE_MARK, " ")
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary laid out as Moonshine's: specials, the 256 byte tokens, then pieces.
    pub(crate) fn small_vocabulary() -> MoonshineTokenizer {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
        for piece in [
            "▁Hello", ",", "▁wor", "ld", ".", "▁caf", "▁$", "1", "2", "<>",
        ] {
            tokens.push(piece.into());
        }
        MoonshineTokenizer::new(TokensFile {
            unk_id: 0,
            bos_id: 1,
            eos_id: 2,
            byte_fallback_base: 3,
            tokens,
        })
    }

    #[test]
    fn detokenising_joins_pieces_bytes_and_spaces() {
        let t = small_vocabulary();
        let piece = |p: u32| 259 + p;
        // "▁Hello" "," "▁wor" "ld" "."
        let ids = [1, piece(0), piece(1), piece(2), piece(3), piece(4), 2];
        assert_eq!(t.detokenize(&ids), "Hello, world.");
        // "▁caf" then é as two byte-fallback tokens (0xC3 0xA9).
        assert_eq!(t.detokenize(&[piece(5), 3 + 0xC3, 3 + 0xA9]), "café");
        // A byte sequence cut inside a character decodes lossily instead of failing.
        assert_eq!(t.detokenize(&[piece(5), 3 + 0xC3]), "caf\u{FFFD}");
        // Digits and a text token that looks like markup are text.
        assert_eq!(
            t.detokenize(&[piece(6), piece(7), piece(8), piece(9)]),
            "$12<>"
        );
        // Ids without a string pad the logits: they have no text.
        assert_eq!(t.detokenize(&[0, 40_000]), "");
        assert!(!t.is_text(0) && !t.is_text(1) && !t.is_text(2) && !t.is_text(40_000));
        assert!(t.is_text(piece(0)) && t.is_text(3 + 0x41));
        assert_eq!(t.token_bytes(piece(0)), b" Hello");
    }
}

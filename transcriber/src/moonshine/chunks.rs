//! What Moonshine hears: only the detector's speech, joined into chunks of at most
//! [`MAX_CHUNK_S`] seconds, with a map from each chunk's samples back to the file.
//!
//! Moonshine stops decoding after about half a second of silence or noise before speech, so a
//! window's audio cannot be given to it as Whisper gets it; and one segment per chunk loses
//! the context of the sentence around it (measured: more errors on short segments). So each
//! segment's heard speech with [`PAD_S`] either side is cut out, and consecutive segments of a
//! window are packed into chunks; a segment longer than a chunk is split at its quietest point
//! near the middle.

use crate::mel::SAMPLE_RATE;
use crate::vad::Segment;

/// Audio kept either side of the detector's speech: the onset and release of soft sounds, and
/// a short pause (twice this) between the segments of a chunk. Measured on the development set
/// (devset asr, conversations, analytics and custom: 1401 words) with 0.05, 0.1, 0.2 and 0.3 s:
/// 76, 76, 72 and 73 word errors, within the noise of each other; the lowest is kept. (Before
/// the re-decoding of `Moonshine::decode_window`, 0.05 and 0.3 s each lost a whole chunk.)
pub const PAD_S: f64 = 0.2;
/// The most speech in one chunk: long enough for the context of a few sentences, short enough
/// for Moonshine, whose accuracy falls on long inputs. On the same set, 10, 15, 20, 25 and 30 s
/// gave 84, 74, 72, 71 and 71 word errors: 10 s loses context, above 15 s it is noise.
pub const MAX_CHUNK_S: f64 = 20.0;
/// How far from the even split point a long segment may be cut, looking for a pause.
const SPLIT_SEARCH_S: f64 = 1.5;
/// The frame over which loudness is measured when looking for a pause (20 ms).
const SPLIT_FRAME: usize = SAMPLE_RATE / 50;

/// A stretch of the file's samples placed in a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Where it starts in the chunk, in samples.
    pub chunk_start: usize,
    /// Where it starts in the file, in samples.
    pub file_start: usize,
    /// Its length in samples.
    pub len: usize,
}

/// Maps times in a chunk back to times in the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkMap {
    pieces: Vec<Piece>,
}

impl ChunkMap {
    /// The pieces, in chunk order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The file time (seconds) of a word that starts `t` seconds into the chunk. A start at the
    /// boundary of two pieces belongs to the later one (the word starts after the gap).
    pub fn start_to_file(&self, t: f64) -> f64 {
        self.to_file(t, |p, s| p.chunk_start as f64 <= s)
    }

    /// The file time (seconds) of a word that ends `t` seconds into the chunk. An end at the
    /// boundary of two pieces belongs to the earlier one (the word ended before the gap).
    pub fn end_to_file(&self, t: f64) -> f64 {
        self.to_file(t, |p, s| (p.chunk_start as f64) < s)
    }

    fn to_file(&self, t: f64, starts_before: impl Fn(&Piece, f64) -> bool) -> f64 {
        let s = t * SAMPLE_RATE as f64;
        let Some(piece) = self
            .pieces
            .iter()
            .rev()
            .find(|p| starts_before(p, s))
            .or(self.pieces.first())
        else {
            return t;
        };
        let inside = (s - piece.chunk_start as f64).clamp(0.0, piece.len as f64);
        (piece.file_start as f64 + inside) / SAMPLE_RATE as f64
    }
}

/// One chunk of speech for Moonshine.
pub struct SpeechChunk {
    /// Its samples.
    pub audio: Vec<f32>,
    /// Where they come from.
    pub map: ChunkMap,
}

impl SpeechChunk {
    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        self.audio.len() as f64 / SAMPLE_RATE as f64
    }

    /// The chunk cut in two at the boundary between its pieces nearest its middle, so that
    /// each part is decoded on its own; `None` for a chunk of one piece.
    pub fn split_in_two(&self) -> Option<(SpeechChunk, SpeechChunk)> {
        let middle = self.audio.len() / 2;
        let cut = self
            .map
            .pieces
            .iter()
            .skip(1)
            .map(|p| p.chunk_start)
            .min_by_key(|&c| c.abs_diff(middle))?;
        let head = SpeechChunk {
            audio: self.audio[..cut].to_vec(),
            map: ChunkMap {
                pieces: self
                    .map
                    .pieces
                    .iter()
                    .copied()
                    .filter(|p| p.chunk_start < cut)
                    .collect(),
            },
        };
        Some((head, self.tail_from(cut as f64 / SAMPLE_RATE as f64)))
    }

    /// What is left of the chunk after `t` seconds, with its map.
    pub fn tail_from(&self, t: f64) -> SpeechChunk {
        let cut = ((t * SAMPLE_RATE as f64).round().max(0.0) as usize).min(self.audio.len());
        let pieces = self
            .map
            .pieces
            .iter()
            .filter(|p| p.chunk_start + p.len > cut)
            .map(|p| {
                let from = p.chunk_start.max(cut);
                Piece {
                    chunk_start: from - cut,
                    file_start: p.file_start + (from - p.chunk_start),
                    len: p.chunk_start + p.len - from,
                }
            })
            .collect();
        SpeechChunk {
            audio: self.audio[cut..].to_vec(),
            map: ChunkMap { pieces },
        }
    }
}

/// The speech of a window (`audio` starting at file sample `start`, holding `speech`) as
/// chunks, in order.
pub fn speech_chunks(start: usize, audio: &[f32], speech: &[Segment]) -> Vec<SpeechChunk> {
    let pad = (PAD_S * SAMPLE_RATE as f64) as usize;
    let max = (MAX_CHUNK_S * SAMPLE_RATE as f64) as usize;
    let end = start + audio.len();
    // The heard speech of each segment, padded, inside its segment and the window, in order
    // and without overlaps.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for seg in speech {
        let from = seg
            .speech_start
            .saturating_sub(pad)
            .max(seg.start)
            .max(start)
            .max(ranges.last().map_or(0, |r| r.1));
        let to = (seg.speech_end + pad).min(seg.end).min(end);
        if to > from {
            ranges.extend(split_long(audio, start, from, to, max));
        }
    }
    let total: usize = ranges.iter().map(|r| r.1 - r.0).sum();
    // Chunks of even length: 24 s of speech gives two of 12 s rather than 20 s and a lone 4 s.
    let target = total.div_ceil(total.div_ceil(max).max(1));
    let mut chunks = Vec::new();
    let mut current: Vec<(usize, usize)> = Vec::new();
    let mut length = 0;
    for (from, to) in ranges {
        if !current.is_empty() && (length + (to - from) > max || length >= target) {
            chunks.push(chunk_of(audio, start, &current));
            current.clear();
            length = 0;
        }
        current.push((from, to));
        length += to - from;
    }
    if !current.is_empty() {
        chunks.push(chunk_of(audio, start, &current));
    }
    chunks
}

/// The file range `from..to` cut into parts of at most `max` samples, each cut at the quietest
/// 20 ms near an even split (speech rarely pauses exactly there, but often nearby).
fn split_long(
    audio: &[f32],
    start: usize,
    mut from: usize,
    to: usize,
    max: usize,
) -> Vec<(usize, usize)> {
    let search = (SPLIT_SEARCH_S * SAMPLE_RATE as f64) as usize;
    let mut parts = Vec::new();
    while to - from > max {
        let parts_left = (to - from).div_ceil(max);
        let even = from + (to - from) / parts_left;
        let lo = even.saturating_sub(search).max(from + SPLIT_FRAME);
        let hi = (even + search).min(from + max);
        let loudness = |at: usize| -> f32 {
            let a = at - start;
            audio[a..(a + SPLIT_FRAME).min(audio.len())]
                .iter()
                .map(|x| x * x)
                .sum()
        };
        let cut = (lo..hi.saturating_sub(SPLIT_FRAME))
            .step_by(SPLIT_FRAME / 2)
            .min_by(|&a, &b| loudness(a).total_cmp(&loudness(b)))
            .map_or(even, |quiet| quiet + SPLIT_FRAME / 2);
        parts.push((from, cut));
        from = cut;
    }
    parts.push((from, to));
    parts
}

fn chunk_of(audio: &[f32], start: usize, ranges: &[(usize, usize)]) -> SpeechChunk {
    let mut samples = Vec::new();
    let mut pieces = Vec::with_capacity(ranges.len());
    for &(from, to) in ranges {
        pieces.push(Piece {
            chunk_start: samples.len(),
            file_start: from,
            len: to - from,
        });
        samples.extend_from_slice(&audio[from - start..to - start]);
    }
    SpeechChunk {
        audio: samples,
        map: ChunkMap { pieces },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = SAMPLE_RATE as f64;

    fn at(seconds: f64) -> usize {
        (seconds * RATE).round() as usize
    }

    /// A segment heard from `a` to `b` seconds, padded by 0.4 s as the detector pads.
    fn seg(a: f64, b: f64) -> Segment {
        Segment {
            start: at(a - 0.4),
            end: at(b + 0.4),
            speech_start: at(a),
            speech_end: at(b),
        }
    }

    #[test]
    fn chunk_times_map_back_to_where_the_speech_is_in_the_file() {
        assert_eq!(PAD_S, 0.2, "the times below are for 0.2 s of padding");
        // A window from 10 s to 40 s with speech heard at 11-13 s and 20-21.5 s.
        let window_start = at(10.0);
        let audio: Vec<f32> = (0..at(30.0)).map(|i| i as f32).collect();
        let chunks = speech_chunks(window_start, &audio, &[seg(11.0, 13.0), seg(20.0, 21.5)]);
        assert_eq!(chunks.len(), 1, "short segments share a chunk");
        let c = &chunks[0];
        // 10.8-13.2 s then 19.8-21.7 s: 2.4 s + 1.9 s.
        assert_eq!(c.audio.len(), at(2.4) + at(1.9));
        assert_eq!(c.audio[0], (at(10.8) - window_start) as f32);
        assert_eq!(c.audio[at(2.4)], (at(19.8) - window_start) as f32);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(c.map.start_to_file(0.0), 10.8));
        assert!(close(c.map.start_to_file(1.2), 12.0));
        // The boundary between the pieces: a start is after the gap, an end before it.
        assert!(close(c.map.start_to_file(2.4), 19.8));
        assert!(close(c.map.end_to_file(2.4), 13.2));
        assert!(close(c.map.end_to_file(2.9), 20.3));
        // Past the end stays at the end of the speech.
        assert!(close(c.map.end_to_file(9.0), 21.7));
        // What is left after 1.2 s: the rest of the first piece, then the second.
        let tail = c.tail_from(1.2);
        assert_eq!(tail.audio.len(), at(1.2) + at(1.9));
        assert_eq!(tail.audio[0], (at(12.0) - window_start) as f32);
        assert!(close(tail.map.start_to_file(0.0), 12.0));
        assert!(close(tail.map.start_to_file(1.7), 20.3));
        // After the first piece, only the second is left.
        assert_eq!(c.tail_from(2.4).map.pieces().len(), 1);
        // Cut in two between its pieces.
        let (a, b) = c.split_in_two().unwrap();
        assert_eq!((a.audio.len(), b.audio.len()), (at(2.4), at(1.9)));
        assert_eq!(a.map.pieces(), &c.map.pieces()[..1]);
        assert!(close(b.map.start_to_file(0.0), 19.8));
        assert!(
            a.split_in_two().is_none(),
            "one piece cannot be cut between pieces"
        );
    }

    #[test]
    fn long_speech_is_split_into_even_chunks_at_a_pause() {
        // 26.4 s of speech in one segment, silent at 14.2-14.3 s (near the even split at 14.1 s).
        let window_start = 0;
        let mut audio = vec![0.5f32; at(28.0)];
        audio[at(14.2)..at(14.3)].fill(0.0);
        let chunks = speech_chunks(window_start, &audio, &[seg(1.1, 27.1)]);
        assert_eq!(chunks.len(), 2);
        let lens: Vec<f64> = chunks.iter().map(|c| c.seconds()).collect();
        assert!(lens.iter().all(|&l| l <= MAX_CHUNK_S), "{lens:?}");
        // The cut falls inside the pause.
        let cut = chunks[1].map.pieces()[0].file_start as f64 / RATE;
        assert!((14.2..=14.3).contains(&cut), "cut at {cut}");
        assert_eq!(chunks[0].map.pieces()[0].file_start, at(0.9));
        // Consecutive short segments fill chunks evenly rather than 20 s and a remainder.
        let many: Vec<Segment> = (0..8)
            .map(|k| seg(1.0 + 3.0 * k as f64, 3.5 + 3.0 * k as f64))
            .collect();
        let chunks = speech_chunks(0, &vec![0.1; at(30.0)], &many);
        let lens: Vec<usize> = chunks.iter().map(|c| c.map.pieces().len()).collect();
        assert_eq!(lens, vec![4, 4]);
    }
}

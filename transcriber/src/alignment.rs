//! Word timestamps from cross-attention, as Whisper's `timing.py` computes them, for any decoder
//! that exposes its cross-attention (Whisper's alignment heads, Moonshine's chosen heads): the
//! heads' attention over the audio, normalised per frame, median-filtered, averaged over heads,
//! then a dynamic-time-warping path from tokens to audio positions; tokens grouped into words
//! as they appear in the transcript, with Whisper's fixes for words that swallow a pause and
//! for punctuation on its own.

const MEDIAN_FILTER_WIDTH: usize = 7;
const PREPEND_PUNCTUATION: &str = "\"'“¿([{-";
const APPEND_PUNCTUATION: &str = "\"'.。,，!！?？:：”)]}、";
const SENTENCE_END: &str = ".。!！?？";

/// One word with its time inside the decoded audio and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    /// The word as the model wrote it, leading space removed, punctuation attached.
    pub text: String,
    /// Start in seconds from the start of the decoded audio.
    pub start: f64,
    /// End in seconds from the start of the decoded audio.
    pub end: f64,
    /// The word's probability (how it is made from its tokens' is the model family's choice).
    pub probability: f32,
}

/// A word of the transcript before timing: its text (with its leading space), how many tokens
/// it spans, and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenWord {
    /// The text, leading space included when the word starts with one.
    pub text: String,
    /// Number of consecutive tokens.
    pub tokens: usize,
    /// The word's probability.
    pub probability: f32,
}

/// The transcript's words ([`split_words`]) with their probabilities: `probability` combines the
/// probabilities of a word's tokens (each model says how).
pub fn token_words<'t>(
    tokens: &[u32],
    probs: &[f32],
    token_bytes: impl Fn(u32) -> &'t [u8],
    probability: impl Fn(&[f32]) -> f32,
) -> Vec<TokenWord> {
    let mut boundary = 0;
    split_words(tokens, token_bytes)
        .into_iter()
        .map(|(text, count)| {
            let first = boundary;
            boundary += count;
            TokenWord {
                text,
                tokens: count,
                probability: probability(&probs[first..boundary]),
            }
        })
        .collect()
}

/// The time at which each attention row starts on the DTW path, in seconds: `attention` is
/// `[rows][heads][frames]` flattened, one row per decoder position whose output predicted a text
/// token (and one more for the position that predicted the end), and each of the `frames`
/// encoder positions lasts `seconds_per_position`; `lag_s` is how far the attention lags
/// behind the sound ([`crate::model_name::Weights::attention_lag_s`]), taken off every time.
pub fn row_start_times(
    attention: &[f32],
    rows: usize,
    heads: usize,
    frames: usize,
    seconds_per_position: f64,
    lag_s: f64,
) -> Vec<f64> {
    let matrix = attention_matrix(attention, rows, heads, frames);
    let (text_indices, time_indices) = dtw(&matrix, rows, frames);
    let mut jump_times = Vec::with_capacity(rows);
    for (i, (&ti, &fi)) in text_indices.iter().zip(&time_indices).enumerate() {
        if i == 0 || ti != text_indices[i - 1] {
            jump_times.push((fi as f64 * seconds_per_position - lag_s).max(0.0));
        }
    }
    jump_times
}

/// Times the words: a word spans from the start time of its first token's row to that of the
/// row after its last token (`jump_times` from [`row_start_times`]); then long words around
/// sentence ends are clipped and lone punctuation joins its neighbour. `after_pause` says the
/// audio starts after a pause, where the first word tends to start too early (Whisper's
/// windows); audio cut mid-speech starts with its first word.
pub fn time_words(words: Vec<TokenWord>, jump_times: &[f64], after_pause: bool) -> Vec<WordTiming> {
    if jump_times.is_empty() {
        return Vec::new();
    }
    let mut timings = Vec::with_capacity(words.len());
    let mut boundary = 0;
    for w in words {
        let (first, last) = (boundary, boundary + w.tokens);
        boundary = last;
        timings.push(WordTiming {
            text: w.text,
            start: jump_times[first.min(jump_times.len() - 1)],
            end: jump_times[last.min(jump_times.len() - 1)],
            probability: w.probability,
        });
    }
    clip_long_words(&mut timings, after_pause);
    merge_punctuation(timings)
}

/// Tokens grouped into words: a word starts at a token that begins with a space, so that
/// "$1,250", "3.5" and "617-555-0142" stay one word each, exactly as they appear in the
/// transcript (Whisper's own `split_tokens_on_spaces` also splits at punctuation, which would
/// give timestamps that do not match the transcript's words). `token_bytes` gives each token's
/// text bytes, a space as b' '. Returns (word text, token count); multi-byte characters split
/// across tokens stay in one group.
pub fn split_words<'t>(
    tokens: &[u32],
    token_bytes: impl Fn(u32) -> &'t [u8],
) -> Vec<(String, usize)> {
    // First group tokens into units that decode to whole characters.
    let mut units: Vec<(String, usize)> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut count = 0;
    for &t in tokens {
        pending.extend_from_slice(token_bytes(t));
        count += 1;
        if let Ok(s) = std::str::from_utf8(&pending) {
            units.push((s.to_string(), count));
            pending.clear();
            count = 0;
        }
    }
    if count > 0 {
        units.push((String::from_utf8_lossy(&pending).into_owned(), count));
    }
    let mut words: Vec<(String, usize)> = Vec::new();
    for (unit, n) in units {
        match words.last_mut() {
            Some(last) if !unit.starts_with(' ') => {
                last.0.push_str(&unit);
                last.1 += n;
            }
            _ => words.push((unit, n)),
        }
    }
    words
}

/// `[rows][frames]` alignment scores: per head, each frame's column is standardised across
/// tokens, median-filtered along time, then the heads are averaged.
fn attention_matrix(attention: &[f32], rows: usize, heads: usize, frames: usize) -> Vec<f32> {
    let mut matrix = vec![0f32; rows * frames];
    let mut w = vec![0f32; rows * frames];
    for h in 0..heads {
        for r in 0..rows {
            let src = &attention[(r * heads + h) * frames..(r * heads + h + 1) * frames];
            // A graph's softmax may run over more positions than hold audio (Whisper's over all
            // 1500); the reference's runs over the audio frames only, which is the same
            // distribution renormalised.
            let sum: f32 = src.iter().sum::<f32>().max(1e-12);
            for (d, s) in w[r * frames..(r + 1) * frames].iter_mut().zip(src) {
                *d = s / sum;
            }
        }
        for f in 0..frames {
            let mean = (0..rows).map(|r| w[r * frames + f]).sum::<f32>() / rows as f32;
            let var = (0..rows)
                .map(|r| (w[r * frames + f] - mean).powi(2))
                .sum::<f32>()
                / rows as f32;
            let std = var.sqrt().max(1e-12);
            for r in 0..rows {
                w[r * frames + f] = (w[r * frames + f] - mean) / std;
            }
        }
        for r in 0..rows {
            let filtered = median_filter(&w[r * frames..(r + 1) * frames], MEDIAN_FILTER_WIDTH);
            for (m, v) in matrix[r * frames..(r + 1) * frames]
                .iter_mut()
                .zip(filtered)
            {
                *m += v / heads as f32;
            }
        }
    }
    matrix
}

/// Median filter with reflect padding (torch's `F.pad(mode="reflect")`), as Whisper applies it.
fn median_filter(x: &[f32], width: usize) -> Vec<f32> {
    let pad = width / 2;
    if x.len() <= pad {
        return x.to_vec();
    }
    let at = |i: isize| -> f32 {
        let n = x.len() as isize;
        let j = if i < 0 {
            -i
        } else if i >= n {
            2 * (n - 1) - i
        } else {
            i
        };
        x[j as usize]
    };
    let mut window = vec![0f32; width];
    (0..x.len())
        .map(|i| {
            for (k, w) in window.iter_mut().enumerate() {
                *w = at(i as isize + k as isize - pad as isize);
            }
            window.sort_by(f32::total_cmp);
            window[pad]
        })
        .collect()
}

/// Dynamic time warping over the cost `-matrix` (`[rows][cols]`): Whisper's `dtw_cpu` and
/// `backtrace`, returning the (row, column) path from the start.
fn dtw(matrix: &[f32], rows: usize, cols: usize) -> (Vec<usize>, Vec<usize>) {
    let (n, m) = (rows, cols);
    let idx = |i: usize, j: usize| i * (m + 1) + j;
    let mut cost = vec![f32::INFINITY; (n + 1) * (m + 1)];
    let mut trace = vec![-1i8; (n + 1) * (m + 1)];
    cost[0] = 0.0;
    for j in 1..=m {
        for i in 1..=n {
            let (c0, c1, c2) = (
                cost[idx(i - 1, j - 1)],
                cost[idx(i - 1, j)],
                cost[idx(i, j - 1)],
            );
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            cost[idx(i, j)] = -matrix[(i - 1) * m + (j - 1)] + c;
            trace[idx(i, j)] = t;
        }
    }
    for j in 0..=m {
        trace[idx(0, j)] = 2;
    }
    for i in 0..=n {
        trace[idx(i, 0)] = 1;
    }
    let (mut i, mut j) = (n, m);
    let mut path = Vec::with_capacity(n + m);
    while i > 0 || j > 0 {
        path.push((i - 1, j - 1));
        match trace[idx(i, j)] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path.into_iter().unzip()
}

/// Whisper's hack against words that swallow a pause: around sentence ends, clip durations to
/// twice the median word length; and, `after_pause`, the first word's.
fn clip_long_words(words: &mut [WordTiming], after_pause: bool) {
    let mut durations: Vec<f64> = words
        .iter()
        .map(|w| w.end - w.start)
        .filter(|d| *d > 0.0)
        .collect();
    if durations.is_empty() {
        return;
    }
    durations.sort_by(f64::total_cmp);
    let median = durations[durations.len() / 2].min(0.7);
    let max = median * 2.0;
    for i in 1..words.len() {
        if words[i].end - words[i].start > max {
            if SENTENCE_END.contains(words[i].text.trim()) {
                words[i].end = words[i].start + max;
            } else if SENTENCE_END.contains(words[i - 1].text.trim()) {
                words[i].start = words[i].end - max;
            }
        }
    }
    // The first word after a pause tends to start too early.
    if after_pause && words[0].end - words[0].start > max {
        if words.len() > 1 && words[1].end - words[1].start > max {
            let boundary = (words[1].end / 2.0).max(words[1].end - max);
            words[0].end = boundary;
            words[1].start = boundary;
        }
        words[0].start = (words[0].end - max).max(0.0);
    }
}

/// Attaches punctuation tokens to their neighbours (Whisper's `merge_punctuations`) and strips
/// the leading space.
fn merge_punctuation(words: Vec<WordTiming>) -> Vec<WordTiming> {
    let mut out: Vec<WordTiming> = Vec::with_capacity(words.len());
    let mut carry: Option<WordTiming> = None;
    for mut w in words {
        let t = w.text.trim();
        let is_prepend = !t.is_empty() && t.chars().all(|c| PREPEND_PUNCTUATION.contains(c));
        let is_append = !t.is_empty() && t.chars().all(|c| APPEND_PUNCTUATION.contains(c));
        if is_append {
            if let Some(prev) = out.last_mut() {
                prev.text.push_str(t);
                continue;
            }
        }
        if is_prepend {
            match carry.as_mut() {
                Some(c) => c.text.push_str(t),
                None => {
                    carry = Some(WordTiming {
                        text: t.to_string(),
                        ..w
                    })
                }
            }
            continue;
        }
        if let Some(c) = carry.take() {
            w.text = format!("{}{}", c.text, w.text.trim_start());
        }
        w.text = w.text.trim().to_string();
        if !w.text.is_empty() {
            out.push(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtw_follows_a_diagonal_of_high_scores() {
        // 3 tokens over 6 frames: token k attends to frames 2k and 2k+1 (scores are standardised,
        // so the rest is below average).
        let mut m = vec![-1f32; 18];
        for k in 0..3 {
            m[k * 6 + 2 * k] = 1.0;
            m[k * 6 + 2 * k + 1] = 1.0;
        }
        let (rows, cols) = dtw(&m, 3, 6);
        let starts: Vec<usize> = (0..3)
            .map(|k| cols[rows.iter().position(|&r| r == k).unwrap()])
            .collect();
        assert_eq!(starts, vec![0, 2, 4]);
        assert_eq!(*cols.last().unwrap(), 5);
    }

    #[test]
    fn median_filter_removes_a_spike_and_keeps_a_step() {
        let x = [0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let y = median_filter(&x, 7);
        assert_eq!(y[3], 0.0);
        assert_eq!(y[11], 1.0);
    }

    #[test]
    fn punctuation_joins_its_word() {
        let w = |t: &str, s: f64| WordTiming {
            text: t.into(),
            start: s,
            end: s + 1.0,
            probability: 1.0,
        };
        let merged = merge_punctuation(vec![
            w(" Hello", 0.0),
            w(",", 1.0),
            w(" \"world", 2.0),
            w(".\"", 3.0),
        ]);
        let texts: Vec<&str> = merged.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, vec!["Hello,", "\"world.\""]);
        assert_eq!(merged[0].end, 1.0);
    }
}

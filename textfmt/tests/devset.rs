//! Every row of the clip manifest (`testdata/asr/manifest.tsv`), as Whisper would write it and
//! as already-spoken words, through the default style, smart formatting and redaction.
//!
//! Principled differences from the manifest, all from the service's documented behaviour:
//!
//! Default style vs `reference`:
//! - The first word of a sentence is not capitalised: the service writes "several tornadoes
//!   touch down ..." and leaves capitals to proper nouns (basic-response#response-capitalization).
//!   So every row's first word is lowercased except clip10 "Maria" and clip13 "Thomas", which
//!   are names.
//! - clip05: "P M" is written "PM", the service's token ("nine thirty AM" in its docs).
//!
//! Smart formatting vs `formatted` (besides the same first-word rule):
//! - clip01 "Mr." and clip05 "Dr.": the service documents no abbreviation of titles, so the
//!   spoken "Mister" and "Doctor" stay.
//! - clip02 and clip03 "ill-disposed", "cold-hearted": smart formatting adds no hyphens, and
//!   the spoken words do not say where one belongs.
//! - clip08 "$1,250": the service writes numbers and amounts without thousands separators
//!   ("$3202.66", "1000101" in its examples), so "$1250".

mod common;
use common::*;
use speechbatch_textfmt::{format_words, transcript, RecognitionParams, Word};

const PROPER_FIRST_WORDS: &[&str] = &["Maria", "Thomas"];

/// Known differences between our smart output and the manifest's `formatted` column:
/// (row, manifest form, our form).
const SMART_DIFFERENCES: &[(&str, &str, &str)] = &[
    ("clip01.flac", "Mr.", "Mister"),
    ("clip02.flac", "ill-disposed", "ill disposed"),
    ("clip03.flac", "cold-hearted", "cold hearted"),
    ("clip03.flac", "ill-disposed", "ill disposed"),
    ("clip05.flac", "Dr.", "Doctor"),
    ("clip08.flac", "$1,250", "$1250"),
];

/// Whisper-style transcripts of some rows, written the way Whisper writes them: digits,
/// commas, "p.m.", "Dr.", abbreviations and brackets.
const WHISPER_STYLE: &[(&str, &str)] = &[
    ("clip01.flac", "And Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them."),
    ("clip02.flac", "He was not an ill-disposed young man."),
    ("clip04.flac", "The conference in Denver starts on March 12, 2026, and registration costs $349."),
    ("clip05.flac", "Please call Dr. Patel's office at (617) 555-0142 before 5:30 p.m."),
    ("clip06.flac", "About 65% of the volunteers in Portland said they would come back next year."),
    ("clip07.flac", "The train to Philadelphia leaves from platform 9 at 8.45 every weekday morning."),
    ("clip08.flac", "Her new apartment on Maple Avenue rents for $1,250 a month."),
    ("clip09.flac", "We counted 42 birds near the lake on Saturday, which is twice as many as last week."),
    ("clip10.flac", "Maria Gonzalez was born on July 4th, 1998 in San Antonio, Texas."),
    ("clip11.flac", "The package weighs 3.5 pounds and should arrive within two business days."),
    ("clip12.flac", "The flight to Atlanta from gate 22 has been delayed until 10.15 tonight."),
    ("clip13.flac", "Thomas Wright paid $18 for two tickets to the museum in Edinburgh."),
    ("clip14.flac", "The meeting room on the 4th floor can hold up to 30 people."),
    ("clip15.flac", "Turn left after the second traffic light, then drive for about three miles north."),
];

fn lower_first_word(text: &str) -> String {
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    if PROPER_FIRST_WORDS.contains(&first) {
        return text.to_string();
    }
    let mut c = first.chars();
    let first: String = c
        .next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default();
    if rest.is_empty() {
        first
    } else {
        format!("{first} {rest}")
    }
}

fn expected_default(row: &Row) -> String {
    lower_first_word(&row.reference).replace(" P M", " PM")
}

fn expected_smart(row: &Row) -> String {
    let mut s = lower_first_word(&row.formatted);
    for (file, theirs, ours) in SMART_DIFFERENCES {
        if *file == row.file {
            assert!(s.contains(theirs), "{file}: stale difference {theirs:?}");
            s = s.replacen(theirs, ours, 1);
        }
    }
    s
}

/// Inputs for a row: the spoken reference and the formatted text as recogniser words, both
/// with a sentence-final full stop, plus the Whisper-style transcript where there is one.
fn inputs(row: &Row) -> Vec<String> {
    let mut v = vec![
        format!("{}.", row.reference),
        format!("{}.", row.formatted.replace(" PM", " p.m.")),
    ];
    if let Some((_, w)) = WHISPER_STYLE.iter().find(|(f, _)| *f == row.file) {
        v.push((*w).to_string());
    }
    v
}

#[test]
fn default_style_reproduces_the_references() {
    let rows = manifest();
    // A Whisper-style transcript whose file name matches no row would silently go untested.
    for (file, _) in WHISPER_STYLE {
        assert!(
            rows.iter().any(|r| r.file == *file),
            "{file} is not in the manifest"
        );
    }
    for row in rows {
        for input in inputs(&row) {
            assert_eq!(
                fmt(&input, *DEFAULT),
                expected_default(&row),
                "{}: {input}",
                row.file
            );
        }
    }
}

#[test]
fn smart_formatting_reproduces_the_formatted_column() {
    for row in manifest() {
        for input in inputs(&row) {
            assert_eq!(
                fmt(&input, *SMART),
                expected_smart(&row),
                "{}: {input}",
                row.file
            );
        }
    }
}

#[test]
fn profanity_filter_changes_nothing_in_clean_speech() {
    for row in manifest() {
        for input in inputs(&row) {
            for base in [*DEFAULT, *SMART] {
                let off = RecognitionParams {
                    profanity_filter: false,
                    ..base
                };
                assert_eq!(fmt(&input, base), fmt(&input, off), "{}", row.file);
            }
        }
    }
}

/// Masks like the service: each digit of a run of three or more becomes "X".
fn masked(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        let run = chars[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run >= 3 {
            out.extend(std::iter::repeat_n('X', run));
            k += run;
        } else if run > 0 {
            out.extend(&chars[k..k + run]);
            k += run;
        } else {
            out.push(chars[k]);
            k += 1;
        }
    }
    out
}

#[test]
fn redaction_masks_the_smart_formatted_rows() {
    for row in manifest() {
        for input in inputs(&row) {
            let redacted = fmt(&input, *REDACT);
            assert_eq!(redacted, masked(&expected_smart(&row)), "{}", row.file);
            assert!(!has_three_digits(&redacted), "{redacted}");
        }
    }
    let clip05 = manifest()
        .into_iter()
        .find(|r| r.file == "clip05.flac")
        .unwrap();
    assert_eq!(
        fmt(&format!("{}.", clip05.reference), *REDACT),
        "please call Doctor Patel's office at XXX-XXX-XXXX before 5:30 PM"
    );
}

fn has_three_digits(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w.iter().all(u8::is_ascii_digit))
}

/// Smart formatting of spoken words only merges whole words: every token starts where an
/// input word starts and ends where one ends, and the named tokens span exactly their words.
#[test]
fn smart_tokens_span_the_words_they_replace() {
    for row in manifest() {
        let input = words(&format!("{}.", row.reference));
        let out = format_words(&input, &SMART);
        check_invariants(&input, &out);
        for w in &out {
            assert!(
                input.iter().any(|i| (i.start - w.start).abs() < 1e-9),
                "{}: {w:?}",
                row.file
            );
            assert!(
                input.iter().any(|i| (i.end - w.end).abs() < 1e-9),
                "{}: {w:?}",
                row.file
            );
        }
        let covered: usize = out
            .iter()
            .map(|w| {
                input
                    .iter()
                    .filter(|i| i.start >= w.start - 1e-9 && i.end <= w.end + 1e-9)
                    .count()
            })
            .sum();
        assert_eq!(
            covered,
            input.len(),
            "{}: every input word is covered once",
            row.file
        );
    }
    let span_of = |file: &str, token: &str, first: &str, last: &str| {
        let row = manifest().into_iter().find(|r| r.file == file).unwrap();
        let input = words(&format!("{}.", row.reference));
        let out = format_words(&input, &SMART);
        let w = out
            .iter()
            .find(|w| w.text == token)
            .unwrap_or_else(|| panic!("{token}"));
        let a = input.iter().find(|i| i.text == first).unwrap();
        let b = input
            .iter()
            .rev()
            .find(|i| i.text.trim_end_matches('.') == last)
            .unwrap();
        assert_eq!((w.start, w.end), (a.start, b.end), "{token}");
        let min = input
            .iter()
            .filter(|i| i.start >= a.start && i.end <= b.end)
            .map(|i| i.confidence)
            .fold(f32::INFINITY, f32::min);
        assert_eq!(w.confidence, min, "{token} takes the least confidence");
    };
    span_of("clip04.flac", "$349", "three", "dollars");
    span_of("clip04.flac", "3/12/2026", "March", "six");
    span_of("clip05.flac", "617-555-0142", "six", "two");
    span_of("clip10.flac", "7/4/1998", "July", "eight");
    span_of("clip06.flac", "65%", "sixty", "percent");
}

/// A Whisper word that becomes several spoken words shares its span; smart formatting joins
/// them again into exactly the original span.
#[test]
fn split_words_share_their_span_and_smart_formatting_restores_it() {
    let input = vec![
        Word {
            text: "costs".into(),
            start: 0.0,
            end: 0.5,
            confidence: 0.9,
        },
        Word {
            text: "$349.".into(),
            start: 0.5,
            end: 1.7,
            confidence: 0.8,
        },
    ];
    let out = format_words(&input, &DEFAULT);
    check_invariants(&input, &out);
    assert_eq!(transcript(&out), "costs three hundred forty nine dollars ");
    assert_eq!(out[1].start, 0.5);
    assert_eq!(out[5].end, 1.7);
    // "three" (5 letters) and "dollars" (7) get time in proportion: 5/28 and 7/28 of 1.2 s.
    assert!((out[1].end - out[1].start - 1.2 * 5.0 / 28.0).abs() < 1e-9);
    assert!((out[5].end - out[5].start - 1.2 * 7.0 / 28.0).abs() < 1e-9);
    assert!(out[1..].iter().all(|w| w.confidence == 0.8));
    let smart = format_words(&input, &SMART);
    assert_eq!(
        smart[1],
        Word {
            text: "$349".into(),
            start: 0.5,
            end: 1.7,
            confidence: 0.8
        }
    );
}

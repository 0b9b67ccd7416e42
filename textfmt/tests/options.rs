//! The transcript options against the service's documented examples
//! (cloud.ibm.com/docs/speech-to-text?topic=speech-to-text-formatting and
//! ?topic=speech-to-text-basic-response), their combinations, and edge cases.

mod common;
use common::*;
use speechbatch_textfmt::{
    format_words, timestamps, transcript, word_confidence, RecognitionParams, Word, HESITATION,
};

/// "Without smart formatting" → "with smart formatting", from the service's tables (the
/// first word lowercased, as the service writes it).
const DOCUMENTED_SMART: &[(&str, &str)] = &[
    ("I was born on ten oh six nineteen seventy", "I was born on 10/6/1970"),
    ("I was born on the ninth of December nineteen hundred", "I was born on 12/9/1900"),
    ("Today is June sixth", "today is June 6"),
    ("The meeting starts at nine thirty AM", "the meeting starts at 9:30 AM"),
    ("I am available at seven EST", "I am available at 7:00 EST"),
    ("We meet at oh seven hundred hours", "we meet at 0700 hours"),
    ("The quantity is one million one hundred and one", "the quantity is 1000101"),
    ("One point five is between one and two", "1.5 is between 1 and 2"),
    ("Call me at nine one four two three seven one thousand", "call me at 914-237-1000"),
    ("Call me at one nine one four nine oh nine twenty six forty five", "call me at 1-914-909-2645"),
    ("You owe me three thousand two hundred two dollars and sixty six cents", "you owe me $3202.66"),
    ("You owe me three thousand two hundred two dollars and sixty six", "you owe me $3202.66"),
    (
        "The dollar rose to one hundred and nine point seven nine yen from one hundred and nine point seven two yen",
        "the dollar rose to 109.79 yen from 109.72 yen",
    ),
    ("My email address is john dot doe at foo dot com", "my email address is john.doe@foo.com"),
    ("My email address is j dot d o e at i b m dot com", "my email address is j.doe@ibm.com"),
    ("I saw the story on yahoo dot com", "I saw the story on yahoo.com"),
    (
        "The code is zero two four eight one and the date of service is May fifth two thousand and one",
        "the code is 02481 and the date of service is 5/5/2001",
    ),
    ("There are forty seven links on Yahoo dot com now", "there are 47 links on Yahoo.com now"),
    ("My phone number is nine one four five five seven three three nine two", "my phone number is 914-557-3392"),
    ("My phone number is nine one four", "my phone number is 914"),
    ("five five seven three three nine two", "5573392"),
    ("sixty nine thousand five hundred sixty dollars and twenty five cents", "$69560.25"),
    ("sixty nine thousand five hundred sixty dollars point twenty five", "$69560.25"),
    // Entities of the newer smart formatting for US English.
    ("july twenty fifth two thousand twelve", "7/25/2012"),
    ("the twenty fifth of july twenty twelve", "7/25/2012"),
    ("january the thirty first two thousand", "1/31/2000"),
    ("three o'clock", "3:00"),
    ("It would cost five point two million", "it would cost 5.2 million"),
    ("Its one hundred twenty first trial", "its 121st trial"),
    ("twelve dollars twenty five", "$12.25"),
    ("twelve dollars twenty five cents", "$12.25"),
    ("seventy five dollars sixty three", "$75.63"),
    ("fifty nine million", "59 million"),
    ("fifty nine million and one", "59000001"),
    ("Give me one dollar", "give me $1"),
];

#[test]
fn smart_formatting_matches_the_documented_examples() {
    for (spoken, written) in DOCUMENTED_SMART {
        assert_eq!(fmt(spoken, *SMART), *written, "{spoken}");
    }
}

#[test]
fn smart_formatting_handles_other_us_english_forms() {
    let cases = [
        (
            "the museum opens at nine thirty and closes at five",
            "the museum opens at 9:30 and closes at 5",
        ),
        (
            "open from nine thirty to ten fifteen",
            "open from 9:30 to 10:15",
        ),
        ("sixty five percent", "65%"),
        ("three point five percent", "3.5%"),
        ("fifty cents", "$0.50"),
        ("twenty euros", "€20"),
        ("a hundred dollars and fifty cents", "$100.50"),
        ("eighteen dollars and two tickets", "$18 and 2 tickets"),
        ("four point two million dollars", "$4.2 million"),
        ("in the nineteen nineties", "in the 1990s"),
        ("in nineteen ninety eight", "in 1998"),
        ("the fourth of July", "the 4th of July"),
        ("it was March twenty twenty six", "it was March 2026"),
        ("call nine one one", "call 911"),
        ("minus five degrees", "-5 degrees"),
        ("five PM", "5:00 PM"),
        ("five thirty P M", "5:30 PM"),
        ("fourteen thirty hours", "1430 hours"),
    ];
    for (spoken, written) in cases {
        assert_eq!(fmt(spoken, *SMART), written, "{spoken}");
    }
}

/// Words that are only numbers in some uses stay words in the others.
#[test]
fn smart_formatting_leaves_non_numeric_uses_alone() {
    let cases = [
        (
            "no one wants one of them but this one",
            "no one wants one of them but this one",
        ),
        ("wait a second", "wait a second"),
        ("at first he came second", "at first he came second"),
        ("the second race", "the 2nd race"),
        ("may I help you", "may I help you"),
        ("the dot com bubble", "the dot com bubble"),
        ("I looked at yahoo dot com", "I looked at yahoo.com"),
        ("we worked seven hundred hours", "we worked 700 hours"),
        ("up to thirty people", "up to 30 people"),
    ];
    for (spoken, written) in cases {
        assert_eq!(fmt(spoken, *SMART), written, "{spoken}");
    }
}

#[test]
fn default_style_matches_the_service_example() {
    let whisper = "Several tornadoes touch down as a line of severe thunderstorms swept through Colorado on Sunday.";
    let input = words(whisper);
    let out = format_words(&input, &RecognitionParams::default());
    assert_eq!(
        transcript(&out),
        "several tornadoes touch down as a line of severe thunderstorms swept through Colorado on Sunday "
    );
    assert_eq!(
        timestamps(&out)[0],
        ("several".to_string(), input[0].start, input[0].end)
    );
}

#[test]
fn default_style_speaks_written_forms() {
    let cases = [
        (
            "It cost $25.40.",
            "it cost twenty five dollars and forty cents",
        ),
        (
            "It cost $4.2 million.",
            "it cost four point two million dollars",
        ),
        (
            "Call 1-800-555-0199 or 911.",
            "call one eight zero zero five five five zero one nine nine or nine one one",
        ),
        (
            "We meet at 5:00 p.m. and at 9:05.",
            "we meet at five PM and at nine oh five",
        ),
        (
            "It happened in 1998 and again in 2026.",
            "it happened in nineteen ninety eight and again in twenty twenty six",
        ),
        (
            "About 2026 people came.",
            "about two thousand twenty six people came",
        ),
        (
            "Twenty-one of 12,500 voted.",
            "twenty one of twelve thousand five hundred voted",
        ),
        (
            "He was 3rd in the 1990s.",
            "he was third in the nineteen nineties",
        ),
        (
            "Mr. Smith met Mrs. Jones and Dr. Patel, etc.",
            "Mister Smith met Missus Jones and Doctor Patel et cetera",
        ),
        (
            "OK, visit yahoo.com or email j.doe@ibm.com.",
            "okay visit yahoo dot com or email j dot doe at ibm dot com",
        ),
        (
            "It's the U.S. team's \"best\" year—don't worry.",
            "it's the US team's best year don't worry",
        ),
        (
            "On 3/12 we meet at 0700 hours.",
            "on March twelfth we meet at oh seven hundred hours",
        ),
    ];
    for (whisper, spoken) in cases {
        assert_eq!(fmt(whisper, *DEFAULT), spoken, "{whisper}");
    }
}

#[test]
fn sentence_starts_are_lowercased_but_names_keep_capitals() {
    assert_eq!(
        fmt("The cat sat. It was Monday. I left.", *DEFAULT),
        "the cat sat it was Monday I left"
    );
    assert_eq!(
        fmt("Maria Gonzalez called. The Beatles played.", *DEFAULT),
        "Maria Gonzalez called the Beatles played"
    );
    assert_eq!(
        fmt("June is warm. NASA agreed.", *DEFAULT),
        "June is warm NASA agreed"
    );
    assert_eq!(fmt("Um, The cat sat.", *DEFAULT), "%HESITATION the cat sat");
}

#[test]
fn hesitations_are_marked_by_default_and_dropped_by_smart_formatting() {
    let input = words("That, um, that's a hmm uh-huh.");
    let out = format_words(&input, &DEFAULT);
    check_invariants(&input, &out);
    assert_eq!(
        transcript(&out),
        "that %HESITATION that's a %HESITATION uh huh "
    );
    assert_eq!(out[1].text, HESITATION);
    assert_eq!((out[1].start, out[1].end), (input[1].start, input[1].end));
    assert_eq!(
        fmt("That, um, that's a hmm uh-huh.", *SMART),
        "that that's a uh huh"
    );
    // Hesitations also stop numbers from joining, as the service warns they do.
    assert_eq!(fmt("nine um one one", *SMART), "9 11");
}

#[test]
fn redaction_masks_long_numbers_and_turns_smart_formatting_on() {
    let cases = [
        (
            "my credit card number is four one four seven two",
            "my credit card number is XXXXX",
        ),
        ("Call 617-555-0142 at 5:30.", "call XXX-XXX-XXXX at 5:30"),
        ("It costs $349.99, not $42.", "it costs $XXX.99 not $42"),
        (
            "Born on 7/4/1998, 12 of 1,250.",
            "born on 7/4/XXXX 12 of XXXX",
        ),
        ("twenty one people", "21 people"),
    ];
    for (input, expected) in cases {
        assert_eq!(fmt(input, *REDACT), expected, "{input}");
        let both = RecognitionParams {
            smart_formatting: true,
            ..*REDACT
        };
        assert_eq!(fmt(input, both), expected, "{input}");
    }
    assert!(REDACT.smart_formatting);
}

#[test]
fn profanity_is_masked_in_transcript_timestamps_and_confidence() {
    let input = words("Fuck you, that's bullshit, Shit's sake.");
    let out = format_words(&input, &RecognitionParams::default());
    check_invariants(&input, &out);
    assert_eq!(transcript(&out), "**** you that's ******** ****** sake ");
    assert_eq!(timestamps(&out)[0].0, "****");
    assert_eq!(word_confidence(&out)[0].0, "****");
    let off = RecognitionParams {
        profanity_filter: false,
        ..RecognitionParams::default()
    };
    assert_eq!(
        fmt("Fuck you, that's bullshit.", off),
        "fuck you that's bullshit"
    );
    assert_eq!(fmt("Fuck you.", *SMART), "**** you");
}

#[test]
fn profanity_matches_whole_words_only() {
    let clean = "In Scunthorpe: shiitake, cocktail, assessment, Dickens, class, Hancock, passed, pussycat, title.";
    let expected =
        "in Scunthorpe shiitake cocktail assessment Dickens class Hancock passed pussycat title";
    assert_eq!(fmt(clean, *DEFAULT), expected);
    // Words with an everyday meaning are not on the list.
    assert_eq!(
        fmt("the ass and the cock", *DEFAULT),
        "the ass and the cock"
    );
    assert!(speechbatch_textfmt::profanity::is_profane("FUCKING"));
    assert!(!speechbatch_textfmt::profanity::is_profane("scunthorpe"));
    assert_eq!(speechbatch_textfmt::profanity::mask("shit"), "****");
}

#[test]
fn profanity_filter_is_on_by_default() {
    let d = RecognitionParams::default();
    assert!(d.profanity_filter && !d.smart_formatting && !d.redaction);
}

/// Every combination of the three options on one sentence.
#[test]
fn smart_formatting_redaction_and_the_profanity_filter_combine_independently() {
    let text = "Shit, call 617-555-0142 by 9:30 a.m. and pay $1,250.";
    let expect = |smart: bool, redaction: bool, profanity: bool| -> String {
        let s = if profanity { "****" } else { "shit" };
        match (smart || redaction, redaction) {
            (false, _) => format!(
                "{s} call six one seven five five five zero one four two by nine thirty AM and pay one thousand two hundred fifty dollars"
            ),
            (true, false) => format!("{s} call 617-555-0142 by 9:30 AM and pay $1250"),
            (true, true) => format!("{s} call XXX-XXX-XXXX by 9:30 AM and pay $XXXX"),
        }
    };
    for smart in [false, true] {
        for redaction in [false, true] {
            for profanity in [false, true] {
                let opts = common::options(smart, redaction, profanity);
                assert_eq!(
                    fmt(text, opts),
                    expect(smart, redaction, profanity),
                    "{opts:?}"
                );
            }
        }
    }
}

#[test]
fn word_confidence_and_timestamps_are_aligned_with_the_transcript() {
    let input = words("Please call Dr. Patel at 617-555-0142 before 5:30 p.m., um, OK?");
    for opts in [*DEFAULT, *SMART, *REDACT] {
        let out = format_words(&input, &opts);
        check_invariants(&input, &out);
        let t = transcript(&out);
        let tokens: Vec<&str> = t.split_whitespace().collect();
        let ts = timestamps(&out);
        let wc = word_confidence(&out);
        assert_eq!(ts.len(), tokens.len());
        assert_eq!(wc.len(), tokens.len());
        for ((tok, (tw, s, e)), (cw, c)) in tokens.iter().zip(&ts).zip(&wc) {
            assert_eq!((tok, tok), (&tw.as_str(), &cw.as_str()));
            assert!(s <= e && (0.0..=1.0).contains(c));
        }
    }
    // The phone number's token takes the least confidence of the words it replaces.
    let spoken = words("call six one seven five five five zero one four two");
    let out = format_words(&spoken, &SMART);
    assert_eq!(out[1].text, "617-555-0142");
    assert_eq!(f64::from(out[1].confidence), word_confidence(&out)[1].1);
    assert_eq!(out[1].confidence, spoken.last().unwrap().confidence);
}

#[test]
fn empty_and_punctuation_only_input_give_no_words() {
    for opts in [*DEFAULT, *SMART, *REDACT] {
        assert!(format_words(&[], &opts).is_empty());
        let dots = vec![Word {
            text: "...".into(),
            start: 0.0,
            end: 0.2,
            confidence: 0.5,
        }];
        assert!(format_words(&dots, &opts).is_empty());
    }
    assert_eq!(transcript(&[]), "");
    assert!(timestamps(&[]).is_empty() && word_confidence(&[]).is_empty());
}

#[test]
fn odd_input_keeps_the_invariants() {
    let texts = [
        "  spaced   words ",
        "$ % & + @ # -- — …",
        "5:30:15 3.14159 1,2,3 00:00 24:00 99999999999999999999999",
        "f***ing 'quoted' (bracketed) [x] «y» e-mail AT&T",
        "mm-hmm uh-oh 1st. 2nd! 3rd? 4th,",
        "one two three four five six seven eight nine ten eleven twelve",
    ];
    for text in texts {
        for opts in [*DEFAULT, *SMART, *REDACT] {
            let input = words(text);
            check_invariants(&input, &format_words(&input, &opts));
        }
    }
    // A word with several space-separated parts shares its span too.
    let one = vec![Word {
        text: "at 9:30".into(),
        start: 1.0,
        end: 2.0,
        confidence: 0.7,
    }];
    let out = format_words(&one, &SMART);
    check_invariants(&one, &out);
    assert_eq!(transcript(&out), "at 9:30 ");
}

/// Deterministic random sentences from awkward tokens: nothing panics and every output keeps
/// the invariants under every option.
#[test]
fn random_sentences_keep_the_invariants() {
    const VOCAB: &[&str] = &[
        "one",
        "two",
        "oh",
        "zero",
        "twenty",
        "nineteen",
        "hundred",
        "thousand",
        "million",
        "and",
        "point",
        "dollars",
        "cents",
        "percent",
        "at",
        "on",
        "the",
        "first",
        "second",
        "March",
        "may",
        "PM",
        "a",
        "m",
        "p",
        "dot",
        "com",
        "email",
        "hours",
        "o'clock",
        "um",
        "EST",
        "$3.50",
        "9:30",
        "3/12/2026",
        "617-555-0142",
        "4th",
        "1998",
        "12,500",
        "2.5%",
        "p.m.",
        "Dr.",
        "twenty-one",
        "fuck",
        "U.S.",
        "yahoo.com",
        "(617)",
        "555-0142",
        "—",
        ",",
        ".",
        "?",
        "'90s",
        "#5",
        "24/7",
        "AT&T",
        "double",
        "minus",
        "of",
        "the",
        "to",
        "until",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |m: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % m
    };
    for _ in 0..3000 {
        let len = 1 + next(14);
        let text: Vec<&str> = (0..len).map(|_| VOCAB[next(VOCAB.len())]).collect();
        let input = words(&text.join(" "));
        for opts in [*DEFAULT, *SMART, *REDACT] {
            let out = format_words(&input, &opts);
            check_invariants(&input, &out);
            if opts.redaction {
                assert!(!out.iter().any(|w| w
                    .text
                    .as_bytes()
                    .windows(3)
                    .any(|d| d.iter().all(u8::is_ascii_digit))));
            }
        }
    }
}

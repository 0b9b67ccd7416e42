//! The status rules, the 400/404/409 cases, the limits, the merged words view and training.

use super::*;
use crate::analysis::analyze;

/// A distinct time for each step, so that `updated` can be checked.
fn t(second: u32) -> Timestamp {
    Timestamp::parse(&format!(
        "2020-03-01T10:{:02}:{:02}.000+0000",
        second / 60,
        second % 60
    ))
    .unwrap()
}

fn create(base: &str) -> CreateLanguageModel {
    CreateLanguageModel {
        name: "call centre".to_string(),
        base_model_name: base.to_string(),
        dialect: None,
        description: Some("Veltrix products".to_string()),
    }
}

fn new_model() -> ModelState {
    ModelState::new("cid-1".to_string(), &create("en-US_NarrowbandModel"), t(0)).unwrap()
}

fn word(w: &str) -> CustomWord {
    CustomWord {
        word: Some(w.to_string()),
        ..CustomWord::default()
    }
}

fn word_with(w: &str, sounds_like: &[&str], display_as: Option<&str>) -> CustomWord {
    CustomWord {
        word: Some(w.to_string()),
        sounds_like: Some(sounds_like.iter().map(|s| s.to_string()).collect()),
        display_as: display_as.map(str::to_string),
    }
}

/// Adds corpus `name` with `text`, analysed.
fn add_corpus(m: &mut ModelState, name: &str, text: &str) {
    m.begin_corpus(name, false, t(1)).unwrap();
    m.finish_corpus(name, Ok(analyze(text)), t(2));
    assert_eq!(m.corpus(name).unwrap().status, CorpusStatus::Analyzed);
}

fn status(m: &ModelState) -> LanguageModelStatus {
    m.model.status
}

fn is_conflict<T: fmt::Debug>(r: Result<T, CustomError>) -> bool {
    matches!(r, Err(CustomError::Conflict(_)))
}

fn invalid_message<T: fmt::Debug>(r: Result<T, CustomError>) -> String {
    match r {
        Err(CustomError::Invalid(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

/// A model in `s`, with one user word (and a trained vocabulary from `training` on).
fn in_status(s: LanguageModelStatus) -> ModelState {
    use LanguageModelStatus::*;
    let mut m = new_model();
    if s == Pending {
        return m;
    }
    m.add_words(&[word("Quorbit")], t(1)).unwrap();
    if s == Ready {
        return m;
    }
    let opts = TrainOptions::default();
    m.begin_training(&opts, t(2)).unwrap();
    match s {
        Training => {}
        Failed => m.finish_training(Err("out of memory".to_string()), t(3)),
        Available | Upgrading => {
            let v = m.train(&opts, t(3));
            m.finish_training(v, t(3));
            if s == Upgrading {
                m.begin_upgrade(t(4)).unwrap();
            }
        }
        Pending | Ready => unreachable!(),
    }
    assert_eq!(status(&m), s);
    m
}

const ALL_STATUSES: [LanguageModelStatus; 6] = [
    LanguageModelStatus::Pending,
    LanguageModelStatus::Ready,
    LanguageModelStatus::Training,
    LanguageModelStatus::Available,
    LanguageModelStatus::Upgrading,
    LanguageModelStatus::Failed,
];

#[test]
fn a_new_model_is_pending_with_the_interface_fields() {
    let m = new_model();
    let json = serde_json::to_value(&m.model).unwrap();
    assert_eq!(json["customization_id"], "cid-1");
    assert_eq!(json["status"], "pending");
    assert_eq!(json["progress"], 0);
    assert_eq!(json["language"], "en-US");
    assert_eq!(json["dialect"], "en-US");
    assert_eq!(json["owner"], "admin");
    assert_eq!(json["name"], "call centre");
    assert_eq!(json["description"], "Veltrix products");
    assert_eq!(json["base_model_name"], "en-US_NarrowbandModel");
    assert_eq!(
        json["versions"],
        serde_json::json!(["en-US_NarrowbandModel.v1"])
    );
    assert_eq!(json["created"], "2020-03-01T10:00:00.000+0000");
    assert!(json.get("error").is_none() && json.get("warnings").is_none());
    assert!(m.corpora().is_empty() && m.words(WordType::All, WordSort::default()).is_empty());

    let mut req = create("en-US_BroadbandModel");
    req.description = None;
    req.dialect = Some("en-US".to_string());
    let m = ModelState::new("cid-2".to_string(), &req, t(0)).unwrap();
    assert_eq!(m.model.description, "");
}

#[test]
fn creating_refuses_an_empty_name_an_unknown_base_model_and_other_dialects() {
    let mut req = create("en-US_BroadbandModel");
    req.name = "  ".to_string();
    assert!(invalid_message(ModelState::new("c".into(), &req, t(0))).contains("name"));

    let msg = invalid_message(ModelState::new(
        "c".into(),
        &create("en-GB_BroadbandModel"),
        t(0),
    ));
    assert!(msg.contains("en-GB_BroadbandModel"), "{msg}");

    let mut req = create("en-US_BroadbandModel");
    req.dialect = Some("en-GB".to_string());
    let msg = invalid_message(ModelState::new("c".into(), &req, t(0)));
    assert!(msg.contains("en-GB") && msg.contains("en-US"), "{msg}");
}

#[test]
fn a_corpus_is_pending_while_analysed_then_the_model_is_ready() {
    let mut m = new_model();
    m.begin_corpus("calls", false, t(1)).unwrap();
    let c = m.corpus("calls").unwrap();
    assert_eq!(c.status, CorpusStatus::BeingProcessed);
    assert_eq!((c.total_words, c.out_of_vocabulary_words), (0, 0));
    assert_eq!(status(&m), LanguageModelStatus::Pending);
    assert_eq!(m.model.updated, t(1));

    m.finish_corpus(
        "calls",
        Ok(analyze(
            "Restart the Quorbit router. The Quorbit and the Zentraphone.",
        )),
        t(2),
    );
    let c = m.corpus("calls").unwrap();
    assert_eq!(c.status, CorpusStatus::Analyzed);
    assert_eq!((c.total_words, c.out_of_vocabulary_words), (9, 2));
    assert_eq!(c.error, None);
    assert_eq!(status(&m), LanguageModelStatus::Ready);
    assert_eq!(m.model.updated, t(2));
    assert_eq!(m.corpora(), vec![c]);

    let json = serde_json::to_value(m.corpora()).unwrap();
    assert_eq!(json[0]["status"], "analyzed");
    assert!(json[0].get("error").is_none());
}

#[test]
fn a_missing_corpus_is_404() {
    let mut m = new_model();
    assert!(matches!(m.corpus("nope"), Err(CustomError::NotFound(msg)) if msg.contains("nope")));
    assert!(matches!(
        m.delete_corpus("nope", t(1)),
        Err(CustomError::NotFound(_))
    ));
}

#[test]
fn corpus_names_are_checked() {
    let mut m = new_model();
    for bad in [
        "user",
        "base_lm",
        "default_lm",
        "User",
        "",
        "  ",
        "a/b",
        "tab\there",
    ] {
        let msg = invalid_message(m.begin_corpus(bad, false, t(1)));
        assert!(msg.contains("corpus name"), "{bad}: {msg}");
    }
    let long = "x".repeat(MAX_CORPUS_NAME_CHARS + 1);
    assert!(invalid_message(m.begin_corpus(&long, false, t(1))).contains("128"));
    m.begin_corpus(&"x".repeat(MAX_CORPUS_NAME_CHARS), false, t(1))
        .unwrap();
    m.begin_corpus("ünïcode name", false, t(1)).unwrap();
    assert_eq!(m.corpora.len(), 2);
}

#[test]
fn an_existing_corpus_is_409_unless_overwritten_and_never_while_analysed() {
    let mut m = new_model();
    m.begin_corpus("calls", false, t(1)).unwrap();
    assert!(
        is_conflict(m.begin_corpus("calls", true, t(2))),
        "still being analysed"
    );
    m.finish_corpus("calls", Ok(analyze("the Quorbit")), t(3));
    let Err(CustomError::Conflict(msg)) = m.begin_corpus("calls", false, t(4)) else {
        panic!("expected 409");
    };
    assert!(
        msg.contains("already exists") && msg.contains("allow_overwrite"),
        "{msg}"
    );
    m.begin_corpus("calls", true, t(5)).unwrap();
    m.finish_corpus("calls", Ok(analyze("the Nimbra update")), t(6));
    let words: Vec<String> = m
        .words(WordType::All, WordSort::default())
        .into_iter()
        .map(|w| w.word)
        .collect();
    assert_eq!(words, ["Nimbra"], "the overwritten corpus's words are gone");
}

#[test]
fn corpus_texts_must_be_utf8_plain_text_with_words() {
    assert_eq!(
        ModelState::validate_corpus_text("Quorbit router\n".as_bytes()).unwrap(),
        "Quorbit router\n"
    );
    assert_eq!(
        ModelState::validate_corpus_text(b"\xEF\xBB\xBFhello").unwrap(),
        "hello",
        "a byte order mark is dropped"
    );
    let msg = invalid_message(ModelState::validate_corpus_text(b"ab\0cd"));
    assert!(msg.contains("NUL"), "{msg}");
    let msg = invalid_message(ModelState::validate_corpus_text(b"abc \xff\xfe def"));
    assert!(msg.contains("UTF-8") && msg.contains("offset 4"), "{msg}");
    for empty in [&b""[..], b"   \n\t", b"... !!! --"] {
        let msg = invalid_message(ModelState::validate_corpus_text(empty));
        assert!(msg.contains("empty"), "{msg}");
    }
}

#[test]
fn a_failed_analysis_leaves_the_corpus_undetermined() {
    let mut m = new_model();
    m.begin_corpus("calls", false, t(1)).unwrap();
    m.finish_corpus("calls", Err("could not read the text".to_string()), t(2));
    let c = m.corpus("calls").unwrap();
    assert_eq!(c.status, CorpusStatus::Undetermined);
    assert_eq!(c.error.as_deref(), Some("could not read the text"));
    assert_eq!(
        status(&m),
        LanguageModelStatus::Pending,
        "nothing valid yet"
    );
    assert_eq!(serde_json::to_value(&c).unwrap()["status"], "undetermined");

    m.add_words(&[word("Quorbit")], t(3)).unwrap();
    assert_eq!(status(&m), LanguageModelStatus::Ready);
}

#[test]
fn finishing_a_corpus_that_is_gone_or_not_being_analysed_changes_nothing() {
    let mut m = new_model();
    m.finish_corpus("ghost", Ok(analyze("Quorbit")), t(1));
    assert!(m.corpora.is_empty());
    assert_eq!(m, new_model());

    add_corpus(&mut m, "calls", "the Quorbit");
    let before = m.clone();
    m.finish_corpus("calls", Ok(analyze("the Nimbra")), t(9));
    assert_eq!(m, before, "a late second result is ignored");
}

/// An analysis with `n` distinct out-of-vocabulary words named `prefix0..`.
fn synthetic(prefix: &str, n: usize, total_words: u64) -> CorpusAnalysis {
    CorpusAnalysis {
        total_words,
        oov: (0..n).map(|i| (format!("{prefix}{i}"), 1)).collect(),
    }
}

#[test]
fn corpora_over_ten_million_words_in_all_are_undetermined() {
    let mut m = new_model();
    m.begin_corpus("big", false, t(1)).unwrap();
    m.finish_corpus("big", Ok(synthetic("a", 1, 6_000_000)), t(2));
    assert_eq!(m.corpus("big").unwrap().status, CorpusStatus::Analyzed);

    m.begin_corpus("bigger", false, t(3)).unwrap();
    m.finish_corpus("bigger", Ok(synthetic("b", 1, 4_000_001)), t(4));
    let c = m.corpus("bigger").unwrap();
    assert_eq!(c.status, CorpusStatus::Undetermined);
    let err = c.error.unwrap();
    assert!(
        err.contains("10000000") && err.contains("10000001"),
        "{err}"
    );
    assert_eq!(c.total_words, 0);
    assert_eq!(
        status(&m),
        LanguageModelStatus::Ready,
        "the first corpus is still valid"
    );

    // Exactly at the limit is allowed; replacing a corpus does not count it twice.
    m.begin_corpus("bigger", true, t(5)).unwrap();
    m.finish_corpus("bigger", Ok(synthetic("b", 1, 4_000_000)), t(6));
    assert_eq!(m.corpus("bigger").unwrap().status, CorpusStatus::Analyzed);
    m.begin_corpus("big", true, t(7)).unwrap();
    m.finish_corpus("big", Ok(synthetic("a", 1, 6_000_000)), t(8));
    assert_eq!(m.corpus("big").unwrap().status, CorpusStatus::Analyzed);
}

#[test]
fn more_than_90000_out_of_vocabulary_words_are_refused() {
    let mut m = new_model();
    m.begin_corpus("one", false, t(1)).unwrap();
    m.finish_corpus("one", Ok(synthetic("w", MAX_OOV_WORDS - 1, 100_000)), t(2));
    assert_eq!(m.corpus("one").unwrap().status, CorpusStatus::Analyzed);

    // A second corpus repeating those words (in another case) plus one new word fits.
    let mut again = synthetic("W", MAX_OOV_WORDS - 1, 100_000);
    again.oov.insert("extra".to_string(), 1);
    m.begin_corpus("two", false, t(3)).unwrap();
    m.finish_corpus("two", Ok(again), t(4));
    assert_eq!(m.corpus("two").unwrap().status, CorpusStatus::Analyzed);
    assert_eq!(
        m.words(WordType::All, WordSort::default()).len(),
        MAX_OOV_WORDS
    );

    // One more distinct word, from a corpus or a user, is over the limit.
    m.begin_corpus("three", false, t(5)).unwrap();
    m.finish_corpus("three", Ok(synthetic("new", 1, 1)), t(6));
    let c = m.corpus("three").unwrap();
    assert_eq!(c.status, CorpusStatus::Undetermined);
    assert!(c.error.unwrap().contains("90000"));
    let msg = invalid_message(m.add_words(&[word("Zentraphone")], t(7)));
    assert!(msg.contains("90000"), "{msg}");
    // A word the model has already is no new word.
    m.add_words(&[word("EXTRA")], t(8)).unwrap();
}

#[test]
fn deleting_a_corpus_drops_its_words_unless_another_source_has_them() {
    let mut m = new_model();
    add_corpus(&mut m, "a", "Quorbit Quorbit Nimbra Kalvani");
    add_corpus(&mut m, "b", "Nimbra Orlessa");
    m.add_words(&[word("kalvani")], t(3)).unwrap();

    m.delete_corpus("a", t(4)).unwrap();
    assert!(matches!(m.corpus("a"), Err(CustomError::NotFound(_))));
    let words: Vec<(String, u64, Vec<String>)> = m
        .words(WordType::All, WordSort::default())
        .into_iter()
        .map(|w| (w.word, w.count, w.source))
        .collect();
    assert_eq!(
        words,
        [
            ("Nimbra".to_string(), 1, vec!["b".to_string()]),
            ("Orlessa".to_string(), 1, vec!["b".to_string()]),
            ("kalvani".to_string(), 0, vec!["user".to_string()]),
        ]
    );
    assert_eq!(status(&m), LanguageModelStatus::Ready);
    assert_eq!(m.model.updated, t(4));

    m.delete_word("kalvani", t(5)).unwrap();
    m.delete_corpus("b", t(6)).unwrap();
    assert_eq!(status(&m), LanguageModelStatus::Pending, "nothing left");
}

#[test]
fn a_corpus_being_analysed_cannot_be_deleted() {
    let mut m = new_model();
    m.begin_corpus("a", false, t(1)).unwrap();
    assert!(is_conflict(m.delete_corpus("a", t(2))));
    m.finish_corpus("a", Err("bad".into()), t(3));
    m.delete_corpus("a", t(4)).unwrap();
}

#[test]
fn words_are_checked_all_before_any_is_stored() {
    let mut m = new_model();
    let cases: Vec<(CustomWord, &str)> = vec![
        (
            CustomWord::default(),
            "Word 2 of the request has no \"word\"",
        ),
        (word("  "), "has no \"word\""),
        (word("Quorbit router"), "spaces"),
        (word("--"), "letter or digit"),
        (
            word_with("Zentraphone", &["a", "b", "c", "d", "e", "f"], None),
            "at most 5",
        ),
        (word_with("Zentraphone", &[" "], None), "empty"),
        (
            word_with("Zentraphone", &["zentraphone x9"], None),
            "digits",
        ),
        (word_with("Zentraphone", &["zen+tra"], None), "'+'"),
        (
            word_with(
                "Zentraphone",
                &[&"z".repeat(MAX_SOUNDS_LIKE_CHARS + 1)],
                None,
            ),
            "longer than 40",
        ),
        (word_with("Zentraphone", &[], Some(" ")), "display_as"),
    ];
    for (bad, expected) in cases {
        let msg = invalid_message(m.add_words(&[word("Quorbit"), bad.clone()], t(1)));
        assert!(msg.contains(expected), "{bad:?}: {msg}");
        if let Some(w) = bad.word.as_deref().filter(|w| !w.trim().is_empty()) {
            assert!(msg.contains(w), "the message names the word: {msg}");
        }
        assert!(m.user_words.is_empty(), "nothing stored after {bad:?}");
    }
    assert!(invalid_message(m.add_words(&[], t(1))).contains("No words"));
    assert_eq!(status(&m), LanguageModelStatus::Pending);
    assert_eq!(m.model.updated, t(0));

    // The limits themselves are allowed; spaces do not count towards the 40 characters.
    let forty_with_spaces = format!("{} {}", "a".repeat(20), "b".repeat(20));
    let ok = word_with(
        "IEEE",
        &[
            "I. triple E.",
            "eye triple e",
            "o'brien",
            "x-ray",
            &forty_with_spaces,
        ],
        Some("IEEE"),
    );
    m.add_words(&[ok], t(2)).unwrap();
    assert_eq!(m.user_words["IEEE"].sounds_like.len(), MAX_SOUNDS_LIKE);
    assert_eq!(status(&m), LanguageModelStatus::Ready);
    assert_eq!(m.model.updated, t(2));
}

#[test]
fn a_word_in_another_case_replaces_the_user_word() {
    let mut m = new_model();
    m.add_words(
        &[word_with(
            "myveltrix",
            &["my vel tricks"],
            Some("MyVeltrix"),
        )],
        t(1),
    )
    .unwrap();
    m.add_words(&[word_with("MYVELTRIX", &[" my veltrix "], None)], t(2))
        .unwrap();
    assert_eq!(m.user_words.len(), 1);
    let w = m.word("MyVeltrix").unwrap();
    assert_eq!(w.word, "MYVELTRIX");
    assert_eq!(w.sounds_like, ["my veltrix"], "trimmed");
    assert_eq!(
        w.display_as, "MYVELTRIX",
        "a replacement replaces display_as too"
    );
}

#[test]
fn put_word_takes_the_word_from_the_path() {
    let mut m = new_model();
    let body = CustomWord {
        word: Some("ignored".to_string()),
        sounds_like: Some(vec!["e. sim".to_string()]),
        display_as: Some("eSIM".to_string()),
    };
    m.put_word("esim", &body, t(1)).unwrap();
    let w = m.word("ESIM").unwrap();
    assert_eq!((w.word.as_str(), w.display_as.as_str()), ("esim", "eSIM"));
    assert_eq!(w.source, ["user"]);
    assert!(matches!(m.word("ignored"), Err(CustomError::NotFound(_))));
    let msg = invalid_message(m.put_word("e sim", &CustomWord::default(), t(2)));
    assert!(msg.contains("spaces"), "{msg}");
}

#[test]
fn the_words_view_merges_corpora_and_users() {
    let mut m = new_model();
    add_corpus(
        &mut m,
        "calls",
        "Zentraphone Zentraphone Quorbit MyVeltrix router",
    );
    add_corpus(
        &mut m,
        "chats",
        "Zentraphone zentraphone ZENTRAPHONE Nimbra",
    );
    m.add_words(
        &[
            word_with("myveltrix", &["my vel tricks"], Some("MyVeltrix")),
            word_with("Orlessa", &[], None),
        ],
        t(3),
    )
    .unwrap();

    let z = m.word("zentraphone").unwrap();
    assert_eq!(z.word, "Zentraphone", "the best-attested spelling");
    assert_eq!(z.count, 5);
    assert_eq!(z.source, ["calls", "chats"]);
    assert_eq!(z.sounds_like, ["zen tra phone"], "derived");
    assert_eq!(z.display_as, "Zentraphone");
    assert_eq!(z.error, None);

    let my = m.word("MyVeltrix").unwrap();
    assert_eq!(my.word, "myveltrix", "the user's spelling");
    assert_eq!(my.count, 1);
    assert_eq!(my.source, ["calls", "user"]);
    assert_eq!(my.sounds_like, ["my vel tricks"]);
    assert_eq!(my.display_as, "MyVeltrix");

    let o = m.word("Orlessa").unwrap();
    assert_eq!((o.count, o.source.clone()), (0, vec!["user".to_string()]));
    assert_eq!(
        o.sounds_like,
        ["or les sa"],
        "an empty sounds_like is derived"
    );

    assert!(matches!(m.word("router"), Err(CustomError::NotFound(msg)) if msg.contains("router")));

    let names = |wt: WordType, sort: WordSort| -> Vec<String> {
        m.words(wt, sort).into_iter().map(|w| w.word).collect()
    };
    use WordSort::*;
    assert_eq!(
        names(WordType::All, AlphabeticalAscending),
        ["Nimbra", "Orlessa", "Quorbit", "Zentraphone", "myveltrix"],
        "capitals before small letters"
    );
    assert_eq!(
        names(WordType::All, AlphabeticalDescending),
        ["myveltrix", "Zentraphone", "Quorbit", "Orlessa", "Nimbra"]
    );
    assert_eq!(
        names(WordType::All, CountDescending),
        ["Zentraphone", "Nimbra", "Quorbit", "myveltrix", "Orlessa"],
        "most used first, ties alphabetical"
    );
    assert_eq!(
        names(WordType::All, CountAscending),
        ["Orlessa", "Nimbra", "Quorbit", "myveltrix", "Zentraphone"]
    );
    assert_eq!(
        names(WordType::User, AlphabeticalAscending),
        ["Orlessa", "myveltrix"]
    );
    assert_eq!(
        names(WordType::Corpora, AlphabeticalAscending),
        ["Nimbra", "Quorbit", "Zentraphone", "myveltrix"]
    );
    assert!(names(WordType::Grammars, AlphabeticalAscending).is_empty());

    let json = serde_json::to_value(m.words(WordType::User, AlphabeticalAscending)).unwrap();
    assert_eq!(
        json[1],
        serde_json::json!({
            "word": "myveltrix", "sounds_like": ["my vel tricks"], "display_as": "MyVeltrix",
            "count": 1, "source": ["calls", "user"]
        })
    );
}

#[test]
fn deleting_a_word_removes_it_from_every_source() {
    let mut m = new_model();
    add_corpus(&mut m, "calls", "Quorbit Nimbra");
    m.add_words(&[word("quorbit"), word("Kalvani")], t(3))
        .unwrap();

    m.delete_word("QUORBIT", t(4)).unwrap();
    assert!(matches!(m.word("Quorbit"), Err(CustomError::NotFound(_))));
    assert_eq!(
        m.corpus("calls").unwrap().out_of_vocabulary_words,
        2,
        "as analysed"
    );
    m.delete_word("nimbra", t(5)).unwrap();
    assert_eq!(m.model.updated, t(5));
    assert!(matches!(
        m.delete_word("nimbra", t(6)),
        Err(CustomError::NotFound(_))
    ));
    assert_eq!(m.model.updated, t(5), "a refused change changes nothing");
    let left: Vec<String> = m
        .words(WordType::All, WordSort::default())
        .into_iter()
        .map(|w| w.word)
        .collect();
    assert_eq!(left, ["Kalvani"]);
}

#[test]
fn query_values_parse_as_the_interface_spells_them() {
    assert_eq!("all".parse(), Ok(WordType::All));
    assert_eq!("user".parse(), Ok(WordType::User));
    assert_eq!("corpora".parse(), Ok(WordType::Corpora));
    assert_eq!("grammars".parse(), Ok(WordType::Grammars));
    assert!(
        matches!("All".parse::<WordType>(), Err(CustomError::Invalid(m)) if m.contains("word_type"))
    );

    use WordSort::*;
    for (s, expected) in [
        ("alphabetical", AlphabeticalAscending),
        ("+alphabetical", AlphabeticalAscending),
        (" alphabetical", AlphabeticalAscending),
        ("-alphabetical", AlphabeticalDescending),
        ("count", CountDescending),
        ("-count", CountDescending),
        ("+count", CountAscending),
        (" count", CountAscending),
    ] {
        assert_eq!(s.parse::<WordSort>(), Ok(expected), "{s}");
    }
    assert!(
        matches!("size".parse::<WordSort>(), Err(CustomError::Invalid(m)) if m.contains("sort"))
    );
    assert_eq!(WordSort::default(), AlphabeticalAscending);

    assert_eq!("all".parse(), Ok(WordTypeToAdd::All));
    assert_eq!("user".parse(), Ok(WordTypeToAdd::User));
    assert!("corpora".parse::<WordTypeToAdd>().is_err());
}

#[test]
fn train_options_come_from_the_query() {
    assert_eq!(
        TrainOptions::from_query(None, None, None),
        Ok(TrainOptions::default())
    );
    assert_eq!(
        TrainOptions::from_query(Some("user"), Some("0.5"), Some("true")),
        Ok(TrainOptions {
            word_type_to_add: WordTypeToAdd::User,
            customization_weight: Some(0.5),
            strict: true,
        })
    );
    assert_eq!(
        TrainOptions::from_query(None, Some("1"), Some("FALSE"))
            .unwrap()
            .customization_weight,
        Some(1.0)
    );
    for (wt, w, s, param) in [
        (Some("corpora"), None, None, "word_type_to_add"),
        (None, Some("1.5"), None, "customization_weight"),
        (None, Some("-0.1"), None, "customization_weight"),
        (None, Some("NaN"), None, "customization_weight"),
        (None, Some("high"), None, "customization_weight"),
        (None, None, Some("yes"), "strict"),
    ] {
        let msg = invalid_message(TrainOptions::from_query(wt, w, s));
        assert!(msg.contains(param), "{msg}");
    }
}

#[test]
fn training_needs_something_to_train_on() {
    let mut m = new_model();
    let msg = invalid_message(m.begin_training(&TrainOptions::default(), t(1)));
    assert!(msg.contains("no analyzed corpora and no words"), "{msg}");

    add_corpus(&mut m, "calls", "Quorbit");
    let user_only = TrainOptions {
        word_type_to_add: WordTypeToAdd::User,
        ..TrainOptions::default()
    };
    let msg = invalid_message(m.begin_training(&user_only, t(3)));
    assert!(msg.contains("word_type_to_add=user"), "{msg}");

    let heavy = TrainOptions {
        customization_weight: Some(2.0),
        ..TrainOptions::default()
    };
    assert!(invalid_message(m.begin_training(&heavy, t(3))).contains("customization_weight"));
    assert_eq!(status(&m), LanguageModelStatus::Ready);

    // A corpus with no unknown words is still something to train on (an empty vocabulary).
    let mut plain = new_model();
    add_corpus(&mut plain, "plain", "the router is fine");
    plain
        .begin_training(&TrainOptions::default(), t(3))
        .unwrap();
    let v = plain.train(&TrainOptions::default(), t(4)).unwrap();
    assert!(v.words.is_empty());
}

#[test]
fn training_waits_for_corpus_analysis() {
    let mut m = in_status(LanguageModelStatus::Ready);
    m.begin_corpus("calls", false, t(5)).unwrap();
    let Err(CustomError::Conflict(msg)) = m.begin_training(&TrainOptions::default(), t(6)) else {
        panic!("expected 409");
    };
    assert!(msg.contains("calls"), "{msg}");
    assert!(is_conflict(m.begin_upgrade(t(6))));
    assert!(is_conflict(m.reset(t(6))));
    m.finish_corpus("calls", Ok(analyze("Nimbra")), t(7));
    m.begin_training(&TrainOptions::default(), t(8)).unwrap();
}

#[test]
fn strict_training_refuses_unanalysable_corpora_and_lenient_training_warns() {
    let mut m = new_model();
    add_corpus(&mut m, "good", "Quorbit");
    m.begin_corpus("broken", false, t(3)).unwrap();
    m.finish_corpus("broken", Err("not text".to_string()), t(4));

    let strict = TrainOptions {
        strict: true,
        ..TrainOptions::default()
    };
    let msg = invalid_message(m.begin_training(&strict, t(5)));
    assert!(
        msg.contains("'broken'") && msg.contains("not text"),
        "{msg}"
    );
    assert_eq!(status(&m), LanguageModelStatus::Ready);

    let lenient = TrainOptions::default();
    m.begin_training(&lenient, t(6)).unwrap();
    let v = m.train(&lenient, t(7));
    m.finish_training(v, t(7));
    assert_eq!(status(&m), LanguageModelStatus::Available);
    let warnings = m.model.warnings.clone().unwrap();
    assert!(warnings.contains("'broken'"), "{warnings}");

    // Training only the user's words does not use corpora, so strictness is about nothing.
    m.add_words(&[word("Kalvani")], t(8)).unwrap();
    let user_strict = TrainOptions {
        word_type_to_add: WordTypeToAdd::User,
        strict: true,
        ..TrainOptions::default()
    };
    m.begin_training(&user_strict, t(9)).unwrap();
    let v = m.train(&user_strict, t(10));
    m.finish_training(v, t(10));
    assert_eq!(m.model.warnings, None);
}

#[test]
fn training_builds_the_vocabulary_most_used_first() {
    let mut m = new_model();
    add_corpus(
        &mut m,
        "calls",
        "Zentraphone Zentraphone Zentraphone Quorbit Quorbit Nimbra SSN SSN",
    );
    m.add_words(
        &[
            word_with(
                "Quorbit",
                &["quor bit", "QUOR BIT", "kwor bit"],
                Some("QuorBit"),
            ),
            word_with("eSIM", &["e. sim"], None),
        ],
        t(3),
    )
    .unwrap();
    let opts = TrainOptions {
        customization_weight: Some(0.5),
        ..TrainOptions::default()
    };
    m.begin_training(&opts, t(4)).unwrap();
    assert_eq!(
        (status(&m), m.model.progress),
        (LanguageModelStatus::Training, 0)
    );
    let v = m.train(&opts, t(5)).unwrap();
    assert_eq!(v.customization_id, "cid-1");
    assert_eq!(v.base_model_name, ModelName::Narrowband);
    assert_eq!(v.trained, t(5));
    assert_eq!(v.customization_weight, Some(0.5));
    let got: Vec<(&str, Vec<&str>, u64)> = v
        .words
        .iter()
        .map(|w| {
            (
                w.display_as.as_str(),
                w.spellings.iter().map(String::as_str).collect(),
                w.count,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("Zentraphone", vec!["Zentraphone", "zen tra phone"], 3),
            ("QuorBit", vec!["Quorbit", "quor bit", "kwor bit"], 2),
            ("Nimbra", vec!["Nimbra", "nim bra"], 1),
            ("eSIM", vec!["eSIM", "e. sim"], 0),
        ],
        "SSN is known; repeated spellings (any case) once"
    );

    let user = TrainOptions {
        word_type_to_add: WordTypeToAdd::User,
        ..TrainOptions::default()
    };
    let v = m.train(&user, t(5)).unwrap();
    let names: Vec<&str> = v.words.iter().map(|w| w.display_as.as_str()).collect();
    assert_eq!(names, ["QuorBit", "eSIM"]);
    assert_eq!(v.customization_weight, None, "nothing saved yet");
}

#[test]
fn a_saved_weight_carries_over_until_another_is_given() {
    let mut m = in_status(LanguageModelStatus::Ready);
    let w = |x: Option<f64>| TrainOptions {
        customization_weight: x,
        ..TrainOptions::default()
    };
    for (given, saved) in [
        (Some(0.7), Some(0.7)),
        (None, Some(0.7)),
        (Some(0.0), Some(0.0)),
    ] {
        m.begin_training(&w(given), t(5)).unwrap();
        let v = m.train(&w(given), t(6));
        m.finish_training(v, t(6));
        let trained = m.trained.as_ref().unwrap();
        assert_eq!(trained.customization_weight, saved, "{given:?}");
    }
    assert_eq!(m.trained.as_ref().unwrap().weight(Some(0.9)), 0.9);
    assert!(m.train(&w(Some(1.1)), t(7)).is_err());
}

#[test]
fn finishing_training_makes_the_model_available_or_failed() {
    let mut m = in_status(LanguageModelStatus::Training);
    m.set_progress(40);
    assert_eq!(m.model.progress, 40);
    m.set_progress(100);
    assert_eq!(m.model.progress, 99, "100 only once available");
    let v = m.train(&TrainOptions::default(), t(5)).unwrap();
    m.finish_training(Ok(v.clone()), t(6));
    assert_eq!(status(&m), LanguageModelStatus::Available);
    assert_eq!(m.model.progress, 100);
    assert_eq!(m.model.updated, t(6));
    assert_eq!(m.trained.as_ref(), Some(&v));
    assert_eq!(m.model.error, None);

    m.set_progress(10);
    assert_eq!(m.model.progress, 100, "progress is ignored unless busy");
    let before = m.clone();
    m.finish_training(Err("late".into()), t(7));
    assert_eq!(m, before, "a result when not training is ignored");

    m.add_words(&[word("Nimbra")], t(8)).unwrap();
    m.begin_training(&TrainOptions::default(), t(9)).unwrap();
    m.finish_training(Err("the trainer crashed".into()), t(10));
    assert_eq!(status(&m), LanguageModelStatus::Failed);
    assert_eq!(m.model.error.as_deref(), Some("the trainer crashed"));
    assert_eq!(
        m.trained.as_ref(),
        Some(&v),
        "the previous vocabulary is kept"
    );
    let json = serde_json::to_value(&m.model).unwrap();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["error"], "the trainer crashed");

    // A change after a failure clears the error and makes the model ready again.
    m.add_words(&[word("Orlessa")], t(11)).unwrap();
    assert_eq!(status(&m), LanguageModelStatus::Ready);
    assert_eq!(m.model.error, None);
}

/// What each operation does from each status: refused with 409 while training or upgrading,
/// and otherwise the status it leads to.
#[test]
fn every_operation_from_every_status() {
    use LanguageModelStatus::*;
    type Op = fn(&mut ModelState) -> Result<(), CustomError>;
    let ops: [(&str, Op, [Option<LanguageModelStatus>; 6]); 8] = [
        // For each op, the status after it from Pending, Ready, Training, Available,
        // Upgrading, Failed; `None` means 409.
        (
            "begin_corpus",
            |m| m.begin_corpus("c", false, t(20)),
            [
                Some(Pending),
                Some(Pending),
                None,
                Some(Pending),
                None,
                Some(Pending),
            ],
        ),
        (
            "add_words",
            |m| m.add_words(&[word("Nimbra")], t(20)),
            [
                Some(Ready),
                Some(Ready),
                None,
                Some(Ready),
                None,
                Some(Ready),
            ],
        ),
        (
            "put_word",
            |m| m.put_word("Nimbra", &CustomWord::default(), t(20)),
            [
                Some(Ready),
                Some(Ready),
                None,
                Some(Ready),
                None,
                Some(Ready),
            ],
        ),
        (
            "delete_word",
            |m| m.delete_word("Quorbit", t(20)),
            // From pending there is no word: 404 (checked below); no data left: pending.
            [
                None,
                Some(Pending),
                None,
                Some(Pending),
                None,
                Some(Pending),
            ],
        ),
        (
            "delete_corpus",
            |m| {
                m.corpora.insert(
                    "old".to_string(),
                    CorpusState {
                        corpus: Corpus {
                            name: "old".to_string(),
                            total_words: 1,
                            out_of_vocabulary_words: 0,
                            status: CorpusStatus::Undetermined,
                            error: Some("x".to_string()),
                        },
                        oov: BTreeMap::new(),
                    },
                );
                m.delete_corpus("old", t(20))
            },
            [
                Some(Pending),
                Some(Ready),
                None,
                Some(Ready),
                None,
                Some(Ready),
            ],
        ),
        (
            "begin_training",
            |m| m.begin_training(&TrainOptions::default(), t(20)),
            // From pending: 400, nothing to train on (checked below).
            [
                None,
                Some(Training),
                None,
                Some(Training),
                None,
                Some(Training),
            ],
        ),
        (
            "begin_upgrade",
            |m| m.begin_upgrade(t(20)),
            // Never trained (pending, ready, failed at its first training): 400.
            [None, None, None, Some(Upgrading), None, None],
        ),
        (
            "reset",
            |m| m.reset(t(20)),
            [
                Some(Pending),
                Some(Pending),
                None,
                Some(Pending),
                None,
                Some(Pending),
            ],
        ),
    ];
    for (name, op, after) in ops {
        for (from, expected) in ALL_STATUSES.into_iter().zip(after) {
            let mut m = in_status(from);
            let before = m.clone();
            let result = op(&mut m);
            match expected {
                Some(to) => {
                    assert_eq!(result, Ok(()), "{name} from {from:?}");
                    assert_eq!(status(&m), to, "{name} from {from:?}");
                    assert_eq!(m.model.updated, t(20), "{name} from {from:?}");
                }
                None => {
                    let code = result.expect_err(name).status_code();
                    let wanted = if from.is_busy() {
                        409
                    } else if name == "delete_word" {
                        404
                    } else {
                        400
                    };
                    assert_eq!(code, wanted, "{name} from {from:?}");
                    if name != "delete_corpus" {
                        assert_eq!(m, before, "{name} from {from:?}: a refusal changes nothing");
                    }
                }
            }
        }
    }
}

#[test]
fn the_trained_version_stays_usable_until_trained_again() {
    let mut m = in_status(LanguageModelStatus::Available);
    let v = m.trained.clone().unwrap();
    assert_eq!(m.is_usable_by(ModelName::Narrowband), Ok(&v));

    // New words: ready, and jobs still get the trained version.
    m.add_words(&[word("Nimbra")], t(10)).unwrap();
    assert_eq!(status(&m), LanguageModelStatus::Ready);
    assert_eq!(m.is_usable_by(ModelName::Narrowband), Ok(&v));
    // Also while a corpus is analysed (pending) and while training again.
    m.begin_corpus("c", false, t(11)).unwrap();
    assert_eq!(status(&m), LanguageModelStatus::Pending);
    assert_eq!(m.is_usable_by(ModelName::Narrowband), Ok(&v));
    m.finish_corpus("c", Ok(analyze("Kalvani")), t(12));
    m.begin_training(&TrainOptions::default(), t(13)).unwrap();
    assert_eq!(m.is_usable_by(ModelName::Narrowband), Ok(&v));
    let v2 = m.train(&TrainOptions::default(), t(14)).unwrap();
    assert_eq!(v2.words.len(), 3);
    m.finish_training(Ok(v2.clone()), t(14));
    assert_eq!(m.is_usable_by(ModelName::Narrowband), Ok(&v2));

    // Another base model is refused, naming both.
    let msg = m.is_usable_by(ModelName::Broadband).unwrap_err();
    assert!(
        msg.contains("en-US_NarrowbandModel") && msg.contains("en-US_BroadbandModel"),
        "{msg}"
    );
}

#[test]
fn untrained_failed_and_reset_models_are_not_usable() {
    for s in [
        LanguageModelStatus::Pending,
        LanguageModelStatus::Ready,
        LanguageModelStatus::Training,
    ] {
        let msg = in_status(s)
            .is_usable_by(ModelName::Narrowband)
            .unwrap_err();
        assert!(
            msg.contains("cid-1") && msg.contains("not been trained"),
            "{s:?}: {msg}"
        );
        assert!(msg.contains(s.as_str()), "{msg}");
    }
    let msg = in_status(LanguageModelStatus::Failed)
        .is_usable_by(ModelName::Narrowband)
        .unwrap_err();
    assert!(
        msg.contains("failed") && msg.contains("out of memory"),
        "{msg}"
    );

    let mut m = in_status(LanguageModelStatus::Available);
    m.reset(t(10)).unwrap();
    assert!(m.is_usable_by(ModelName::Narrowband).is_err());
}

#[test]
fn reset_drops_everything_but_the_model_itself() {
    let mut m = in_status(LanguageModelStatus::Available);
    add_corpus(&mut m, "calls", "Quorbit Nimbra");
    m.reset(t(10)).unwrap();
    assert!(m.corpora.is_empty() && m.user_words.is_empty() && m.trained.is_none());
    assert_eq!(m.train_options, None);
    assert_eq!(status(&m), LanguageModelStatus::Pending);
    assert_eq!((m.model.progress, m.model.updated), (0, t(10)));
    assert_eq!(m.model.name, "call centre");
    assert_eq!(m.model.created, t(0));
}

#[test]
fn an_upgrade_retrains_with_the_last_options_and_returns_to_available() {
    let mut m = in_status(LanguageModelStatus::Ready);
    let msg = invalid_message(m.begin_upgrade(t(5)));
    assert!(msg.contains("not been trained"), "{msg}");

    let opts = TrainOptions {
        word_type_to_add: WordTypeToAdd::User,
        customization_weight: Some(0.6),
        strict: false,
    };
    m.begin_training(&opts, t(6)).unwrap();
    let v = m.train(&opts, t(7));
    m.finish_training(v, t(7));

    m.begin_upgrade(t(8)).unwrap();
    assert_eq!(
        (status(&m), m.model.progress),
        (LanguageModelStatus::Upgrading, 0)
    );
    assert!(
        m.is_usable_by(ModelName::Narrowband).is_ok(),
        "usable while upgrading"
    );
    assert_eq!(m.upgrade_options(), opts);
    let v = m.train(&m.upgrade_options(), t(9));
    m.finish_training(v, t(9));
    assert_eq!(status(&m), LanguageModelStatus::Available);
    assert_eq!(m.trained.as_ref().unwrap().trained, t(9));
    assert_eq!(m.model.versions, ["en-US_NarrowbandModel.v1"]);
}

#[test]
fn a_restart_fails_what_was_running() {
    let mut idle = in_status(LanguageModelStatus::Available);
    assert!(!idle.interrupted(t(10)));
    assert_eq!(status(&idle), LanguageModelStatus::Available);

    for busy in [
        LanguageModelStatus::Training,
        LanguageModelStatus::Upgrading,
    ] {
        let mut m = in_status(busy);
        assert!(m.interrupted(t(10)));
        assert_eq!(status(&m), LanguageModelStatus::Failed);
        assert!(m.model.error.as_deref().unwrap().contains(busy.as_str()));
        m.begin_training(&TrainOptions::default(), t(11)).unwrap();
    }

    let mut m = in_status(LanguageModelStatus::Ready);
    m.begin_corpus("calls", false, t(5)).unwrap();
    assert!(m.interrupted(t(10)));
    let c = m.corpus("calls").unwrap();
    assert_eq!(c.status, CorpusStatus::Undetermined);
    assert!(c.error.unwrap().contains("add the corpus again"));
    assert_eq!(status(&m), LanguageModelStatus::Ready);
    m.begin_corpus("calls", true, t(11)).unwrap();
}

#[test]
fn the_state_round_trips_through_json() {
    let mut m = in_status(LanguageModelStatus::Available);
    add_corpus(&mut m, "calls", "Zentraphone MyVeltrix");
    m.add_words(&[word_with("esim", &["e. sim"], Some("eSIM"))], t(5))
        .unwrap();
    let json = serde_json::to_string(&m).unwrap();
    let back: ModelState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);

    // A state saved before training options were recorded still loads.
    let mut value = serde_json::to_value(&m).unwrap();
    value.as_object_mut().unwrap().remove("train_options");
    value.as_object_mut().unwrap().remove("user_words");
    let older: ModelState = serde_json::from_value(value).unwrap();
    assert!(older.train_options.is_none() && older.user_words.is_empty());
}

#[test]
fn errors_carry_their_http_status() {
    let e = CustomError::Conflict("busy".to_string());
    assert_eq!(e.status_code(), 409);
    assert_eq!(e.to_string(), "busy");
    let body = e.to_error_body();
    assert_eq!(
        (
            body.code,
            body.code_description.as_str(),
            body.error.as_str()
        ),
        (409, "Conflict", "busy")
    );
    assert_eq!(CustomError::NotFound(String::new()).status_code(), 404);
    assert_eq!(CustomError::Invalid(String::new()).status_code(), 400);
}

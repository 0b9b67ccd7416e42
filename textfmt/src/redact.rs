//! Numeric redaction as the service documents it for US English: "The feature redacts any
//! number that has three or more consecutive digits by replacing each digit with an X
//! character" (<https://cloud.ibm.com/docs/speech-to-text?topic=speech-to-text-formatting#numeric-redaction>).
//! Redaction turns smart formatting on (`RecognitionParams::resolved`), so every number is in digits
//! by the time this runs: "617-555-0142" → "XXX-XXX-XXXX", "$349" → "$XXX", "3/12/2026" →
//! "3/12/XXXX", while "5:30" and "42" keep their digits.

/// Replaces each digit of every run of three or more ASCII digits with `X`.
pub(crate) fn mask_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 3 {
            out.extend(std::iter::repeat_n('X', run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_digits;

    #[test]
    fn masks_only_runs_of_three_or_more_digits() {
        assert_eq!(mask_digits("41472"), "XXXXX");
        assert_eq!(mask_digits("617-555-0142"), "XXX-XXX-XXXX");
        assert_eq!(mask_digits("3/12/2026"), "3/12/XXXX");
        assert_eq!(mask_digits("$3202.66"), "$XXXX.66");
        assert_eq!(mask_digits("10:15"), "10:15");
        assert_eq!(mask_digits("42"), "42");
        assert_eq!(mask_digits("words"), "words");
    }
}

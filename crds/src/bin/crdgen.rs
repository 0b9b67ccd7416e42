//! Prints a CustomResourceDefinition as YAML: the SpeechBatch one (no argument, or
//! `speechbatches`) or the LanguageModel one (`languagemodels`). The chart ships both outputs,
//! and a test fails when a checked-in copy drifts.

fn main() {
    match std::env::args().nth(1).as_deref() {
        None | Some("speechbatches") => print!("{}", crds::resource::crd_yaml()),
        Some("languagemodels") => print!("{}", crds::language_model::crd_yaml()),
        Some(other) => {
            eprintln!("crdgen: unknown CRD '{other}': use speechbatches or languagemodels");
            std::process::exit(2);
        }
    }
}

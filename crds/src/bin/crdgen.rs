//! Prints the SpeechBatch CustomResourceDefinition as YAML; the chart ships its output, and a
//! test fails when the checked-in copy drifts.

fn main() {
    print!("{}", crds::resource::crd_yaml());
}

//! The AFL++ entry point: `speechbatch-fuzz <target>` runs one target of [`speechbatch_fuzz::TARGETS`]
//! in AFL++'s persistent mode. Built and run by `scripts/fuzz`.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = speechbatch_fuzz::target(&name) else {
        let names: Vec<&str> = speechbatch_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "usage: speechbatch-fuzz <target>; targets: {}",
            names.join(", ")
        );
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}

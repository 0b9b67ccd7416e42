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
    // A crash is what the service itself would not survive: a panic that reaches the target's
    // caller, an abort, a signal. The audio crate catches panics inside the decoders it uses and
    // makes them the file's error (`decode::guarded`), as the service relies on; `fuzz!` would
    // abort on those too, in the panic hook, before they are caught. So: `fuzz_nohook!`, which
    // aborts only on a panic that escapes the target, and a silent hook, since printing (and with
    // RUST_BACKTRACE, walking the stack) on every caught panic would slow the fuzzer down.
    std::panic::set_hook(Box::new(|_| {}));
    afl::fuzz_nohook!(|data: &[u8]| target(data));
}

//! Links the two C codecs this crate binds by hand: libopus (Opus has no decoder in symphonia)
//! and libbcg729 (G.729). Both come from Debian (`libopus-dev`, `libbcg729-dev`, listed in
//! `setup/debian-packages.txt`) and are found with pkg-config, so nothing is downloaded or built
//! from source here.

fn probe(name: &str, package: &str) {
    if let Err(err) = pkg_config::Config::new().probe(name) {
        panic!(
            "speechbatch-audio needs the system library `{name}` (Debian package `{package}`, \
             see setup/debian-packages.txt), but pkg-config could not find it: {err}"
        );
    }
}

fn main() {
    probe("opus", "libopus-dev");
    probe("libbcg729", "libbcg729-dev");
}

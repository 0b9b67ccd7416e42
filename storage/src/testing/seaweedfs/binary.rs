//! Where the `weed` binary is.

use std::path::PathBuf;

/// The `weed` binary: `$SPEECHBATCH_WEED`, else the one setup/seaweedfs.sh installs under
/// `$SPEECHBATCH_CACHE` (default `~/.cache/speechbatch`). Panics when it is missing: tests that
/// need SeaweedFS fail rather than skip.
pub fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SPEECHBATCH_WEED") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("SPEECHBATCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/speechbatch")
        });
    let weed = cache.join("seaweedfs-venv/bin/weed");
    assert!(
        weed.is_file(),
        "SeaweedFS is not installed ({} is missing): run setup/seaweedfs.sh (scripts/setup does) or set SPEECHBATCH_WEED",
        weed.display()
    );
    weed
}

//! Finding the repository's `testdata/` folder.

use std::path::{Path, PathBuf};

/// The workspace root: the nearest folder at or above the crate under test whose `Cargo.toml`
/// declares `[workspace]`.
///
/// Cargo sets `CARGO_MANIFEST_DIR` for the test and example processes it runs; when it is
/// absent (a test binary started by hand) this crate's own location, fixed at build time, is
/// used instead, since it lives in the same workspace.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| declares_workspace(dir))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            panic!(
                "no Cargo.toml with [workspace] at or above {}",
                start.display()
            )
        })
}

fn declares_workspace(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|toml| toml.lines().any(|l| l.trim() == "[workspace]"))
}

/// The path of `rel` inside the repository's `testdata/` folder, e.g.
/// `testdata("asr/clip01.flac")`.
///
/// Panics, naming the file, when it does not exist: a test that cannot find its data should
/// say which file is missing rather than fail later on an empty read.
pub fn testdata(rel: &str) -> PathBuf {
    let path = workspace_root().join("testdata").join(rel);
    assert!(
        path.exists(),
        "test data file {} is missing (looked for testdata/{rel} in the workspace root)",
        path.display()
    );
    path
}

/// The bytes of `testdata/<rel>`; panics, naming the file, when it cannot be read.
pub fn read_testdata(rel: &str) -> Vec<u8> {
    let path = testdata(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_root_holds_the_testdata_folder() {
        let root = workspace_root();
        assert!(root.join("testdata").is_dir(), "{}", root.display());
        assert!(root.join("testkit").is_dir(), "{}", root.display());
    }

    #[test]
    fn a_test_data_file_is_found_and_read() {
        let path = testdata("asr/manifest.tsv");
        assert!(path.ends_with("testdata/asr/manifest.tsv"));
        assert!(read_testdata("asr/manifest.tsv").starts_with(b"file\t"));
    }

    #[test]
    #[should_panic(expected = "testdata/asr/no-such-clip.flac is missing")]
    fn a_missing_file_is_named_in_the_panic() {
        testdata("asr/no-such-clip.flac");
    }
}

//! The tab-separated manifests that list test files: a header row of column names, then one
//! row per file.

use std::collections::HashMap;
use std::ops::Index;
use std::path::Path;
use std::sync::Arc;

/// One manifest row: cells by column name.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    cells: HashMap<String, String>,
}

impl Row {
    /// The cell of `column`, or `None` when the manifest has no such column.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.cells.get(column).map(String::as_str)
    }
}

impl Index<&str> for Row {
    type Output = String;

    /// The cell of `column`; panics, listing the manifest's columns, when there is none.
    fn index(&self, column: &str) -> &String {
        self.cells.get(column).unwrap_or_else(|| {
            panic!(
                "the manifest has no column {column:?} (its columns: {:?})",
                self.columns
            )
        })
    }
}

/// Reads a manifest. Blank lines are skipped; a row with more or fewer cells than the header
/// has columns panics with its line number, since a shifted cell would silently pair files with
/// the wrong references.
pub fn read_manifest(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading manifest {}: {e}", path.display()));
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .unwrap_or_else(|| panic!("manifest {} is empty", path.display()));
    let columns: Arc<[String]> = header.split('\t').map(str::to_owned).collect();
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                cells.len(),
                columns.len(),
                "{} line {}: {} cells for {} columns",
                path.display(),
                n + 1,
                cells.len(),
                columns.len()
            );
            Row {
                cells: columns
                    .iter()
                    .cloned()
                    .zip(cells.into_iter().map(str::to_owned))
                    .collect(),
                columns: columns.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest file in the temporary folder, removed when dropped (also when the test panics).
    struct TempManifest(std::path::PathBuf);

    impl TempManifest {
        fn new(name: &str, text: &str) -> TempManifest {
            let path = std::env::temp_dir().join(format!(
                "speechbatch-testkit-{name}-{}.tsv",
                std::process::id()
            ));
            std::fs::write(&path, text).unwrap();
            TempManifest(path)
        }
    }

    impl Drop for TempManifest {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn rows_are_read_by_column_name_and_blank_lines_are_skipped() {
        let file = TempManifest::new("rows", "file\treference\na.flac\thello there\n\nb.flac\t\n");
        let rows = read_manifest(&file.0);
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0]["file"], "a.flac");
        assert_eq!(&rows[0]["reference"], "hello there");
        assert_eq!(&rows[1]["reference"], "");
        assert_eq!(rows[1].get("duration_s"), None);
    }

    #[test]
    #[should_panic(expected = "line 2: 3 cells for 2 columns")]
    fn a_row_with_an_extra_cell_is_refused() {
        let file = TempManifest::new("extra", "file\treference\na.flac\thello\tthere\n");
        read_manifest(&file.0);
    }

    #[test]
    #[should_panic(expected = "no column \"speaker\"")]
    fn a_missing_column_is_named_in_the_panic() {
        let file = TempManifest::new("column", "file\treference\na.flac\thello\n");
        let rows = read_manifest(&file.0);
        let _ = &rows[0]["speaker"];
    }
}

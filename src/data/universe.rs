//! Universes: CSV files with a `symbol` column; `--cap N` keeps the first N.

use std::path::{Path, PathBuf};

use super::store::valid_symbol;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UniverseError {
    #[error("{path}: {why}", path = .path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error("{path}: the header has no `symbol` column", path = .path.display())]
    NoSymbolColumn { path: PathBuf },
    #[error("{path} line {line}: {value:?} is not a symbol", path = .path.display())]
    BadSymbol {
        path: PathBuf,
        line: usize,
        value: String,
    },
    #[error("{path}: no symbols", path = .path.display())]
    Empty { path: PathBuf },
}

/// The universe's symbols in file order, duplicates removed, the first `cap` kept.
pub fn load(path: &Path, cap: Option<usize>) -> Result<Vec<String>, UniverseError> {
    let text = std::fs::read_to_string(path).map_err(|e| UniverseError::Unreadable {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let column = header
        .split(',')
        .position(|h| h.trim().eq_ignore_ascii_case("symbol"))
        .ok_or_else(|| UniverseError::NoSymbolColumn {
            path: path.to_path_buf(),
        })?;
    let mut symbols: Vec<String> = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = line.split(',').nth(column).unwrap_or("").trim().to_string();
        if !valid_symbol(&value) {
            return Err(UniverseError::BadSymbol {
                path: path.to_path_buf(),
                line: i + 2,
                value,
            });
        }
        if !symbols.contains(&value) {
            symbols.push(value);
        }
    }
    if symbols.is_empty() {
        return Err(UniverseError::Empty {
            path: path.to_path_buf(),
        });
    }
    if let Some(n) = cap {
        symbols.truncate(n);
    }
    Ok(symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        std::fs::write(
            &path,
            "name,symbol\nApple,AAPL\nBerkshire,BRK.B\nApple again,AAPL\nMicrosoft,MSFT\n",
        )
        .unwrap();
        assert_eq!(load(&path, None).unwrap(), ["AAPL", "BRK.B", "MSFT"]);
        assert_eq!(load(&path, Some(2)).unwrap(), ["AAPL", "BRK.B"]);
        std::fs::write(&path, "ticker\nAAPL\n").unwrap();
        assert!(matches!(
            load(&path, None),
            Err(UniverseError::NoSymbolColumn { .. })
        ));
        std::fs::write(&path, "symbol\nAAPL\n../x\n").unwrap();
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.ends_with("line 3: \"../x\" is not a symbol"), "{err}");
    }
}

//! Epoch files (`currentEpoch`, `acceptedEpoch`): a single decimal number with no newline, as
//! ZooKeeper writes them, replaced atomically.
//!
//! Owns: reading and atomically writing those small files.
//! Must never: leave a half-written epoch file behind (write temp, fsync, rename, fsync dir).

use super::{fsync_dir, Result, StorageError};
use std::io::Write;
use std::path::Path;

/// Reads the epoch stored at `path`; `None` if the file does not exist.
pub fn read_epoch(path: &Path) -> Result<Option<i64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|e| StorageError::corrupt(path, 0, format!("not an epoch number ({e}): {:?}", text.trim())))
}

/// Atomically replaces the epoch stored at `path` with `value`.
pub fn write_epoch(path: &Path, value: i64) -> Result<()> {
    let name =
        path.file_name().ok_or_else(|| StorageError::io(path, std::io::Error::other("epoch path has no file name")))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |e| StorageError::io(&tmp, e);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(value.to_string().as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e))?;
    fsync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("currentEpoch");
        assert_eq!(read_epoch(&p).unwrap(), None);
        write_epoch(&p, 7).unwrap();
        assert_eq!(read_epoch(&p).unwrap(), Some(7));
        assert_eq!(std::fs::read(&p).unwrap(), b"7", "ZooKeeper's form: no newline");
        write_epoch(&p, 0x1_0000_0001).unwrap();
        assert_eq!(read_epoch(&p).unwrap(), Some(0x1_0000_0001));
        assert!(!dir.path().join("currentEpoch.tmp").exists());
        std::fs::write(&p, "garbage").unwrap();
        let err = read_epoch(&p).unwrap_err();
        assert!(err.is_corrupt() && err.to_string().contains("currentEpoch"), "{err}");
    }
}

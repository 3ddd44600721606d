//! Reading a file whole, up to a bound: every file another machine or tool wrote (result records,
//! prompts, documents, datasets) is read this way, so that an oversized one is an error naming it,
//! never an exhausted memory. A leaf module: it depends on nothing of the crate.

use std::io::Read;
use std::path::Path;

/// The bytes of `path`, or an `InvalidData` error when it holds more than `max` bytes.
pub fn read(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB, more than runner reads of such a file", max >> 20),
        ));
    }
    Ok(bytes)
}

/// The text of `path` (UTF-8), bounded as [`read`].
pub fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read(path, max)?).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_over_the_bound_is_an_error_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![b'a'; 2 << 20]).unwrap();
        assert_eq!(super::read(&p, 2 << 20).unwrap().len(), 2 << 20);
        let e = super::read(&p, 1 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("larger than 1 MiB"), "{e}");
    }
}

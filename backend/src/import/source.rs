//! Where an import's files come from: a zip archive (read from a file, never whole in memory)
//! or a directory. Both list their entries first and hand out one entry's bytes at a time,
//! read through a cap, so an entry's real size is what counts, never what a header claims.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::ImportError;

/// One entry as the source names it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name, `/`-separated, as written in the archive (not yet validated).
    pub name: String,
    pub kind: Kind,
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    /// A symbolic link or anything else that is not a plain file: never followed.
    Other,
}

/// A place to import from.
pub trait Source {
    /// Every entry, in order; at most `max` of them, else [`ImportError::TooManyEntries`].
    fn entries(&mut self, max: usize) -> Result<Vec<Entry>, ImportError>;
    /// The bytes of entry `i`, or `None` when it holds more than `max` bytes (only `max + 1`
    /// are read to tell). `Err` for an entry that cannot be read (an unsupported compression,
    /// encryption, a corrupt stream).
    fn read(&mut self, i: usize, max: u64) -> Result<Option<Vec<u8>>, ImportError>;
}

/// Reads at most `max + 1` bytes of `r`: `None` when there were more than `max`.
fn read_capped(r: impl Read, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    r.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

/// The most bytes one central directory record may take on average (46 fixed bytes, a name,
/// extra fields and a comment): bounds the listing's memory before the zip reader allocates it.
const MAX_DIRECTORY_RECORD: u64 = 2048;

/// The entry count and central directory size the archive's end record claims (zip64 too),
/// read before the zip reader builds its listing.
fn directory_size(file: &mut File) -> Result<(u64, u64), ImportError> {
    use std::io::{Seek, SeekFrom};
    let bad = |m: &str| ImportError::BadArchive(m.to_owned());
    let io = |e: std::io::Error| ImportError::Io(format!("reading the upload: {e}"));
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    // The end record is 22 bytes plus a comment of at most 65,535.
    let tail_len = len.min(22 + 65_535);
    let start = len - tail_len;
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).map_err(io)?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == *b"PK\x05\x06")
        .ok_or_else(|| bad("no end of central directory record"))?;
    let u16_at = |b: &[u8], i: usize| u64::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
    let (mut count, mut size) = (u16_at(&tail, at + 10), u32_at(&tail, at + 12));
    if count == 0xFFFF || size == 0xFFFF_FFFF {
        // Zip64: a locator just before the end record points at the zip64 end record.
        let loc = at.checked_sub(20).ok_or_else(|| bad("zip64 locator missing"))?;
        if tail[loc..loc + 4] != *b"PK\x06\x07" {
            return Err(bad("zip64 locator missing"));
        }
        let mut off = [0u8; 8];
        off.copy_from_slice(&tail[loc + 8..loc + 16]);
        let off = u64::from_le_bytes(off);
        if off.saturating_add(56) > len {
            return Err(bad("zip64 end record out of the file"));
        }
        let mut rec = [0u8; 56];
        file.seek(SeekFrom::Start(off)).map_err(io)?;
        file.read_exact(&mut rec).map_err(io)?;
        if rec[..4] != *b"PK\x06\x06" {
            return Err(bad("zip64 end record missing"));
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[i..i + 8]);
            u64::from_le_bytes(b)
        };
        count = u64_at(32);
        size = u64_at(40);
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok((count, size))
}

/// A zip archive in a file.
pub struct ZipSource {
    archive: zip::ZipArchive<File>,
}

impl ZipSource {
    /// Opens the archive; its central directory must list at most `max_entries` entries, which
    /// is checked before the directory is read (its size is what memory the listing takes).
    pub fn open(mut file: File, max_entries: usize) -> Result<Self, ImportError> {
        let (count, size) = directory_size(&mut file)?;
        if count > max_entries as u64 {
            return Err(ImportError::TooManyEntries {
                count: usize::try_from(count).unwrap_or(usize::MAX),
                max: max_entries,
            });
        }
        if size > (max_entries as u64).saturating_mul(MAX_DIRECTORY_RECORD) {
            return Err(ImportError::BadArchive(format!(
                "its central directory is {size} bytes, more than {max_entries} entries need"
            )));
        }
        let archive = zip::ZipArchive::new(file).map_err(|e| ImportError::BadArchive(e.to_string()))?;
        if archive.len() > max_entries {
            return Err(ImportError::TooManyEntries {
                count: archive.len(),
                max: max_entries,
            });
        }
        Ok(Self { archive })
    }
}

impl Source for ZipSource {
    fn entries(&mut self, max: usize) -> Result<Vec<Entry>, ImportError> {
        if self.archive.len() > max {
            return Err(ImportError::TooManyEntries {
                count: self.archive.len(),
                max,
            });
        }
        let mut out = Vec::with_capacity(self.archive.len());
        for i in 0..self.archive.len() {
            let f = self
                .archive
                .by_index_raw(i)
                .map_err(|e| ImportError::BadArchive(e.to_string()))?;
            let name = f
                .name()
                .map_err(|e| ImportError::BadArchive(e.to_string()))?
                .into_owned();
            let kind = if f.is_dir() {
                Kind::Dir
            } else if f.is_file() {
                Kind::File
            } else {
                Kind::Other
            };
            out.push(Entry { name, kind });
        }
        Ok(out)
    }

    fn read(&mut self, i: usize, max: u64) -> Result<Option<Vec<u8>>, ImportError> {
        let f = self
            .archive
            .by_index(i)
            .map_err(|e| ImportError::Unreadable(e.to_string()))?;
        read_capped(f, max).map_err(|e| ImportError::Unreadable(e.to_string()))
    }
}

/// A directory tree (the CLI's import of a vault folder). Symbolic links are listed, never
/// followed.
pub struct DirSource {
    root: PathBuf,
    files: Vec<PathBuf>,
}

impl DirSource {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            files: Vec::new(),
        }
    }
}

impl Source for DirSource {
    fn entries(&mut self, max: usize) -> Result<Vec<Entry>, ImportError> {
        let io = |e: std::io::Error| ImportError::Io(format!("listing {}: {e}", self.root.display()));
        let mut out = Vec::new();
        self.files.clear();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .map_err(io)?
                .collect::<Result<_, _>>()
                .map_err(io)?;
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let full = e.path();
                let rel = full.strip_prefix(&self.root).unwrap_or(&full);
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let ty = e.file_type().map_err(io)?;
                let kind = if ty.is_dir() {
                    Kind::Dir
                } else if ty.is_file() {
                    Kind::File
                } else {
                    Kind::Other
                };
                // Hidden folders (.obsidian, .git, .trash) are listed once, not walked.
                if kind == Kind::Dir && !name.rsplit('/').next().unwrap_or("").starts_with('.') {
                    stack.push(full.clone());
                }
                out.push(Entry { name, kind });
                self.files.push(full);
                if out.len() > max {
                    return Err(ImportError::TooManyEntries { count: out.len(), max });
                }
            }
        }
        Ok(out)
    }

    fn read(&mut self, i: usize, max: u64) -> Result<Option<Vec<u8>>, ImportError> {
        let path = self
            .files
            .get(i)
            .ok_or_else(|| ImportError::Io("entry out of range".into()))?;
        // Opened without following a final symlink: a file swapped for a link since listing fails.
        let file = open_nofollow(path).map_err(|e| ImportError::Unreadable(format!("{}: {e}", path.display())))?;
        read_capped(file, max).map_err(|e| ImportError::Unreadable(format!("{}: {e}", path.display())))
    }
}

/// Opens a plain file, refusing a symbolic link (one swapped in since the listing included).
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    if !std::fs::symlink_metadata(path)?.file_type().is_file() {
        return Err(std::io::Error::other("not a plain file"));
    }
    File::open(path)
}

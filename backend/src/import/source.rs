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

/// A zip archive in a file.
pub struct ZipSource {
    archive: zip::ZipArchive<File>,
}

impl ZipSource {
    /// Opens the archive; its central directory must list at most `max_entries` entries, which
    /// is checked before the directory is read (its size is what memory the listing takes).
    pub fn open(file: File, max_entries: usize) -> Result<Self, ImportError> {
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

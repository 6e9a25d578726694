//! Importing a vault (an Obsidian vault or any folder of Markdown) from a zip or a directory:
//! the REST API's `POST /api/import` and the CLI's `import` run this same code.
//!
//! Two passes under the user's write lock. The first reads every entry through the caps (entry
//! count, the note size limit on the real decompressed bytes), sends every name through the one
//! path validator, parses every note as a write would, and checks the quotas for the whole
//! import: nothing is written unless all of it fits. The second stages every note in a
//! temporary file beside its place, syncs them all, renames each into place (a replaced note's
//! old file kept as a hard link until the end), syncs their folders once each, and indexes them
//! in one transaction. A failure in the second pass puts every file back as it was.

pub mod source;

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;
use vaultgate_shared::UserId;

use crate::index;
use crate::notes;
use crate::service::{NoteService, ServiceError, content_hash};
use crate::vault::{NotePath, PathError};
use source::{Kind, Source};

/// Why an import was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the archive has {count} entries or more; at most {max} are imported at once")]
    TooManyEntries { count: usize, max: usize },
    #[error("'{name}' is larger than {max} bytes, the largest note allowed")]
    EntryTooLarge { name: String, max: u64 },
    #[error("the upload is not a readable zip archive: {0}")]
    BadArchive(String),
    #[error("an entry could not be read: {0}")]
    Unreadable(String),
    #[error("'{0}' changed while it was being imported")]
    Changed(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Service(#[from] ServiceError),
}

impl ImportError {
    /// The HTTP status the REST API answers with.
    pub fn status(&self) -> u16 {
        match self {
            ImportError::TooManyEntries { .. } | ImportError::EntryTooLarge { .. } => 413,
            ImportError::BadArchive(_) | ImportError::Unreadable(_) => 400,
            ImportError::Changed(_) => 409,
            ImportError::Io(_) => 500,
            ImportError::Service(e) => e.status(),
        }
    }

    /// Stable machine code (the `error` field of the JSON error body, the metric label).
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::TooManyEntries { .. } | ImportError::EntryTooLarge { .. } => "too_large",
            ImportError::BadArchive(_) | ImportError::Unreadable(_) => "bad_request",
            ImportError::Changed(_) => "conflict",
            ImportError::Io(_) => "internal",
            ImportError::Service(e) => e.code(),
        }
    }
}

/// How an import behaves.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Replace notes that already exist (otherwise they are skipped and listed).
    pub overwrite: bool,
    /// Most entries (files, folders, anything) the source may hold.
    pub max_entries: usize,
}

/// An entry that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    /// `hidden`, `not_markdown`, `not_a_file`, `invalid_path`, `exists`, `duplicate`,
    /// `not_utf8`, `unreadable`, or the note limit that refused it (`too_many_tags`, …).
    pub reason: &'static str,
    /// For people: what exactly was wrong.
    pub detail: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Notes written (created plus replaced).
    pub imported: usize,
    pub created: usize,
    pub replaced: usize,
    pub skipped: Vec<Skipped>,
}

/// A note that passed the first pass.
struct Planned {
    entry: usize,
    path: NotePath,
    hash: String,
    replaces: bool,
}

/// Notes indexed per batch: one full-text segment per batch, memory bounded by a few notes.
const INDEX_BATCH: usize = 64;

fn skip(skipped: &mut Vec<Skipped>, path: &str, reason: &'static str, detail: impl Into<String>) {
    skipped.push(Skipped {
        path: path.to_owned(),
        reason,
        detail: detail.into(),
    });
}

/// Why a name is not imported, from the path validator's answer.
fn refused_name(name: &str, e: PathError) -> (&'static str, String) {
    let hidden = name.split('/').any(|s| s.starts_with('.') && s != "." && s != "..");
    match e {
        PathError::HiddenOrTrailingDot if hidden => (
            "hidden",
            "hidden files and folders (.obsidian, …) are not imported".into(),
        ),
        PathError::NotMarkdown => ("not_markdown", "only Markdown notes (.md) are imported".into()),
        e => ("invalid_path", e.to_string()),
    }
}

impl NoteService {
    /// Imports every Markdown note of `source` into `user`'s vault; see the module docs.
    /// A refusal writes nothing and leaves one audit line with its code.
    pub fn import(
        &self,
        user: &UserId,
        source: &mut dyn Source,
        options: ImportOptions,
    ) -> Result<ImportReport, ImportError> {
        self.import_checked(user, source, options).inspect_err(|e| {
            tracing::warn!(
                target: "audit",
                event = "import_refused",
                user = %user,
                reason = e.code(),
                status = e.status(),
                "import refused: {e}"
            );
        })
    }

    fn import_checked(
        &self,
        user: &UserId,
        source: &mut dyn Source,
        options: ImportOptions,
    ) -> Result<ImportReport, ImportError> {
        let max = self.limits().note_max_bytes;
        let _importing = self.begin_import(user).ok_or(ServiceError::Importing)?;
        let entries = source.entries(options.max_entries)?;
        let lock = self.user_lock(user);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut usage = self.usage_of(user)?;
        let mut skipped = Vec::new();
        let mut plan: Vec<Planned> = Vec::new();
        let mut seen: HashSet<NotePath> = HashSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let name = entry.name.trim_end_matches('/');
            let path = match NotePath::parse(name) {
                Ok(p) => p,
                Err(e) => {
                    if entry.kind == Kind::Dir && !matches!(e, PathError::HiddenOrTrailingDot) {
                        continue;
                    }
                    let (reason, detail) = refused_name(name, e);
                    skip(&mut skipped, &entry.name, reason, detail);
                    continue;
                }
            };
            match entry.kind {
                Kind::File => {}
                Kind::Dir => continue,
                Kind::Other => {
                    skip(
                        &mut skipped,
                        name,
                        "not_a_file",
                        "symbolic links and special files are not imported",
                    );
                    continue;
                }
            }
            if !seen.insert(path.clone()) {
                skip(
                    &mut skipped,
                    name,
                    "duplicate",
                    "the archive holds this path more than once",
                );
                continue;
            }
            let old_size = self.existing_size(user, &path)?;
            if old_size.is_some() && !options.overwrite {
                skip(
                    &mut skipped,
                    name,
                    "exists",
                    "a note already exists at this path (import with overwrite to replace it)",
                );
                continue;
            }
            let bytes = match source.read(i, max) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Err(ImportError::EntryTooLarge {
                        name: name.to_owned(),
                        max,
                    });
                }
                Err(e) => {
                    skip(&mut skipped, name, "unreadable", e.to_string());
                    continue;
                }
            };
            let Ok(text) = std::str::from_utf8(&bytes) else {
                skip(&mut skipped, name, "not_utf8", "the file is not UTF-8 text");
                continue;
            };
            if let Err(e) = notes::parse_checked(&path, text) {
                skip(&mut skipped, name, e.reason(), e.to_string());
                continue;
            }
            usage.add(&path, old_size, bytes.len() as u64);
            self.check_quota(&usage)?;
            plan.push(Planned {
                entry: i,
                hash: content_hash(&bytes),
                path,
                replaces: old_size.is_some(),
            });
        }
        self.write_plan(user, source, &plan)?;
        let replaced = plan.iter().filter(|p| p.replaces).count();
        let report = ImportReport {
            imported: plan.len(),
            created: plan.len() - replaced,
            replaced,
            skipped,
        };
        tracing::info!(
            target: "audit",
            event = "vault_imported",
            user = %user,
            created = report.created,
            replaced = report.replaced,
            skipped = report.skipped.len(),
            "notes imported"
        );
        Ok(report)
    }

    /// The second pass: files, then the index; on any failure every file is put back.
    fn write_plan(&self, user: &UserId, source: &mut dyn Source, plan: &[Planned]) -> Result<(), ImportError> {
        let io = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "import: {what}");
            ImportError::Io("internal error; nothing was imported".into())
        };
        if plan.is_empty() {
            return Ok(());
        }
        let root = self.vault().user_root(user).map_err(|e| io("user folder", &e))?;
        let staging = root.join(format!(".import-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&staging).map_err(|e| io("staging folder", &e))?;
        // Every note goes to a temporary file beside its place first; all are synced together,
        // then renamed into place, then their folders synced once each.
        let mut staged = Vec::with_capacity(plan.len());
        // (path, the old file's kept copy) for every note put in place so far.
        let mut done: Vec<(NotePath, Option<PathBuf>)> = Vec::new();
        let result = (|| {
            for p in plan {
                let bytes = source
                    .read(p.entry, self.limits().note_max_bytes)?
                    .filter(|b| content_hash(b) == p.hash)
                    .ok_or_else(|| ImportError::Changed(p.path.to_string()))?;
                staged.push(
                    self.vault()
                        .stage(user, &p.path, &bytes)
                        .map_err(|e| io("writing a note", &e))?,
                );
            }
            self.vault().sync_staged(&staged).map_err(|e| io("syncing notes", &e))?;
            for (n, (p, s)) in plan.iter().zip(&staged).enumerate() {
                let backup = if p.replaces {
                    let file = self.vault().locate(user, &p.path).map_err(|e| io("locating", &e))?;
                    let keep = staging.join(n.to_string());
                    std::fs::hard_link(&file, &keep).map_err(|e| io("keeping a replaced note", &e))?;
                    Some(keep)
                } else {
                    None
                };
                done.push((p.path.clone(), backup));
                self.vault().place(s).map_err(|e| io("placing a note", &e))?;
            }
            self.vault()
                .sync_placed(&staged)
                .map_err(|e| io("syncing folders", &e))?;
            self.index_plan(user, plan)
        })();
        if result.is_err() {
            for s in &staged {
                self.vault().discard(user, s);
            }
            for (path, backup) in done.iter().rev() {
                let restored = match backup {
                    Some(keep) => self
                        .vault()
                        .locate(user, path)
                        .map_err(|e| e.to_string())
                        .and_then(|file| std::fs::rename(keep, file).map_err(|e| e.to_string())),
                    None => match self.vault().delete(user, path) {
                        Ok(()) | Err(crate::vault::VaultError::NotFound) => Ok(()),
                        Err(e) => Err(e.to_string()),
                    },
                };
                if let Err(e) = restored {
                    tracing::error!(user = %user, path = %path, error = %e, "import: rolling back a note failed");
                }
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&staging) {
            tracing::warn!(error = %e, "import: removing the staging folder");
        }
        self.forget_usage(user);
        if result.is_ok() {
            let created = plan.iter().filter(|p| !p.replaces).count();
            self.metrics().index_notes.add(created as i64);
        }
        result
    }

    /// Indexes the written notes in one transaction, a batch of full-text rows at a time.
    fn index_plan(&self, user: &UserId, plan: &[Planned]) -> Result<(), ImportError> {
        let vault = self.vault();
        let outcome = self.index().write(user, |tx| {
            for batch in plan.chunks(INDEX_BATCH) {
                let mut rows = Vec::with_capacity(batch.len());
                for p in batch {
                    let (bytes, stamp) = vault
                        .read(user, &p.path)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                    let parsed = notes::parse(&p.path, &String::from_utf8_lossy(&bytes));
                    rows.push((parsed, stamp, content_hash(&bytes)));
                }
                index::upsert_many(
                    tx,
                    user.as_str(),
                    batch
                        .iter()
                        .zip(&rows)
                        .map(|(p, (parsed, stamp, hash))| (&p.path, parsed, *stamp, hash.as_str())),
                )?;
            }
            Ok(())
        });
        outcome.map_err(|e| {
            tracing::error!(error = %e, "import: indexing");
            ImportError::Io("internal error; nothing was imported".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::source::{Entry, Kind, Source};
    use super::*;
    use crate::config::Limits;
    use crate::index::{Index, IndexOptions};
    use crate::metrics::Metrics;
    use crate::service::WriteRequest;
    use crate::vault::Vault;

    /// Entries in memory; `flip` changes the bytes an entry gives on its second read.
    struct Mem {
        entries: Vec<(String, Vec<u8>)>,
        reads: Vec<usize>,
        flip: Option<usize>,
    }

    impl Source for Mem {
        fn entries(&mut self, max: usize) -> Result<Vec<Entry>, ImportError> {
            if self.entries.len() > max {
                return Err(ImportError::TooManyEntries {
                    count: self.entries.len(),
                    max,
                });
            }
            self.reads = vec![0; self.entries.len()];
            Ok(self
                .entries
                .iter()
                .map(|(n, _)| Entry {
                    name: n.clone(),
                    kind: Kind::File,
                })
                .collect())
        }

        fn read(&mut self, i: usize, max: u64) -> Result<Option<Vec<u8>>, ImportError> {
            self.reads[i] += 1;
            let mut b = self.entries[i].1.clone();
            if self.flip == Some(i) && self.reads[i] > 1 {
                b.push(b'!');
            }
            Ok((b.len() as u64 <= max).then_some(b))
        }
    }

    fn service(dir: &std::path::Path) -> NoteService {
        let limits = Limits {
            note_max_bytes: 1024,
            user_max_notes: 100,
            user_max_bytes: 1 << 20,
            user_max_folders: 100,
        };
        NoteService::new(
            Vault::open(&dir.join("vaults")).unwrap(),
            Index::open(&dir.join("index.db"), IndexOptions::default()).unwrap(),
            limits,
            Metrics::new(),
        )
    }

    fn mem(entries: &[(&str, &str)], flip: Option<usize>) -> Mem {
        Mem {
            entries: entries
                .iter()
                .map(|(n, b)| (n.to_string(), b.as_bytes().to_vec()))
                .collect(),
            reads: Vec::new(),
            flip,
        }
    }

    /// A source that changes between the passes fails the import, and nothing of it stays:
    /// no new note, the replaced note as it was, no temporary or staging file.
    #[test]
    fn a_failure_in_the_second_pass_leaves_the_vault_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path());
        let u = UserId::parse("alice").unwrap();
        s.write(
            &u,
            "keep.md",
            WriteRequest {
                body: "original".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let before = crate::vault::Vault::walk(s.vault(), &u).unwrap();
        let opts = ImportOptions {
            overwrite: true,
            max_entries: 10,
        };
        let mut src = mem(&[("keep.md", "new"), ("a/new.md", "x"), ("b/last.md", "y")], Some(2));
        let e = s.import(&u, &mut src, opts).unwrap_err();
        assert!(matches!(e, ImportError::Changed(_)), "{e}");
        assert_eq!(s.read(&u, "keep.md").unwrap().content, "original");
        assert_eq!(crate::vault::Vault::walk(s.vault(), &u).unwrap(), before);
        let left: Vec<String> = std::fs::read_dir(dir.path().join("vaults/alice"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["keep.md"], "no temporary file, staging or new folder is left");
        // The same import without the change goes through, and a second import is refused while
        // one runs.
        let mut src = mem(&[("keep.md", "new"), ("a/new.md", "x [[keep]]")], None);
        let r = s.import(&u, &mut src, opts).unwrap();
        assert_eq!((r.created, r.replaced), (1, 1));
        assert_eq!(s.backlinks(&u, "keep.md").unwrap()[0].path, "a/new.md");
        let _running = s.begin_import(&u).unwrap();
        let e = s.import(&u, &mut mem(&[("z.md", "z")], None), opts).unwrap_err();
        assert_eq!(e.status(), 429);
    }
}

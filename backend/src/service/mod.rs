//! The note operations MCP tools and the REST API share: one user-scoped layer over pure parts.
//! Synchronous (file and SQLite work); async callers run them through [`run_blocking`].
//!
//! Every operation goes in the same order:
//! 1. arguments — path ([`crate::vault`]), sizes and counts (`args`), before any parsing;
//! 2. the user's write lock (`locks`, writes only), refused while an import runs;
//! 3. the current file and its `if_match` (`args::check_if_match`);
//! 4. the new text ([`crate::notes::compose`]), read with [`notes::parse_checked`];
//! 5. the quotas (`quota`), then the atomic file write, then the index.
//!
//! Holding the user's lock from 2 to 5 makes the `if_match` check, the quota check and the write
//! one step. What each failure is on the wire lives in `error`.

mod args;
mod error;
mod locks;
pub(crate) mod quota;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vaultgate_shared::UserId;

pub use self::args::{DEFAULT_LIST_LIMIT, DEFAULT_SEARCH_LIMIT, MAX_LIST_LIMIT};
use self::args::{check_if_match, check_size};
pub use self::error::ServiceError;
use self::error::internal;
pub(crate) use self::locks::ImportGuard;
use self::locks::UserLocks;
pub(crate) use self::quota::Usage;
use crate::bulkhead::{self, Bulkhead, Refusal, Weight};
use crate::config::Limits;
use crate::index::{self, Backlink, Index, NoteSummary, SearchHit, SearchRequest, TagCount};
use crate::metrics::Metrics;
use crate::notes::compose::{self, ComposeError};
pub use crate::notes::compose::{EditOp, content_hash};
use crate::notes::{self, NoteError};
pub use crate::precondition::IfMatch;
use crate::render::{self, RenderRefusal};
use crate::vault::{Folder, NotePath, PathError, Vault, VaultError};

/// A full note, as `read_note` and `GET /api/notes/{path}` return it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteView {
    pub path: String,
    pub title: String,
    pub tags: Vec<String>,
    /// The front matter as an object (empty when there is none).
    pub metadata: Map<String, Value>,
    /// The text after the front matter.
    pub body: String,
    /// The whole file.
    pub content: String,
    /// SHA-256 of the whole file; pass it as `if_match` to update safely.
    pub hash: String,
    pub size: u64,
    pub modified: String,
    /// Wikilinks in the body and the note each resolves to (`null` when none exists yet).
    pub links: Vec<LinkView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkView {
    pub target: String,
    pub path: Option<String>,
}

/// A page of notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteList {
    pub notes: Vec<NoteSummary>,
    pub next_cursor: Option<String>,
}

/// What `write_note` / `PUT` asks for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WriteRequest {
    pub body: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// The JSON body's `if_match` (a hash, or `*`); the REST API's `If-Match` header replaces it.
    #[serde(default, deserialize_with = "hash_condition")]
    pub if_match: Option<IfMatch>,
}

fn hash_condition<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IfMatch>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.as_deref().and_then(IfMatch::hash))
}

/// The result of a write: the note's summary and whether it was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub note: NoteSummary,
    pub created: bool,
}

/// The shared note operations.
pub struct NoteService {
    vault: Vault,
    index: Index,
    limits: Limits,
    metrics: Metrics,
    locks: UserLocks,
    /// Per-user usage, loaded from the index on first use and kept current by the writes, which
    /// all hold the user's lock.
    usage: Mutex<HashMap<String, Usage>>,
}

impl std::fmt::Debug for NoteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteService").field("limits", &self.limits).finish()
    }
}

impl NoteService {
    pub fn new(vault: Vault, index: Index, limits: Limits, metrics: Metrics) -> Self {
        Self {
            vault,
            index,
            limits,
            metrics,
            locks: UserLocks::default(),
            usage: Mutex::new(HashMap::new()),
        }
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The user's write lock for one note's change, refused while an import runs.
    fn write_lock(&self, user: &UserId) -> Result<Arc<Mutex<()>>, ServiceError> {
        self.locks.write_lock(user)
    }

    /// Marks `user` as importing until the guard is dropped; `None` when an import already runs.
    pub(crate) fn begin_import(&self, user: &UserId) -> Option<ImportGuard<'_>> {
        self.locks.begin_import(user)
    }

    /// The user's write lock: every change to the user's notes holds it.
    pub(crate) fn user_lock(&self, user: &UserId) -> Arc<Mutex<()>> {
        self.locks.lock(user)
    }

    /// Validates a path, counting and auditing refusals.
    pub fn note_path(&self, user: &UserId, raw: &str) -> Result<NotePath, ServiceError> {
        NotePath::parse(raw).map_err(|e| self.rejected(user, e))
    }

    fn folder(&self, user: &UserId, raw: Option<&str>) -> Result<Folder, ServiceError> {
        Folder::parse(raw.unwrap_or("")).map_err(|e| self.rejected(user, e))
    }

    fn rejected(&self, user: &UserId, e: PathError) -> ServiceError {
        self.metrics.rejected_paths.with_label_values(&[e.reason()]).inc();
        tracing::warn!(target: vaultgate_shared::audit::TARGET, event = "path_rejected", user = %user, reason = e.reason(), "note path refused");
        ServiceError::InvalidPath(e)
    }

    fn vault_err(&self, user: &UserId, path: &NotePath, e: VaultError) -> ServiceError {
        match e {
            VaultError::Path(p) => self.rejected(user, p),
            VaultError::NotFound => ServiceError::NotFound(path.to_string()),
            VaultError::AlreadyExists => ServiceError::AlreadyExists(path.to_string()),
            VaultError::Io { what, source } => internal(&what, source),
        }
    }

    fn db<T>(r: rusqlite::Result<T>) -> Result<T, ServiceError> {
        r.map_err(|e| {
            if bulkhead::is_interrupt(&e) {
                ServiceError::Refused(Refusal::OverBudget)
            } else {
                internal("index query failed", e)
            }
        })
    }

    /// Runs a read-only index query that the bulkhead may interrupt when its request runs out of
    /// time. (Index writes are never interrupted: they follow a file write that must be indexed.)
    fn query<T>(
        &self,
        user: &UserId,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ServiceError> {
        Self::db(self.index.read(user, |c| {
            let _watch = bulkhead::watch(c);
            f(c)
        }))
    }

    /// Counts and audits a note text refused by a limit.
    fn refused_note(&self, user: &UserId, e: NoteError) -> ServiceError {
        self.metrics.rejected_notes.with_label_values(&[e.reason()]).inc();
        tracing::warn!(target: vaultgate_shared::audit::TARGET, event = "note_rejected", user = %user, reason = e.reason(), "note text refused");
        ServiceError::Note(e)
    }

    /// The size limit, checked before the text is parsed at all.
    fn check_size(&self, size: usize) -> Result<(), ServiceError> {
        check_size(size, self.limits.note_max_bytes)
    }

    /// Reads a note.
    pub fn read(&self, user: &UserId, raw_path: &str) -> Result<NoteView, ServiceError> {
        let path = self.note_path(user, raw_path)?;
        let (bytes, stamp) = self
            .vault
            .read(user, &path)
            .map_err(|e| self.vault_err(user, &path, e))?;
        let content = String::from_utf8_lossy(&bytes).into_owned();
        let parsed = notes::parse(&path, &content);
        let keys: Vec<String> = parsed.links.iter().map(|t| notes::link_key(t)).collect();
        let mut resolved = self.query(user, |c| {
            index::links::resolve_links(c, user.as_str(), path.folder(), &keys)
        })?;
        let links = parsed
            .links
            .iter()
            .zip(&keys)
            .map(|(t, k)| LinkView {
                target: t.clone(),
                path: resolved.remove(k),
            })
            .collect();
        Ok(NoteView {
            path: path.to_string(),
            title: parsed.title,
            tags: parsed.tags,
            metadata: parsed.metadata,
            body: parsed.body,
            hash: content_hash(&bytes),
            size: stamp.size,
            modified: index::rfc3339(stamp.mtime_ns),
            content,
            links,
        })
    }

    /// Renders `content` as sanitised HTML (see [`crate::render`]), its wikilinks resolved as
    /// written in the note at `raw_path` (at the vault root without one), exactly as backlinks
    /// resolve them. `Ok(Err(_))`: not rendered, being too large or too complex.
    pub fn render(
        &self,
        user: &UserId,
        raw_path: Option<&str>,
        content: &str,
    ) -> Result<Result<String, RenderRefusal>, ServiceError> {
        let path = raw_path.map(|p| self.note_path(user, p)).transpose()?;
        let folder = path.as_ref().map_or("", NotePath::folder);
        let out = render::render(render::body_of(content), path.as_ref().map(NotePath::as_str), |keys| {
            self.query(user, |c| index::links::resolve_links(c, user.as_str(), folder, keys))
        })?;
        if let Err(r) = &out {
            tracing::info!(user = %user, reason = r.reason(), "note not rendered as HTML");
        }
        Ok(out)
    }

    /// Lists notes in path order, `limit` at a time; pass `next_cursor` back as `cursor`.
    pub fn list(
        &self,
        user: &UserId,
        folder: Option<&str>,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<NoteList, ServiceError> {
        let folder = self.folder(user, folder)?;
        let limit = args::list_limit(limit)?;
        let after = args::decode_cursor(cursor)?;
        let mut notes = self.query(user, |c| index::list(c, user.as_str(), &folder, &after, limit + 1))?;
        let next_cursor = if notes.len() > limit {
            notes.truncate(limit);
            notes.last().map(|n| args::encode_cursor(&n.path))
        } else {
            None
        };
        Ok(NoteList { notes, next_cursor })
    }

    /// Creates or replaces a note.
    ///
    /// Front matter: when `body` has its own front matter it is used as written; otherwise the
    /// existing note's front matter is kept. `title`, `tags` and `metadata` then replace just
    /// their keys; every other line stays verbatim.
    pub fn write(&self, user: &UserId, raw_path: &str, req: WriteRequest) -> Result<Written, ServiceError> {
        let path = self.note_path(user, raw_path)?;
        self.check_size(req.body.len())?;
        args::check_counts(req.metadata.as_ref().map(Map::len), req.tags.as_ref().map(Vec::len))
            .map_err(|e| self.refused_note(user, e))?;
        let lock = self.write_lock(user)?;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let existing = self.current(user, &path)?;
        check_if_match(&path, req.if_match.as_ref(), existing.as_ref().map(|(_, h)| h.as_str()))?;
        let existing_text = existing.as_ref().map(|(b, _)| String::from_utf8_lossy(b));
        let fields = compose::Fields {
            title: req.title.as_deref(),
            tags: req.tags.as_deref(),
            metadata: req.metadata.as_ref(),
        };
        let text = compose::write(existing_text.as_deref(), &req.body, fields).map_err(|e| match e {
            ComposeError::Note(e) => self.refused_note(user, e),
            ComposeError::BadRequest(m) => ServiceError::BadRequest(m),
        })?;
        self.store(user, &path, text.into_bytes(), existing)
    }

    /// Appends, prepends or replaces text in an existing note.
    pub fn edit(
        &self,
        user: &UserId,
        raw_path: &str,
        op: EditOp,
        text: &str,
        find: Option<&str>,
        if_match: Option<&IfMatch>,
    ) -> Result<Written, ServiceError> {
        let path = self.note_path(user, raw_path)?;
        self.check_size(text.len())?;
        self.check_size(find.map_or(0, str::len))?;
        let lock = self.write_lock(user)?;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let existing = self.current(user, &path)?;
        let Some((bytes, hash)) = &existing else {
            return Err(ServiceError::NotFound(path.to_string()));
        };
        check_if_match(&path, if_match, Some(hash))?;
        let content = String::from_utf8_lossy(bytes);
        let text = compose::edit(&content, op, text, find, path.as_str()).map_err(ServiceError::BadRequest)?;
        self.store(user, &path, text.into_bytes(), existing)
    }

    /// The user's usage, for a change of many notes at once. Caller holds the user lock.
    pub(crate) fn usage_of(&self, user: &UserId) -> Result<Usage, ServiceError> {
        self.usage(user)
    }

    /// Forgets the user's cached usage (it is counted again on next use).
    pub(crate) fn forget_usage(&self, user: &UserId) {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user.as_str());
    }

    /// Refuses a usage over any of the user quotas.
    pub(crate) fn check_quota(&self, usage: &Usage) -> Result<(), ServiceError> {
        quota::check_usage(usage, &self.limits)
    }

    /// The size of the note at `path`, if there is one.
    pub(crate) fn existing_size(&self, user: &UserId, path: &NotePath) -> Result<Option<u64>, ServiceError> {
        let file = self
            .vault
            .locate(user, path)
            .map_err(|e| self.vault_err(user, path, e))?;
        match std::fs::symlink_metadata(&file) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Err(ServiceError::AlreadyExists(path.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(internal("reading a note's size", e)),
        }
    }

    /// The user's usage. Caller holds the user lock.
    fn usage(&self, user: &UserId) -> Result<Usage, ServiceError> {
        if let Some(u) = self.usage.lock().unwrap_or_else(|e| e.into_inner()).get(user.as_str()) {
            return Ok(u.clone());
        }
        let ((notes, bytes), folders) = Self::db(self.index.read(user, |c| {
            Ok((
                index::usage(c, user.as_str())?,
                index::links::note_folders(c, user.as_str())?,
            ))
        }))?;
        let u = Usage::new(notes, bytes, &folders);
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.as_str().to_owned(), u.clone());
        Ok(u)
    }

    /// The note's current bytes and hash, if it exists.
    fn current(&self, user: &UserId, path: &NotePath) -> Result<Option<(Vec<u8>, String)>, ServiceError> {
        match self.vault.read(user, path) {
            Ok((b, _)) => {
                let h = content_hash(&b);
                Ok(Some((b, h)))
            }
            Err(VaultError::NotFound) => Ok(None),
            Err(e) => Err(self.vault_err(user, path, e)),
        }
    }

    /// Size and quota checks, then the atomic write and the index update. Caller holds the user lock.
    fn store(
        &self,
        user: &UserId,
        path: &NotePath,
        bytes: Vec<u8>,
        existing: Option<(Vec<u8>, String)>,
    ) -> Result<Written, ServiceError> {
        let size = bytes.len() as u64;
        self.check_size(bytes.len())?;
        let parsed =
            notes::parse_checked(path, &String::from_utf8_lossy(&bytes)).map_err(|e| self.refused_note(user, e))?;
        let mut usage = self.usage(user)?;
        let old_size = existing.as_ref().map(|(b, _)| b.len() as u64);
        quota::check_write(&usage, path, old_size, size, &self.limits)?;
        let stamp = self
            .vault
            .write(user, path, &bytes)
            .map_err(|e| self.vault_err(user, path, e))?;
        let hash = content_hash(&bytes);
        Self::db(
            self.index
                .write(user, |tx| index::upsert(tx, user.as_str(), path, &parsed, stamp, &hash)),
        )?;
        if existing.is_none() {
            self.metrics.index_notes.inc();
        }
        usage.add(path, old_size, size);
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.as_str().to_owned(), usage);
        Ok(Written {
            note: NoteSummary {
                path: path.to_string(),
                title: parsed.title,
                tags: parsed.tags,
                hash,
                size,
                modified: index::rfc3339(stamp.mtime_ns),
            },
            created: existing.is_none(),
        })
    }

    /// Moves (renames) a note; the destination must be free. Links to it are resolved anew.
    pub fn move_note(&self, user: &UserId, raw_from: &str, raw_to: &str) -> Result<NoteSummary, ServiceError> {
        let from = self.note_path(user, raw_from)?;
        let to = self.note_path(user, raw_to)?;
        if from == to {
            return Err(ServiceError::BadRequest("new_path is the same as path".into()));
        }
        let lock = self.write_lock(user)?;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        quota::check_folders(&self.usage(user)?, &to, &self.limits)?;
        let stamp = self.vault.rename(user, &from, &to).map_err(|e| match e {
            VaultError::NotFound => ServiceError::NotFound(from.to_string()),
            VaultError::AlreadyExists => ServiceError::AlreadyExists(to.to_string()),
            e => self.vault_err(user, &from, e),
        })?;
        // Folders may have emptied and others appeared: count them again on next use.
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user.as_str());
        let (bytes, _) = self.vault.read(user, &to).map_err(|e| self.vault_err(user, &to, e))?;
        let hash = content_hash(&bytes);
        let parsed = notes::parse(&to, &String::from_utf8_lossy(&bytes));
        Self::db(self.index.write(user, |tx| {
            index::remove(tx, user.as_str(), from.as_str())?;
            index::upsert(tx, user.as_str(), &to, &parsed, stamp, &hash)
        }))?;
        Ok(NoteSummary {
            path: to.to_string(),
            title: parsed.title,
            tags: parsed.tags,
            hash,
            size: stamp.size,
            modified: index::rfc3339(stamp.mtime_ns),
        })
    }

    /// Deletes a note (optionally only if it still has the hash `if_match`).
    pub fn delete(&self, user: &UserId, raw_path: &str, if_match: Option<&IfMatch>) -> Result<(), ServiceError> {
        let path = self.note_path(user, raw_path)?;
        let lock = self.write_lock(user)?;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if if_match.is_some() {
            let existing = self.current(user, &path)?;
            check_if_match(&path, if_match, existing.as_ref().map(|(_, h)| h.as_str()))?;
        }
        self.vault
            .delete(user, &path)
            .map_err(|e| self.vault_err(user, &path, e))?;
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user.as_str());
        let removed = Self::db(
            self.index
                .write(user, |tx| index::remove(tx, user.as_str(), path.as_str())),
        )?;
        if removed {
            self.metrics.index_notes.dec();
        }
        Ok(())
    }

    /// Full-text search, best match first.
    pub fn search(
        &self,
        user: &UserId,
        query: &str,
        tags: &[String],
        folder: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<SearchHit>, ServiceError> {
        let fts = index::search::to_fts(query).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let limit = args::search_limit(limit)?;
        let req = SearchRequest {
            query: query.to_owned(),
            tags: index::search::tag_filters(tags).map_err(|e| ServiceError::BadRequest(e.to_string()))?,
            folder: self.folder(user, folder)?,
            limit,
        };
        self.query(user, |c| index::search::search(c, user.as_str(), &req, &fts))
    }

    /// Notes linking to `path`.
    pub fn backlinks(&self, user: &UserId, raw_path: &str) -> Result<Vec<Backlink>, ServiceError> {
        let path = self.note_path(user, raw_path)?;
        self.query(user, |c| {
            if index::summary_of(c, user.as_str(), path.as_str())?.is_none() {
                return Ok(None);
            }
            index::backlinks(c, user.as_str(), &path).map(Some)
        })?
        .ok_or_else(|| ServiceError::NotFound(path.to_string()))
    }

    /// The user's tags with counts.
    pub fn tags(&self, user: &UserId) -> Result<Vec<TagCount>, ServiceError> {
        self.query(user, |c| index::tags(c, user.as_str()))
    }
}

/// Runs `f` for `user` on the bulkhead as a job of `weight` — the one way request handlers
/// (REST and MCP) reach the service; a refusal becomes [`ServiceError::Refused`].
pub async fn run_blocking<T: Send + 'static>(
    bulkhead: &Bulkhead,
    service: &Arc<NoteService>,
    user: &UserId,
    weight: Weight,
    f: impl FnOnce(&NoteService, &UserId) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    let (service, u) = (service.clone(), user.clone());
    bulkhead
        .run_weighted(user.as_str(), weight, move || f(&service, &u))
        .await
        .map_err(ServiceError::Refused)?
}

#[cfg(test)]
mod tests;

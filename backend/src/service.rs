//! The note operations MCP tools and the REST API share. Synchronous (file and SQLite work);
//! async callers run them through the [`crate::bulkhead::Bulkhead`].
//!
//! Writes of one user are serialized by a per-user lock, so an `if_match` check, the quota
//! check and the write happen as one step. Every limit that needs no parsing (sizes, counts of
//! requested tags and fields, paths) is checked before any parsing; the note's text is then read
//! with [`notes::parse_checked`] before anything reaches the disk.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use vaultgate_shared::UserId;

use crate::bulkhead::{self, Refusal};
use crate::config::Limits;
use crate::index::{self, Backlink, Index, NoteSummary, SearchHit, SearchRequest, TagCount};
use crate::metrics::Metrics;
use crate::notes::limits::{MAX_KEYS, MAX_TAGS};
use crate::notes::{self, NoteError, frontmatter};
pub use crate::precondition::IfMatch;
use crate::render::{self, RenderRefusal};
use crate::vault::{Folder, NotePath, PathError, Vault, VaultError};

/// Largest page of `list_notes`.
pub const MAX_LIST_LIMIT: usize = 1000;
/// Default page of `list_notes`.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Default number of search results.
pub const DEFAULT_SEARCH_LIMIT: usize = 10;

/// Why an operation failed. Messages are for the caller (a person or a model) and never contain
/// a file-system path, SQL, or anything about another user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid note path: {0}")]
    InvalidPath(PathError),
    #[error("note '{0}' does not exist")]
    NotFound(String),
    #[error("a note already exists at '{0}'; choose another path or delete it first")]
    AlreadyExists(String),
    #[error(
        "note '{path}' has changed since you read it (its hash is now {current}); read it again and retry with the new hash"
    )]
    Conflict { path: String, current: String },
    #[error("note '{path}' does not exist, so it cannot match if_match")]
    ConflictMissing { path: String },
    #[error("the note would be {size} bytes; the limit is {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Quota(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Note(NoteError),
    #[error("{0}")]
    Refused(Refusal),
    #[error("an import into your vault is running; retry when it has finished")]
    Importing,
    #[error("internal error; the operation may not have completed")]
    Internal,
}

impl ServiceError {
    /// Stable machine code (the `error` field of the JSON error body).
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::InvalidPath(_) => "invalid_path",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::AlreadyExists(_) => "conflict",
            ServiceError::Conflict { .. } | ServiceError::ConflictMissing { .. } => "conflict",
            ServiceError::TooLarge { .. } => "too_large",
            ServiceError::Quota(_) => "quota_exceeded",
            ServiceError::BadRequest(_) => "bad_request",
            ServiceError::Note(e) if e.is_size() => "too_large",
            ServiceError::Note(_) => "bad_request",
            ServiceError::Refused(Refusal::OverBudget) => "timeout",
            ServiceError::Refused(Refusal::UserBusy) | ServiceError::Importing => "busy",
            ServiceError::Refused(Refusal::PoolFull) => "overloaded",
            ServiceError::Refused(Refusal::Panicked) | ServiceError::Internal => "internal",
        }
    }

    /// The HTTP status the REST API answers with.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::InvalidPath(_) | ServiceError::BadRequest(_) => 400,
            ServiceError::NotFound(_) => 404,
            ServiceError::AlreadyExists(_) => 409,
            ServiceError::Conflict { .. } | ServiceError::ConflictMissing { .. } => 412,
            ServiceError::TooLarge { .. } => 413,
            ServiceError::Quota(_) => 403,
            ServiceError::Note(e) if e.is_size() => 413,
            ServiceError::Note(_) => 400,
            ServiceError::Refused(Refusal::UserBusy) | ServiceError::Importing => 429,
            ServiceError::Refused(Refusal::OverBudget | Refusal::PoolFull) => 503,
            ServiceError::Refused(Refusal::Panicked) | ServiceError::Internal => 500,
        }
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> ServiceError {
    tracing::error!(error = %e, "{what}");
    ServiceError::Internal
}

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

/// `edit_note`'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EditOp {
    /// Add `text` at the end of the note.
    Append,
    /// Add `text` at the start of the body (after any front matter).
    Prepend,
    /// Replace the one occurrence of `find` in the body with `text`.
    ReplaceText,
}

/// The result of a write: the note's summary and whether it was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub note: NoteSummary,
    pub created: bool,
}

/// SHA-256 hex of a note's bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The shared note operations.
pub struct NoteService {
    vault: Vault,
    index: Index,
    limits: Limits,
    metrics: Metrics,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Users with an import running: their writes are refused at once rather than queued
    /// behind it, so they cannot pile up holding the bulkhead's threads for its whole length.
    importing: Mutex<HashSet<String>>,
    /// Per-user usage, loaded from the index on first use and kept current by the writes, which
    /// all hold the user's lock.
    usage: Mutex<HashMap<String, Usage>>,
}

/// What a user's vault holds, for the quotas.
#[derive(Debug, Clone, Default)]
pub(crate) struct Usage {
    notes: u64,
    bytes: u64,
    /// Every folder that holds a note, directly or below it.
    folders: HashSet<String>,
}

impl Usage {
    /// Counts a note of `size` bytes written at `path`, replacing one of `old` bytes if any.
    pub(crate) fn add(&mut self, path: &NotePath, old: Option<u64>, size: u64) {
        self.notes += u64::from(old.is_none());
        self.bytes = self.bytes.saturating_sub(old.unwrap_or(0)) + size;
        self.folders.extend(ancestors(path.folder()).map(str::to_owned));
    }
}

/// An import in progress (see [`NoteService::begin_import`]).
pub(crate) struct ImportGuard<'a> {
    service: &'a NoteService,
    user: String,
}

impl Drop for ImportGuard<'_> {
    fn drop(&mut self) {
        self.service
            .importing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.user);
    }
}

/// `a`, `a/b`, `a/b/c` for the folder `a/b/c` (nothing for the vault root).
fn ancestors(folder: &str) -> impl Iterator<Item = &str> {
    folder
        .match_indices('/')
        .map(move |(i, _)| &folder[..i])
        .chain((!folder.is_empty()).then_some(folder))
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
            locks: Mutex::new(HashMap::new()),
            importing: Mutex::new(HashSet::new()),
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
        if self
            .importing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(user.as_str())
        {
            return Err(ServiceError::Importing);
        }
        Ok(self.user_lock(user))
    }

    /// Marks `user` as importing until the guard is dropped; `None` when an import already runs.
    pub(crate) fn begin_import(&self, user: &UserId) -> Option<ImportGuard<'_>> {
        let mut set = self.importing.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(user.as_str().to_owned()).then(|| ImportGuard {
            service: self,
            user: user.as_str().to_owned(),
        })
    }

    /// The user's write lock: every change to the user's notes holds it.
    pub(crate) fn user_lock(&self, user: &UserId) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(user.as_str().to_owned()).or_default().clone()
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
        if size as u64 > self.limits.note_max_bytes {
            return Err(ServiceError::TooLarge {
                size: size as u64,
                max: self.limits.note_max_bytes,
            });
        }
        Ok(())
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
        let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(ServiceError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIST_LIMIT}"
            )));
        }
        let after = match cursor {
            None | Some("") => String::new(),
            Some(c) => decode_cursor(c)
                .ok_or_else(|| ServiceError::BadRequest("cursor is not one this server returned".into()))?,
        };
        let mut notes = self.query(user, |c| index::list(c, user.as_str(), &folder, &after, limit + 1))?;
        let next_cursor = if notes.len() > limit {
            notes.truncate(limit);
            notes.last().map(|n| encode_cursor(&n.path))
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
        if req.metadata.as_ref().is_some_and(|m| m.len() > MAX_KEYS) {
            return Err(self.refused_note(user, NoteError::TooManyKeys));
        }
        if req.tags.as_ref().is_some_and(|t| t.len() > MAX_TAGS) {
            return Err(self.refused_note(user, NoteError::TooManyTags));
        }
        let lock = self.write_lock(user)?;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let existing = self.current(user, &path)?;
        check_if_match(&path, req.if_match.as_ref(), existing.as_ref().map(|(_, h)| h.as_str()))?;
        let given = frontmatter::split(&req.body);
        let existing_text = existing.as_ref().map(|(b, _)| String::from_utf8_lossy(b).into_owned());
        let given_yaml = match given.yaml.map(frontmatter::read) {
            Some(Err(e)) => return Err(self.refused_note(user, e)),
            Some(Ok(Some(_))) => given.yaml,
            _ => None,
        };
        let (base_yaml, body) = match given_yaml {
            Some(y) => (Some(y.to_owned()), given.body),
            None => (
                existing_text
                    .as_deref()
                    .and_then(|t| frontmatter::split(t).yaml.map(str::to_owned)),
                req.body.as_str(),
            ),
        };
        let mut set: Vec<(String, Value)> = Vec::new();
        let mut put = |k: &str, v: Value| {
            set.retain(|(key, _)| key != k);
            set.push((k.to_owned(), v));
        };
        if let Some(meta) = &req.metadata {
            for (k, v) in meta {
                if k.trim().is_empty() || k.contains(['\n', '\r']) {
                    return Err(ServiceError::BadRequest(
                        "metadata keys must be non-empty single-line text".into(),
                    ));
                }
                put(k, v.clone());
            }
        }
        if let Some(t) = &req.title {
            if t.contains(['\n', '\r']) {
                return Err(ServiceError::BadRequest("title must be a single line".into()));
            }
            put("title", Value::String(t.trim().to_owned()));
        }
        if let Some(tags) = &req.tags {
            let clean: Vec<Value> = tags
                .iter()
                .map(|t| notes::tag_key(t))
                .filter(|t| !t.is_empty())
                .map(Value::String)
                .collect();
            put("tags", Value::Array(clean));
        }
        let yaml = match (&base_yaml, set.is_empty()) {
            (base, true) => base.clone(),
            (base, false) => Some(frontmatter::update(base.as_deref().unwrap_or(""), &set, &[])),
        };
        let text = frontmatter::join(yaml.as_deref(), body);
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
        let content = String::from_utf8_lossy(bytes).into_owned();
        let split = frontmatter::split(&content);
        let (yaml, body) = match split.yaml {
            Some(y) if frontmatter::is_valid(y) => (Some(y), split.body),
            _ => (None, content.as_str()),
        };
        let new_body = match op {
            EditOp::Append => {
                let sep = if body.is_empty() || body.ends_with('\n') {
                    ""
                } else {
                    "\n"
                };
                format!("{body}{sep}{text}")
            }
            EditOp::Prepend => {
                let sep = if text.ends_with('\n') || body.is_empty() {
                    ""
                } else {
                    "\n"
                };
                format!("{text}{sep}{body}")
            }
            EditOp::ReplaceText => {
                let find = find
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| ServiceError::BadRequest("replace_text needs a non-empty 'find' text".into()))?;
                match body.matches(find).count() {
                    1 => body.replacen(find, text, 1),
                    0 => {
                        return Err(ServiceError::BadRequest(format!(
                            "the text to find does not occur in the body of '{path}'; read the note and copy the exact text"
                        )));
                    }
                    n => {
                        return Err(ServiceError::BadRequest(format!(
                            "the text to find occurs {n} times in '{path}'; include more surrounding text so it occurs once"
                        )));
                    }
                }
            }
        };
        let text = match yaml {
            Some(y) => format!("---\n{y}---\n{new_body}"),
            None => new_body,
        };
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
        let l = &self.limits;
        if usage.notes > l.user_max_notes {
            return Err(ServiceError::Quota(format!(
                "this would bring your notes to {}; the limit is {}",
                usage.notes, l.user_max_notes
            )));
        }
        if usage.bytes > l.user_max_bytes {
            return Err(ServiceError::Quota(format!(
                "this would bring your notes to {} bytes; the limit is {} bytes",
                usage.bytes, l.user_max_bytes
            )));
        }
        if usage.folders.len() as u64 > l.user_max_folders {
            return Err(ServiceError::Quota(format!(
                "this would bring your folders to {}; the limit is {}",
                usage.folders.len(),
                l.user_max_folders
            )));
        }
        Ok(())
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
        let folders = folders.iter().flat_map(|f| ancestors(f)).map(str::to_owned).collect();
        let u = Usage { notes, bytes, folders };
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.as_str().to_owned(), u.clone());
        Ok(u)
    }

    /// The folders a note at `path` would add, refused when they would exceed the folder quota.
    fn new_folders(&self, usage: &Usage, path: &NotePath) -> Result<Vec<String>, ServiceError> {
        let new: Vec<String> = ancestors(path.folder())
            .filter(|f| !usage.folders.contains(*f))
            .map(str::to_owned)
            .collect();
        let total = usage.folders.len() as u64 + new.len() as u64;
        if !new.is_empty() && total > self.limits.user_max_folders {
            return Err(ServiceError::Quota(format!(
                "'{path}' would bring your folders to {total}; the limit is {} (folders count once, however many notes they hold)",
                self.limits.user_max_folders
            )));
        }
        Ok(new)
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
        let (count, total) = (usage.notes, usage.bytes);
        let old_size = existing.as_ref().map_or(0, |(b, _)| b.len() as u64);
        if existing.is_none() && count >= self.limits.user_max_notes {
            return Err(ServiceError::Quota(format!(
                "you already have {count} notes, the most allowed; delete some before creating more"
            )));
        }
        if total.saturating_sub(old_size) + size > self.limits.user_max_bytes {
            return Err(ServiceError::Quota(format!(
                "this write would bring your notes to {} bytes; the limit is {} bytes",
                total.saturating_sub(old_size) + size,
                self.limits.user_max_bytes
            )));
        }
        let new_folders = self.new_folders(&usage, path)?;
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
        usage.notes = count + u64::from(existing.is_none());
        usage.bytes = total.saturating_sub(old_size) + size;
        usage.folders.extend(new_folders);
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
        self.new_folders(&self.usage(user)?, &to)?;
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
        let limit = limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
        if limit == 0 || limit > index::search::MAX_LIMIT {
            return Err(ServiceError::BadRequest(format!(
                "limit must be between 1 and {}",
                index::search::MAX_LIMIT
            )));
        }
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

fn check_if_match(path: &NotePath, if_match: Option<&IfMatch>, current: Option<&str>) -> Result<(), ServiceError> {
    match (if_match, current) {
        (None, _) => Ok(()),
        (Some(cond), _) if cond.holds(current) => Ok(()),
        (Some(_), None) => Err(ServiceError::ConflictMissing { path: path.to_string() }),
        (Some(_), Some(cur)) => Err(ServiceError::Conflict {
            path: path.to_string(),
            current: cur.to_owned(),
        }),
    }
}

fn encode_cursor(path: &str) -> String {
    hex::encode(path.as_bytes())
}

fn decode_cursor(c: &str) -> Option<String> {
    String::from_utf8(hex::decode(c).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(dir: &std::path::Path, limits: Limits) -> NoteService {
        let vault = Vault::open(&dir.join("vaults")).unwrap();
        let index = Index::open(&dir.join("index.db"), crate::index::IndexOptions::default()).unwrap();
        NoteService::new(vault, index, limits, Metrics::new())
    }

    const ROOMY: Limits = Limits {
        note_max_bytes: 1 << 20,
        user_max_notes: 1000,
        user_max_bytes: 1 << 30,
        user_max_folders: 1000,
    };

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    fn put(s: &NoteService, u: &UserId, path: &str, body: &str) -> Written {
        s.write(
            u,
            path,
            WriteRequest {
                body: body.into(),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn best_match_first_and_title_weighs_more() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path(), ROOMY);
        let u = user("alice");
        put(
            &s,
            &u,
            "passing.md",
            "# Misc\nA long note that mentions tomato once among many other words about gardens, weather, soil, rain and sunshine.",
        );
        put(&s, &u, "dense.md", "# Garden\ntomato tomato tomato sauce with tomato");
        put(&s, &u, "titled.md", "# Tomato\nA note about red fruit.");
        put(&s, &u, "other.md", "# Unrelated\nnothing to see");
        let hits = s.search(&u, "tomato", &[], None, None).unwrap();
        let order: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(order, ["titled.md", "dense.md", "passing.md"]);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "{hits:?}");
        assert!(
            hits[1].snippet_html.contains("<mark>tomato</mark>"),
            "{}",
            hits[1].snippet_html
        );
        assert!(!hits[1].snippet.contains('<'), "{}", hits[1].snippet);
        // limit keeps the best, not the worst
        let top = s.search(&u, "tomato", &[], None, Some(1)).unwrap();
        assert_eq!(top[0].path, "titled.md");
        // phrase, prefix, OR, stemming
        assert_eq!(s.search(&u, "\"tomato sauce\"", &[], None, None).unwrap().len(), 1);
        assert_eq!(s.search(&u, "tom*", &[], None, None).unwrap().len(), 3);
        assert_eq!(s.search(&u, "fruit OR sauce", &[], None, None).unwrap().len(), 2);
        assert_eq!(
            s.search(&u, "gardening", &[], None, None).unwrap().len(),
            2,
            "porter stems gardening → garden"
        );
        for bad in ["\"unclosed", "", "***", "OR"] {
            assert!(
                matches!(s.search(&u, bad, &[], None, None), Err(ServiceError::BadRequest(_))),
                "{bad}"
            );
        }
        // FTS syntax characters are just text
        for q in [
            "NEAR(a b)",
            "title:x",
            "a AND",
            "^x",
            "(x",
            "x)",
            "-x",
            "{a}",
            "col:\"x\"",
        ] {
            assert!(
                s.search(&u, q, &[], None, None).is_ok()
                    || matches!(s.search(&u, q, &[], None, None), Err(ServiceError::BadRequest(_))),
                "{q}"
            );
        }
    }

    #[test]
    fn search_filters_by_tags_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path(), ROOMY);
        let u = user("alice");
        put(&s, &u, "a/one.md", "---\ntags: [Red, blue]\n---\nshared word");
        put(&s, &u, "a/b/two.md", "---\ntags: [red]\n---\nshared word");
        put(&s, &u, "ab/three.md", "---\ntags: [red]\n---\nshared word");
        let paths = |tags: &[&str], folder: Option<&str>| -> Vec<String> {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            let mut v: Vec<String> = s
                .search(&u, "shared", &tags, folder, None)
                .unwrap()
                .into_iter()
                .map(|h| h.path)
                .collect();
            v.sort();
            v
        };
        assert_eq!(paths(&[], None).len(), 3);
        assert_eq!(paths(&["RED", "blue"], None), ["a/one.md"]);
        assert_eq!(paths(&["red"], Some("a")), ["a/b/two.md", "a/one.md"]);
        assert_eq!(paths(&[], Some("a/b/")), ["a/b/two.md"]);
        assert_eq!(paths(&["green"], None), Vec::<String>::new());
        let tags = s.tags(&u).unwrap();
        assert_eq!(
            tags[0],
            index::TagCount {
                tag: "red".into(),
                count: 3
            }
        );
        assert_eq!(
            tags[1],
            index::TagCount {
                tag: "blue".into(),
                count: 1
            }
        );
    }

    #[test]
    fn wikilink_resolution_table() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path(), ROOMY);
        let u = user("alice");
        // Same folder wins over a shorter path elsewhere.
        put(&s, &u, "x/target.md", "in x");
        put(&s, &u, "target.md", "at root");
        put(&s, &u, "x/src.md", "[[Target]]");
        // Shortest path wins when no same-folder note exists; then lexicographic.
        put(&s, &u, "y/deep/target.md", "deep");
        put(&s, &u, "z/src.md", "[[target|alias]] and [[Titled Note#Section]]");
        put(&s, &u, "b/dup.md", "b");
        put(&s, &u, "a/dup.md", "a");
        put(&s, &u, "c/src.md", "[[dup]]");
        // By title (front matter or heading), case-insensitive.
        put(&s, &u, "q/some-file.md", "---\ntitle: Titled Note\n---\nbody");
        put(&s, &u, "explicit.md", "[[x/target.md]]");
        let back = |p: &str| -> Vec<String> { s.backlinks(&u, p).unwrap().into_iter().map(|b| b.path).collect() };
        assert_eq!(back("x/target.md"), ["explicit.md", "x/src.md"]);
        assert_eq!(back("target.md"), ["z/src.md"]);
        assert_eq!(back("a/dup.md"), ["c/src.md"]);
        assert!(back("b/dup.md").is_empty());
        assert_eq!(back("q/some-file.md"), ["z/src.md"]);
        assert!(back("y/deep/target.md").is_empty());
        // Unresolved links are kept and resolve once the target appears; moving keeps title links.
        put(&s, &u, "later.md", "[[Not Yet]]");
        let view = s.read(&u, "later.md").unwrap();
        assert_eq!(
            view.links,
            [LinkView {
                target: "Not Yet".into(),
                path: None
            }]
        );
        put(&s, &u, "n/not yet.md", "now here");
        assert_eq!(back("n/not yet.md"), ["later.md"]);
        assert_eq!(
            s.read(&u, "later.md").unwrap().links[0].path.as_deref(),
            Some("n/not yet.md")
        );
        s.move_note(&u, "q/some-file.md", "moved/renamed.md").unwrap();
        assert_eq!(back("moved/renamed.md"), ["z/src.md"]);
        assert!(matches!(
            s.backlinks(&u, "q/some-file.md"),
            Err(ServiceError::NotFound(_))
        ));
        // Another user's identical note is invisible.
        let bob = user("bob");
        put(&s, &bob, "src.md", "[[later]]");
        assert!(s.backlinks(&u, "later.md").unwrap().is_empty());
    }

    #[test]
    fn writes_keep_front_matter_verbatim_except_managed_fields() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path(), ROOMY);
        let u = user("alice");
        let original =
            "---\n# keep me\nauthor:  Ada   # spacing kept\ntitle: Old\nnested:\n  k: [1, 2]\n---\n# Heading\nbody\n";
        put(&s, &u, "n.md", original);
        let v = s.read(&u, "n.md").unwrap();
        assert_eq!(v.content, original);
        assert_eq!(v.title, "Old");
        assert_eq!(v.metadata["nested"], json!({"k": [1, 2]}));
        // New body without front matter keeps the old front matter; title and tags replace theirs.
        let w = s
            .write(
                &u,
                "n.md",
                WriteRequest {
                    body: "new body\n".into(),
                    title: Some("New".into()),
                    tags: Some(vec!["#Work".into(), "ideas".into()]),
                    metadata: Some(json!({"status": "draft"}).as_object().unwrap().clone()),
                    if_match: IfMatch::hash(&v.hash),
                },
            )
            .unwrap();
        let v2 = s.read(&u, "n.md").unwrap();
        assert_eq!(w.note.hash, v2.hash);
        assert_eq!(
            v2.content,
            "---\n# keep me\nauthor:  Ada   # spacing kept\nnested:\n  k: [1, 2]\nstatus: draft\ntitle: New\ntags:\n- work\n- ideas\n---\nnew body\n"
        );
        assert_eq!(
            (v2.title.as_str(), v2.tags.clone()),
            ("New", vec!["work".to_owned(), "ideas".to_owned()])
        );
        // Stale if_match: conflict, nothing changes.
        let stale = s.write(
            &u,
            "n.md",
            WriteRequest {
                body: "lost".into(),
                if_match: IfMatch::hash(&v.hash),
                ..Default::default()
            },
        );
        assert!(matches!(stale, Err(ServiceError::Conflict { .. })), "{stale:?}");
        assert_eq!(s.read(&u, "n.md").unwrap().content, v2.content);
        // Edits keep the front matter.
        s.edit(
            &u,
            "n.md",
            EditOp::Append,
            "tail",
            None,
            IfMatch::hash(&format!("\"{}\"", v2.hash)).as_ref(),
        )
        .unwrap();
        s.edit(&u, "n.md", EditOp::Prepend, "head", None, None).unwrap();
        s.edit(&u, "n.md", EditOp::ReplaceText, "NEW", Some("new body"), None)
            .unwrap();
        let v3 = s.read(&u, "n.md").unwrap();
        assert_eq!(v3.body, "head\nNEW\ntail");
        assert!(v3.content.starts_with("---\n# keep me\n"));
        assert!(matches!(
            s.edit(&u, "n.md", EditOp::ReplaceText, "x", Some("absent"), None),
            Err(ServiceError::BadRequest(_))
        ));
        assert!(matches!(
            s.edit(&u, "nope.md", EditOp::Append, "x", None, None),
            Err(ServiceError::NotFound(_))
        ));
    }

    #[test]
    fn limits_refuse_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(
            dir.path(),
            Limits {
                note_max_bytes: 100,
                user_max_notes: 2,
                user_max_bytes: 150,
                user_max_folders: 1000,
            },
        );
        let u = user("alice");
        put(&s, &u, "a.md", &"a".repeat(60));
        let big = s.write(
            &u,
            "b.md",
            WriteRequest {
                body: "b".repeat(101),
                ..Default::default()
            },
        );
        assert!(
            matches!(big, Err(ServiceError::TooLarge { size: 101, max: 100 })),
            "{big:?}"
        );
        let bytes = s.write(
            &u,
            "b.md",
            WriteRequest {
                body: "b".repeat(91),
                ..Default::default()
            },
        );
        assert!(matches!(bytes, Err(ServiceError::Quota(_))), "{bytes:?}");
        put(&s, &u, "b.md", &"b".repeat(90));
        let count = s.write(
            &u,
            "c.md",
            WriteRequest {
                body: "c".into(),
                ..Default::default()
            },
        );
        assert!(matches!(count, Err(ServiceError::Quota(_))), "{count:?}");
        // Replacing an existing note counts its old size once.
        put(&s, &u, "a.md", &"z".repeat(60));
        assert_eq!(s.list(&u, None, None, None).unwrap().notes.len(), 2);
        assert!(!s.vault().exists(&u, &NotePath::parse("c.md").unwrap()).unwrap());
        // Another user has their own quota.
        put(&s, &user("bob"), "c.md", "c");
    }

    #[test]
    fn list_pages_with_cursor_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path(), ROOMY);
        let u = user("alice");
        for p in ["b.md", "a.md", "f/x.md", "f/g/y.md", "fg/z.md"] {
            put(&s, &u, p, "x");
        }
        let p1 = s.list(&u, None, Some(2), None).unwrap();
        assert_eq!(
            p1.notes.iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
            ["a.md", "b.md"]
        );
        let p2 = s.list(&u, None, Some(2), p1.next_cursor.as_deref()).unwrap();
        assert_eq!(
            p2.notes.iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
            ["f/g/y.md", "f/x.md"]
        );
        let p3 = s.list(&u, None, Some(2), p2.next_cursor.as_deref()).unwrap();
        assert_eq!((p3.notes.len(), p3.next_cursor), (1, None));
        let f = s.list(&u, Some("f"), None, None).unwrap();
        assert_eq!(
            f.notes.iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
            ["f/g/y.md", "f/x.md"]
        );
        assert!(matches!(
            s.list(&u, None, Some(0), None),
            Err(ServiceError::BadRequest(_))
        ));
        assert!(matches!(
            s.list(&u, None, None, Some("zz")),
            Err(ServiceError::BadRequest(_))
        ));
        assert!(matches!(
            s.list(&u, Some("../x"), None, None),
            Err(ServiceError::InvalidPath(_))
        ));
    }

    #[test]
    fn folders_count_toward_a_quota_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(
            dir.path(),
            Limits {
                user_max_folders: 3,
                ..ROOMY
            },
        );
        let u = user("alice");
        put(&s, &u, "a/b/one.md", "x");
        put(&s, &u, "a/two.md", "x");
        put(&s, &u, "c/three.md", "x");
        put(&s, &u, "root.md", "x");
        let deeper = s.write(
            &u,
            "a/b/d/four.md",
            WriteRequest {
                body: "x".into(),
                ..Default::default()
            },
        );
        assert!(matches!(deeper, Err(ServiceError::Quota(_))), "{deeper:?}");
        assert!(!dir.path().join("vaults/alice/a/b/d").exists());
        assert!(matches!(
            s.move_note(&u, "root.md", "e/root.md"),
            Err(ServiceError::Quota(_))
        ));
        // Moving the only note out of a folder frees it; deleting does too.
        s.move_note(&u, "c/three.md", "a/b/three.md").unwrap();
        put(&s, &u, "e/five.md", "x");
        s.delete(&u, "e/five.md", None).unwrap();
        put(&s, &u, "f/six.md", "x");
        // Another user has their own folders.
        put(&s, &user("bob"), "p/q/r/x.md", "x");
    }

    #[test]
    fn refused_texts_change_nothing_and_say_which_limit() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(
            dir.path(),
            Limits {
                note_max_bytes: 4096,
                ..ROOMY
            },
        );
        let u = user("alice");
        put(&s, &u, "keep.md", "---\ntitle: Keep\n---\nbody");
        let before = std::fs::read_to_string(dir.path().join("vaults/alice/keep.md")).unwrap();
        let many_tags: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let many_keys: Map<String, Value> = (0..=MAX_KEYS).map(|i| (format!("k{i}"), json!(i))).collect();
        let cases: Vec<(WriteRequest, &str)> = vec![
            (
                WriteRequest {
                    body: "---\na: &x [1]\nb: *x\n---\nbody".into(),
                    ..Default::default()
                },
                "anchor",
            ),
            (
                WriteRequest {
                    body: "x".repeat(4097),
                    ..Default::default()
                },
                "limit is 4096 bytes",
            ),
            (
                WriteRequest {
                    body: "b".into(),
                    tags: Some(many_tags),
                    ..Default::default()
                },
                "more than 100 tags",
            ),
            (
                WriteRequest {
                    body: "b".into(),
                    metadata: Some(many_keys),
                    ..Default::default()
                },
                "more than 200 keys",
            ),
        ];
        for (req, says) in cases {
            for path in ["keep.md", "new.md"] {
                let e = s.write(&u, path, req.clone()).unwrap_err();
                assert!(e.to_string().contains(says), "{e}");
                assert!(matches!(e.status(), 400 | 413), "{e}");
            }
        }
        // An edit that would make the stored text break a limit is refused the same way.
        let e = s
            .edit(&u, "keep.md", EditOp::Prepend, &"[[l]]".repeat(2), None, None)
            .map(|_| ());
        assert!(e.is_ok(), "{e:?}");
        let e = s
            .edit(&u, "keep.md", EditOp::Append, &"y".repeat(4097), None, None)
            .unwrap_err();
        assert_eq!(e.code(), "too_large");
        assert_eq!(s.list(&u, None, None, None).unwrap().notes.len(), 1);
        assert!(!dir.path().join("vaults/alice/new.md").exists());
        let after = s.read(&u, "keep.md").unwrap();
        assert!(after.content.ends_with("body") && after.content.contains("[[l]]"));
        assert_ne!(after.content, before);
    }

    #[test]
    fn writes_are_refused_while_an_import_runs() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path(), ROOMY);
        let (u, bob) = (user("alice"), user("bob"));
        put(&s, &u, "a.md", "x");
        let importing = s.begin_import(&u).unwrap();
        assert!(s.begin_import(&u).is_none(), "one import per user");
        let w = s.write(
            &u,
            "b.md",
            WriteRequest {
                body: "x".into(),
                ..Default::default()
            },
        );
        assert!(matches!(w, Err(ServiceError::Importing)), "{w:?}");
        assert_eq!(ServiceError::Importing.status(), 429);
        assert!(matches!(s.delete(&u, "a.md", None), Err(ServiceError::Importing)));
        assert!(matches!(s.move_note(&u, "a.md", "c.md"), Err(ServiceError::Importing)));
        assert_eq!(s.read(&u, "a.md").unwrap().content, "x", "reads go on");
        put(&s, &bob, "b.md", "others are not held up");
        drop(importing);
        put(&s, &u, "b.md", "x");
    }
}

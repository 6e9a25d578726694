//! The MCP tools: thin adapters that parse arguments, call [`NoteService`], and format answers.
//!
//! Every result carries the answer twice: a text item with pretty JSON and `structuredContent`
//! with the same object. Failures are tool errors (`isError: true`) with a message a model can
//! act on, plus `{"error": code, "message": …}` as structured content.

use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use vaultgate_shared::{Identity, UserId};

use crate::audit::{self, Auditor};
use crate::bulkhead::{Bulkhead, Weight};
use crate::service::{EditOp, IfMatch, NoteService, ServiceError, WriteRequest, run_blocking};

/// The MCP server for one request (rmcp builds one per request in stateless mode).
#[derive(Clone)]
pub struct VaultTools {
    pub(crate) service: Arc<NoteService>,
    pub(crate) bulkhead: Arc<Bulkhead>,
    pub(crate) audit: Arc<Auditor>,
    pub(crate) tool_router: ToolRouter<Self>,
}

/// The note paths a call names, for its audit line (hashed there, never written).
type Named = [Option<String>; 2];

/// A call that names no note.
const NO_NOTE: Named = [None, None];

fn note(path: &str) -> Named {
    [Some(path.to_owned()), None]
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only notes in this folder and its subfolders, e.g. "projects/2026". Omit for the whole vault.
    #[serde(default)]
    pub folder: Option<String>,
    /// Most notes to return (1–1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The `next_cursor` of a previous answer, to get the next page.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PathArgs {
    /// The note's path inside the vault, e.g. "projects/plan.md" (relative, '/'-separated, ends in .md).
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteArgs {
    /// The note's path inside the vault, e.g. "projects/plan.md". Folders are created as needed.
    pub path: String,
    /// The Markdown text (at most 1 MiB by default). If it starts with YAML front matter (---),
    /// that front matter is used; otherwise an existing note's front matter is kept. Front matter:
    /// at most 64 KiB, 200 keys, nesting 32 deep; YAML anchors, aliases and merge keys (&a, *a,
    /// <<) are refused. At most 100 tags and 1000 distinct [[wikilinks]] per note.
    pub body: String,
    /// Sets the `title` field of the front matter.
    #[serde(default)]
    pub title: Option<String>,
    /// Sets the `tags` field of the front matter (replaces the list; at most 100).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Other front matter fields to set (at most 200); fields not named here are kept as they are.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// The `hash` from your last read of this note. If the note changed since, nothing is written
    /// and you get a conflict error. Omit to write unconditionally.
    #[serde(default)]
    pub if_match: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EditArgs {
    /// The note's path inside the vault.
    pub path: String,
    /// append: add text at the end; prepend: add text at the start of the body (after front
    /// matter); replace_text: replace the single occurrence of `find` with `text`.
    pub operation: EditOp,
    /// The text to add, or the replacement text.
    pub text: String,
    /// For replace_text: the exact text to replace; it must occur exactly once in the body.
    #[serde(default)]
    pub find: Option<String>,
    /// The `hash` from your last read; the edit is refused if the note changed since.
    #[serde(default)]
    pub if_match: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct MoveArgs {
    /// The note's current path.
    pub path: String,
    /// The new path; it must not exist yet.
    pub new_path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// Words to find (all must match; at most 32 terms and 1000 characters, no control
    /// characters). Use "double quotes" for an exact phrase, word* for a prefix, and OR between
    /// alternatives.
    pub query: String,
    /// Only notes carrying all of these tags (at most 32).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Only notes in this folder and its subfolders.
    #[serde(default)]
    pub folder: Option<String>,
    /// Most results to return (1–100, default 10).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// The caller, from the verified assertion the HTTP layer put in the request's extensions.
fn caller(ctx: &RequestContext<RoleServer>) -> Option<UserId> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Identity>())
        .map(|i| i.user.clone())
}

/// A successful answer: pretty JSON text plus the same object as structured content.
pub fn answer(value: Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(value);
    r
}

/// A tool error a model can act on.
pub fn failure(code: &str, message: &str) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!("Error ({code}): {message}"))]);
    r.structured_content = Some(json!({"error": code, "message": message}));
    r
}

impl VaultTools {
    pub fn new(service: Arc<NoteService>, bulkhead: Arc<Bulkhead>, audit: Arc<Auditor>) -> Self {
        Self {
            service,
            bulkhead,
            audit,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `f` for the caller through the bulkhead, with metrics, and formats the outcome.
    async fn run<F>(
        &self,
        tool: &'static str,
        ctx: &RequestContext<RoleServer>,
        named: Named,
        f: F,
    ) -> Result<CallToolResult, ErrorData>
    where
        F: FnOnce(&NoteService, &UserId) -> Result<Value, ServiceError> + Send + 'static,
    {
        self.run_weighted(tool, Weight::Light, ctx, named, f).await
    }

    /// [`Self::run`] for a job of the given weight.
    async fn run_weighted<F>(
        &self,
        tool: &'static str,
        weight: Weight,
        ctx: &RequestContext<RoleServer>,
        named: Named,
        f: F,
    ) -> Result<CallToolResult, ErrorData>
    where
        F: FnOnce(&NoteService, &UserId) -> Result<Value, ServiceError> + Send + 'static,
    {
        let started = Instant::now();
        let metrics = self.service.metrics().clone();
        let span = crate::trace::tool(ctx.extensions.get::<http::request::Parts>(), tool);
        let user = caller(ctx);
        let result = match &user {
            None => failure("unauthorized", "this request carries no verified identity"),
            Some(user) => match tracing::Instrument::instrument(self.weighted(user, weight, f), span.clone()).await {
                Ok(v) => answer(v),
                Err(e) => failure(e.code(), &e.to_string()),
            },
        };
        let outcome = if result.is_error == Some(true) {
            result
                .structured_content
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(Value::as_str)
                .map_or("error", outcome_label)
        } else {
            "ok"
        };
        metrics.tool_calls.with_label_values(&[tool, outcome]).inc();
        crate::trace::outcome(&span, outcome);
        let duration = started.elapsed();
        metrics
            .tool_duration
            .with_label_values(&[tool])
            .observe(duration.as_secs_f64());
        let ids = ctx
            .extensions
            .get::<http::request::Parts>()
            .map(|p| audit::RequestIds::from_headers(&p.headers))
            .unwrap_or_default();
        let [path, new_path] = &named;
        self.audit.tool_call(
            &audit::Call {
                user: user.as_ref(),
                outcome,
                duration,
                ids: &ids,
                path: path.as_deref(),
                new_path: new_path.as_deref(),
            },
            tool,
        );
        Ok(result)
    }

    /// Runs `f` for `user` through the bulkhead; a refusal becomes the matching service error.
    pub(crate) async fn blocking<T, F>(&self, user: &UserId, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&NoteService, &UserId) -> Result<T, ServiceError> + Send + 'static,
    {
        self.weighted(user, Weight::Light, f).await
    }

    /// [`Self::blocking`] for a job of the given weight.
    async fn weighted<T, F>(&self, user: &UserId, weight: Weight, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&NoteService, &UserId) -> Result<T, ServiceError> + Send + 'static,
    {
        run_blocking(&self.bulkhead, &self.service, user, weight, f).await
    }
}

/// Maps an error code onto the fixed set of outcome labels.
fn outcome_label(code: &str) -> &'static str {
    match code {
        "invalid_path" => "invalid_path",
        "not_found" => "not_found",
        "conflict" => "conflict",
        "too_large" => "too_large",
        "quota_exceeded" => "quota_exceeded",
        "bad_request" => "bad_request",
        "timeout" => "timeout",
        "overloaded" => "overloaded",
        "unauthorized" => "unauthorized",
        "busy" => "busy",
        _ => "error",
    }
}

fn to_json<T: serde::Serialize>(v: T) -> Result<Value, ServiceError> {
    serde_json::to_value(v).map_err(|_| ServiceError::Internal)
}

#[tool_router]
impl VaultTools {
    /// List the notes in the vault (or in one folder), in path order, with title, tags, hash,
    /// size and modification time. Returns `next_cursor` when more notes remain: pass it as
    /// `cursor` to get the next page.
    #[tool(annotations(
        title = "List notes",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn list_notes(
        &self,
        Parameters(a): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run("list_notes", &ctx, NO_NOTE, move |s, u| {
            to_json(s.list(u, a.folder.as_deref(), a.limit, a.cursor.as_deref())?)
        })
        .await
    }

    /// Read one note: its title, tags, front matter (`metadata`), `body` (text after the front
    /// matter), full `content`, the wikilinks it contains and where they point, and its `hash`
    /// (pass that as `if_match` when you write or edit it, so you never overwrite someone
    /// else's change).
    #[tool(annotations(
        title = "Read a note",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn read_note(
        &self,
        Parameters(a): Parameters<PathArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run("read_note", &ctx, note(&a.path), move |s, u| {
            to_json(s.read(u, &a.path)?)
        })
        .await
    }

    /// Create a note or replace its whole text. Use `title`, `tags` and `metadata` to set front
    /// matter fields (other fields are kept). Give `if_match` (the hash from read_note) when
    /// replacing an existing note. Returns the note's summary with its new hash. YAML anchors,
    /// aliases and merge keys in front matter are refused, as are notes past the size, tag, key
    /// or link limits (the error names the limit).
    #[tool(annotations(
        title = "Write a note",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn write_note(
        &self,
        Parameters(a): Parameters<WriteArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run("write_note", &ctx, note(&a.path), move |s, u| {
            let req = WriteRequest {
                body: a.body,
                title: a.title,
                tags: a.tags,
                metadata: a.metadata,
                if_match: a.if_match.as_deref().and_then(IfMatch::hash),
            };
            let w = s.write(u, &a.path, req)?;
            let mut v = to_json(&w.note)?;
            v["created"] = Value::Bool(w.created);
            Ok(v)
        })
        .await
    }

    /// Change part of an existing note without resending it: append text at the end, prepend
    /// text after the front matter, or replace one exact occurrence of `find` with `text`.
    /// Returns the note's summary with its new hash.
    #[tool(annotations(
        title = "Edit a note",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn edit_note(
        &self,
        Parameters(a): Parameters<EditArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run("edit_note", &ctx, note(&a.path), move |s, u| {
            let w = s.edit(
                u,
                &a.path,
                a.operation,
                &a.text,
                a.find.as_deref(),
                a.if_match.as_deref().and_then(IfMatch::hash).as_ref(),
            )?;
            to_json(&w.note)
        })
        .await
    }

    /// Move or rename a note to `new_path` (which must not exist yet). Wikilinks that named the
    /// note by its title keep working; links that named its old file name may not.
    #[tool(annotations(
        title = "Move a note",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn move_note(
        &self,
        Parameters(a): Parameters<MoveArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let named = [Some(a.path.clone()), Some(a.new_path.clone())];
        self.run("move_note", &ctx, named, move |s, u| {
            to_json(s.move_note(u, &a.path, &a.new_path)?)
        })
        .await
    }

    /// Delete a note permanently. Wikilinks to it in other notes stay in their text and become
    /// unresolved until a note with that title or name exists again.
    #[tool(annotations(
        title = "Delete a note",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn delete_note(
        &self,
        Parameters(a): Parameters<PathArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run("delete_note", &ctx, note(&a.path), move |s, u| {
            s.delete(u, &a.path, None)?;
            Ok(json!({"deleted": a.path}))
        })
        .await
    }

    /// Full-text search over titles and bodies, best match first, with a plain-text snippet
    /// around the matches (and the same as HTML with the matched words in <mark>…</mark>). All words must match; "quoted phrases",
    /// prefix* and OR are supported. Filter by `tags` and `folder`.
    #[tool(annotations(
        title = "Search notes",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn search_notes(
        &self,
        Parameters(a): Parameters<SearchArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_weighted("search_notes", Weight::Heavy, &ctx, NO_NOTE, move |s, u| {
            let hits = s.search(
                u,
                &a.query,
                a.tags.as_deref().unwrap_or(&[]),
                a.folder.as_deref(),
                a.limit,
            )?;
            Ok(json!({"results": hits}))
        })
        .await
    }

    /// The notes that link to this note with a [[wikilink]] (by its title, file name or path).
    #[tool(annotations(
        title = "Backlinks",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn get_backlinks(
        &self,
        Parameters(a): Parameters<PathArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_weighted("get_backlinks", Weight::Heavy, &ctx, note(&a.path), move |s, u| {
            Ok(json!({"backlinks": s.backlinks(u, &a.path)?}))
        })
        .await
    }

    /// Every tag used in the vault with the number of notes carrying it, most used first.
    #[tool(annotations(
        title = "List tags",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn get_tags(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        self.run_weighted("get_tags", Weight::Heavy, &ctx, NO_NOTE, move |s, u| {
            Ok(json!({"tags": s.tags(u)?}))
        })
        .await
    }
}

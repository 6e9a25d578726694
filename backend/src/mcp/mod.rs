//! MCP at `/mcp`: rmcp's Streamable HTTP server, stateless (sessions are the gateway's
//! business), JSON responses, protocol revisions 2025-03-26 through 2026-07-28.

pub mod accept;
pub mod tools;

use std::sync::Arc;

use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use vaultgate_shared::Identity;

use crate::bulkhead::Bulkhead;
use crate::percent;
use crate::service::{NoteService, ServiceError};
pub use tools::VaultTools;

/// The URI scheme prefix of note resources.
pub const NOTE_URI_PREFIX: &str = "note:///";

/// The tower service mounted at `/mcp`.
pub type McpService = StreamableHttpService<VaultTools, NeverSessionManager>;

/// Builds the stateless MCP service. `allowed_hosts` is rmcp's DNS-rebinding guard.
pub fn service(
    notes: Arc<NoteService>,
    bulkhead: Arc<Bulkhead>,
    audit: Arc<crate::audit::Auditor>,
    allowed_hosts: Vec<String>,
    max_body: usize,
) -> McpService {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(allowed_hosts)
        .with_max_request_body_bytes(max_body);
    StreamableHttpService::new(
        move || Ok(VaultTools::new(notes.clone(), bulkhead.clone(), audit.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

fn user_of(ctx: &RequestContext<RoleServer>) -> Result<vaultgate_shared::UserId, ErrorData> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Identity>())
        .map(|i| i.user.clone())
        .ok_or_else(|| ErrorData::invalid_request("this request carries no verified identity", None))
}

/// A resources/read failure. Not-found errors carry the requested `uri` in `data` (SEP-2164) and
/// use the code of the caller's protocol revision: -32002 before 2026-07-28, -32602 from then on.
fn resource_error(e: ServiceError, uri: &str, ctx: &RequestContext<RoleServer>) -> ErrorData {
    let data = Some(serde_json::json!({ "uri": uri }));
    match e {
        ServiceError::NotFound(_) if !is_sep_2164(ctx) => ErrorData::resource_not_found(e.to_string(), data),
        ServiceError::NotFound(_) | ServiceError::InvalidPath(_) | ServiceError::BadRequest(_) => {
            ErrorData::invalid_params(e.to_string(), data)
        }
        _ => ErrorData::internal_error(e.to_string(), None),
    }
}

/// True when the request's `MCP-Protocol-Version` is 2026-07-28 or later: the first revision
/// whose resource-not-found error is -32602 (SEP-2164) instead of -32002.
fn is_sep_2164(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.headers.get(vaultgate_shared::mcp::PROTOCOL_VERSION))
        .and_then(|v| v.to_str().ok())
        .is_some_and(vaultgate_shared::mcp::is_modern)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for VaultTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(rmcp::model::Implementation::new(
                "vaultgate-backend",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A private Markdown notes vault. Use search_notes to find notes, read_note before changing \
                 one, and pass the hash you read as if_match to write_note or edit_note so you never \
                 overwrite a newer version. Notes are also resources at note:///<path>.",
            )
    }

    /// Routes to the tool, then gives argument errors (which rmcp reports as plain tool errors)
    /// the same structured shape as every other tool error.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.clone();
        // Arguments that do not parse never reach the tool: the audit line is written here.
        let started = std::time::Instant::now();
        let user = user_of(&context).ok();
        let ids = context
            .extensions
            .get::<http::request::Parts>()
            .map(|p| crate::audit::RequestIds::from_headers(&p.headers))
            .unwrap_or_default();
        let mut response = self
            .tool_router
            .call(ToolCallContext::new(self, request, context))
            .await?;
        if let CallToolResponse::Complete(r) = &mut response
            && r.is_error == Some(true)
            && r.structured_content.is_none()
        {
            let message = r
                .content
                .first()
                .and_then(|c| c.as_text())
                .map_or_else(|| "invalid arguments".to_owned(), |t| t.text.clone());
            *r = tools::failure(
                "invalid_arguments",
                &format!("{message}; check the tool's input schema"),
            );
            if let Some(tool) = self.tool_router.get(&name) {
                let label: &str = &tool.name;
                self.service
                    .metrics()
                    .tool_calls
                    .with_label_values(&[label, "invalid_arguments"])
                    .inc();
                let call = crate::audit::Call {
                    user: user.as_ref(),
                    outcome: "invalid_arguments",
                    duration: started.elapsed(),
                    ids: &ids,
                    path: None,
                    new_path: None,
                };
                self.audit.tool_call(&call, label);
            }
        }
        Ok(response)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let user = user_of(&ctx)?;
        let cursor = request.and_then(|r| r.cursor);
        let page = self
            .blocking(&user, move |s, u| s.list(u, None, Some(1000), cursor.as_deref()))
            .await
            .map_err(|e| resource_error(e, "", &ctx))?;
        let resources = page
            .notes
            .into_iter()
            .map(|n| {
                Resource::new(
                    format!("{NOTE_URI_PREFIX}{}", percent::encode_path(&n.path)),
                    n.path.clone(),
                )
                .with_title(n.title)
                .with_mime_type("text/markdown")
                .with_size(n.size)
            })
            .collect();
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = page.next_cursor;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let user = user_of(&ctx)?;
        let raw = request
            .uri
            .strip_prefix(NOTE_URI_PREFIX)
            .and_then(|p| percent::decode(p, false))
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    "note resources look like note:///folder/name.md",
                    Some(serde_json::json!({ "uri": request.uri })),
                )
            })?;
        let uri = request.uri.clone();
        let note = self
            .blocking(&user, move |s, u| s.read(u, &raw))
            .await
            .map_err(|e| resource_error(e, &uri, &ctx))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(note.content, uri).with_mime_type("text/markdown"),
        ])
        .into())
    }
}

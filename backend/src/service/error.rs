//! Why a note operation failed, and what each failure is on the wire: the `error` code of the
//! JSON body (REST) or tool error (MCP), and the REST status.

use crate::bulkhead::Refusal;
use crate::notes::NoteError;
use crate::vault::PathError;

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

/// Logs what failed and why; the caller learns only that it failed.
pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> ServiceError {
    tracing::error!(error = %e, "{what}");
    ServiceError::Internal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_status_table() {
        let cases = [
            (ServiceError::InvalidPath(PathError::Empty), "invalid_path", 400),
            (ServiceError::NotFound("n.md".into()), "not_found", 404),
            (ServiceError::AlreadyExists("n.md".into()), "conflict", 409),
            (
                ServiceError::Conflict {
                    path: "n.md".into(),
                    current: "h".into(),
                },
                "conflict",
                412,
            ),
            (ServiceError::ConflictMissing { path: "n.md".into() }, "conflict", 412),
            (ServiceError::TooLarge { size: 2, max: 1 }, "too_large", 413),
            (ServiceError::Quota("q".into()), "quota_exceeded", 403),
            (ServiceError::BadRequest("b".into()), "bad_request", 400),
            (ServiceError::Note(NoteError::TooManyTags), "bad_request", 400),
            (
                ServiceError::Note(NoteError::FrontMatterTooLarge { size: 1 }),
                "too_large",
                413,
            ),
            (ServiceError::Refused(Refusal::OverBudget), "timeout", 503),
            (ServiceError::Refused(Refusal::UserBusy), "busy", 429),
            (ServiceError::Importing, "busy", 429),
            (ServiceError::Refused(Refusal::PoolFull), "overloaded", 503),
            (ServiceError::Refused(Refusal::Panicked), "internal", 500),
            (ServiceError::Internal, "internal", 500),
        ];
        for (e, code, status) in cases {
            assert_eq!((e.code(), e.status()), (code, status), "{e:?}");
        }
    }
}

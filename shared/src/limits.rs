//! Limits both programs enforce, defined once so that they cannot drift apart.

/// Largest vault zip `POST /api/import` accepts, in bytes (50 MiB): the gateway refuses a larger
/// declared upload before forwarding it, and it is the backend's default `IMPORT_MAX_BYTES`.
pub const IMPORT_MAX_BYTES: u64 = 50 * 1024 * 1024;

//! Legacy MCP sessions (protocol revisions up to 2025-11-25): the gateway mints and
//! owns them; the backend is stateless. Modern (2026-07-28) requests carry none.
//! Where sessions live (the `SessionStore` trait and its stores) is `state/`'s concern.

pub mod era;

pub use self::era::Era;

//! The in-memory stores (moka): the whole state with the `memory` setting, and the read path
//! the durable stores (SQLite, Redis) keep in front of themselves.

mod revocations;
mod sessions;

pub use self::revocations::MemoryRevocations;
pub use self::sessions::MemorySessions;

//! The vault: validated note paths and the files behind them.

pub mod paths;
pub mod store;

pub use paths::{Folder, NotePath, PathError};
pub use store::{FileStamp, Staged, Vault, VaultError};

//! The gateway's JSON-RPC body sniffing (`gateway/src/sessions/era.rs`): `RpcPeek::parse` on a
//! whole body, `scan_method` on a first chunk, and the bounded metric label. An `initialize`
//! must only be recognised when the body really is one JSON object with that method.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultgate_gateway::sessions::era::{RpcPeek, method_label, scan_method};

fuzz_target!(|data: &[u8]| {
    let peek = RpcPeek::parse(data);
    if let Some(id) = &peek.id {
        assert!(id.is_string() || id.is_number(), "{id:?}");
    }
    if peek.is_initialize() {
        let v: serde_json::Value = serde_json::from_slice(data).expect("initialize from a non-JSON body");
        assert_eq!(v.get("method").and_then(|m| m.as_str()), Some("initialize"));
    }
    if let Some(m) = scan_method(data) {
        assert!(!m.contains('"') && !m.contains('\\'), "{m:?}");
        let label = method_label(Some(m));
        assert!(label.len() <= 40 && label.is_ascii(), "{label:?}");
    }
    let _ = method_label(peek.method.as_deref());
});

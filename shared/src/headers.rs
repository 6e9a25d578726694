//! Header names of the gateway → backend contract (lower case, as HTTP/2 and
//! Pingora store them). A second copy of any of these anywhere is a bug.

/// The signed identity assertion (HS256 JWT) the gateway adds to every forwarded request.
pub const IDENTITY: &str = "x-vault-identity";
/// The user id, repeated in clear for logs and simple backends; must equal the assertion's `sub`.
pub const USER: &str = "x-vault-user";
/// The gateway's MCP session id, when the request belongs to one.
pub const SESSION: &str = "x-vault-session";
/// A UUID correlating the gateway's and the backend's log lines for one request.
pub const REQUEST_ID: &str = "x-request-id";
/// Every client-sent header starting with this prefix is removed by the gateway.
pub const RESERVED_PREFIX: &str = "x-vault-";

/// True when `name` belongs to the contract's reserved namespace (any case).
pub fn is_reserved(name: &str) -> bool {
    name.len() >= RESERVED_PREFIX.len()
        && name.as_bytes()[..RESERVED_PREFIX.len()].eq_ignore_ascii_case(RESERVED_PREFIX.as_bytes())
}

/// True when `value` is a well-formed request id worth keeping (a UUID in canonical form).
pub fn is_valid_request_id(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::parse_str(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_prefix_matches_any_case() {
        for name in [
            "x-vault-user",
            "X-Vault-User",
            "X-VAULT-IDENTITY",
            "x-vault-",
            "x-VaUlT-anything",
        ] {
            assert!(is_reserved(name), "{name}");
        }
        for name in ["x-vaul", "x-vaults", "authorization", "vault-user", "x_vault_user", ""] {
            assert!(!is_reserved(name), "{name}");
        }
    }

    #[test]
    fn request_ids_must_be_uuids() {
        assert!(is_valid_request_id("3f2504e0-4f89-41d3-9a0c-0305e82c3301"));
        for bad in [
            "",
            "abc",
            "3f2504e04f8941d39a0c0305e82c3301",
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301\n",
            "<script>",
        ] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }
}

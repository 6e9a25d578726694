//! The user id rule shared by both programs: `[A-Za-z0-9_-]{1,64}`.

use std::fmt;

/// Longest user id the contract allows.
pub const MAX_USER_ID_LEN: usize = 64;

/// A user id that has passed the contract's charset and length rule; the only way
/// to build one is [`UserId::parse`], so an unchecked id cannot reach a path or a query.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

/// Why a string is not a user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    #[error("user id is empty")]
    Empty,
    #[error("user id is longer than {MAX_USER_ID_LEN} characters")]
    TooLong,
    #[error("user id may only contain A-Z, a-z, 0-9, '_' and '-'")]
    BadCharacter,
}

impl UserId {
    /// Checks `s` against the contract's rule.
    pub fn parse(s: &str) -> Result<Self, UserIdError> {
        if s.is_empty() {
            return Err(UserIdError::Empty);
        }
        if s.len() > MAX_USER_ID_LEN {
            return Err(UserIdError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(UserIdError::BadCharacter);
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as text; safe to use as one path component.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for UserId {
    type Err = UserIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_table() {
        let sixty_four = "a".repeat(64);
        let sixty_five = "a".repeat(65);
        let good = [
            "a",
            "alice",
            "Alice_2",
            "u-1",
            "0",
            sixty_four.as_str(),
            "6543a1b2c3d4e5f6a7b8c9d0",
        ];
        for s in good {
            assert_eq!(UserId::parse(s).map(|u| u.to_string()), Ok(s.to_owned()));
        }
        let bad: [(&str, UserIdError); 16] = [
            ("", UserIdError::Empty),
            (sixty_five.as_str(), UserIdError::TooLong),
            ("../alice", UserIdError::BadCharacter),
            ("..", UserIdError::BadCharacter),
            (".", UserIdError::BadCharacter),
            ("a/b", UserIdError::BadCharacter),
            ("a\\b", UserIdError::BadCharacter),
            ("a\0b", UserIdError::BadCharacter),
            ("alice ", UserIdError::BadCharacter),
            ("al ice", UserIdError::BadCharacter),
            ("alice\n", UserIdError::BadCharacter),
            ("ålice", UserIdError::BadCharacter),
            ("a.b", UserIdError::BadCharacter),
            ("a%2fb", UserIdError::BadCharacter),
            ("~root", UserIdError::BadCharacter),
            ("C:", UserIdError::BadCharacter),
        ];
        for (s, want) in bad {
            assert_eq!(UserId::parse(s), Err(want), "{s:?}");
        }
    }

    #[test]
    fn deserialize_checks_the_rule() {
        assert!(serde_json::from_str::<UserId>("\"bob\"").is_ok());
        assert!(serde_json::from_str::<UserId>("\"../bob\"").is_err());
    }
}

//! Who may use this gateway with a Hugging Face identity: `ALLOWED_USERS` and
//! `ALLOWED_ORGS`. One check, used by the sign-in callback and by `hf_` bearer tokens,
//! so the two ways in cannot disagree.

/// The operator's allow-list; empty lists mean everyone with a Hugging Face account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    users: Vec<String>,
    orgs: Vec<String>,
}

/// The facts about an account that the allow-list looks at.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// The stable account id.
    pub id: &'a str,
    /// The user name (`preferred_username` / whoami `name`), if known.
    pub username: Option<&'a str>,
    /// Names of the organisations the account belongs to, if the provider said.
    pub orgs: &'a [String],
}

impl AllowList {
    /// Builds the list from the comma-separated settings (blank entries ignored).
    pub fn new(users: &[String], orgs: &[String]) -> Self {
        let clean = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        };
        Self {
            users: clean(users),
            orgs: clean(orgs),
        }
    }

    /// True when no restriction is configured.
    pub fn is_open(&self) -> bool {
        self.users.is_empty() && self.orgs.is_empty()
    }

    /// Whether `account` may sign in: listed by id or user name, or a member of a listed organisation.
    /// Hugging Face names are case-insensitive; ids are compared the same way (they are hex).
    pub fn permits(&self, account: Account<'_>) -> bool {
        if self.is_open() {
            return true;
        }
        let id = account.id.to_ascii_lowercase();
        let user_ok = self
            .users
            .iter()
            .any(|u| *u == id || account.username.is_some_and(|name| name.eq_ignore_ascii_case(u)));
        let org_ok = account
            .orgs
            .iter()
            .any(|o| self.orgs.iter().any(|allowed| o.eq_ignore_ascii_case(allowed)));
        user_ok || org_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let orgs_team = s(&["Team"]);
        let orgs_other = s(&["other", "team-b"]);
        let none: Vec<String> = vec![];
        type Case<'a> = (AllowList, &'a str, Option<&'a str>, &'a [String], bool);
        let cases: [Case; 10] = [
            (AllowList::default(), "64aa", None, &none, true),
            (AllowList::new(&s(&["alice"]), &[]), "64aa", Some("alice"), &none, true),
            (AllowList::new(&s(&["alice"]), &[]), "64aa", Some("ALICE"), &none, true),
            (
                AllowList::new(&s(&["alice"]), &[]),
                "64aa",
                Some("alice2"),
                &none,
                false,
            ),
            (AllowList::new(&s(&["alice"]), &[]), "64aa", None, &none, false),
            (AllowList::new(&s(&["64AA"]), &[]), "64aa", Some("bob"), &none, true),
            (
                AllowList::new(&[], &s(&["team"])),
                "64aa",
                Some("bob"),
                &orgs_team,
                true,
            ),
            (
                AllowList::new(&[], &s(&["team"])),
                "64aa",
                Some("bob"),
                &orgs_other,
                false,
            ),
            (AllowList::new(&[], &s(&["team"])), "64aa", Some("team"), &none, false),
            (AllowList::new(&s(&[" ", ""]), &s(&[""])), "x", None, &none, true),
        ];
        for (list, id, username, orgs, want) in cases {
            let got = list.permits(Account { id, username, orgs });
            assert_eq!(got, want, "{list:?} {id} {username:?} {orgs:?}");
        }
    }
}

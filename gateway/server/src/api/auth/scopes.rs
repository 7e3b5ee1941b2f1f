//! The API's OAuth scopes (MT–MK §2.1). Send accepts both DIGG spellings,
//! `urn:sdk.api:sendMessages` (the recommendation) and `urn:sdk.api:sendMessage` (the OpenAPI
//! operation), §4.2.6.

/// A scope the gateway checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Send,
    GetMessage,
    GetByFilter,
    Delete,
}

impl Scope {
    /// Every accepted spelling and what it grants.
    const NAMES: [(&'static str, Scope); 5] = [
        ("urn:sdk.api:sendMessages", Scope::Send),
        ("urn:sdk.api:sendMessage", Scope::Send),
        ("urn:sdk.api:getMessage", Scope::GetMessage),
        ("urn:sdk.api:getMessageByFilter", Scope::GetByFilter),
        ("urn:sdk.api:deleteMessage", Scope::Delete),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, sc)| *sc)
    }

    pub fn names() -> Vec<&'static str> {
        Self::NAMES.iter().map(|(n, _)| *n).collect()
    }

    /// The canonical name (the recommendation's).
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "urn:sdk.api:sendMessages",
            Self::GetMessage => "urn:sdk.api:getMessage",
            Self::GetByFilter => "urn:sdk.api:getMessageByFilter",
            Self::Delete => "urn:sdk.api:deleteMessage",
        }
    }
}

/// The scopes of a token (`scope` claim, space separated, or `scp` array); unknown values
/// (e.g. DIGG's `urn:sdk.api:1:0`, `offline_access`) are ignored.
pub fn from_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Vec<Scope> {
    let mut out = Vec::new();
    let mut add = |s: &str| {
        if let Some(sc) = Scope::parse(s)
            && !out.contains(&sc)
        {
            out.push(sc);
        }
    };
    match claims.get("scope") {
        Some(serde_json::Value::String(s)) => s.split_ascii_whitespace().for_each(&mut add),
        Some(serde_json::Value::Array(v)) => v.iter().filter_map(|x| x.as_str()).for_each(&mut add),
        _ => {}
    }
    if let Some(serde_json::Value::Array(v)) = claims.get("scp") {
        v.iter().filter_map(|x| x.as_str()).for_each(&mut add);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_send_spellings_grant_send_and_unknown_scopes_are_ignored() {
        let c =
            serde_json::json!({"scope": "urn:sdk.api:sendMessage urn:sdk.api:1:0 offline_access"});
        assert_eq!(from_claims(c.as_object().unwrap()), vec![Scope::Send]);
        let c = serde_json::json!({"scope": "urn:sdk.api:sendMessages"});
        assert_eq!(from_claims(c.as_object().unwrap()), vec![Scope::Send]);
    }
}

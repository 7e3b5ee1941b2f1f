//! Query strings parsed by hand: `filter[...]`, `page[...]`, `fields[...]`, `ext[...]`
//! (DIGG's OpenAPI declares `filter` with a malformed schema, so no generic decoder applies).

use std::collections::BTreeMap;

/// The decoded parameters (duplicates refused).
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) params: BTreeMap<String, String>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut params = BTreeMap::new();
        let Some(raw) = raw else {
            return Ok(Self { params });
        };
        if raw.len() > 8192 {
            return Err("query string longer than 8192 bytes".into());
        }
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| "query parameters must be UTF-8".to_owned())
            };
            let (k, v) = (dec(k)?, dec(v)?);
            if params.insert(k.clone(), v).is_some() {
                return Err(format!("query parameter {k:?} given twice"));
            }
        }
        Ok(Self { params })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// `(name, value)` of every `family[name]=value`.
    pub(crate) fn family<'a>(
        &'a self,
        family: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.params.iter().filter_map(move |(k, v)| {
            let inner = k
                .strip_prefix(family)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            Some((inner, v.as_str()))
        })
    }

    /// Keys that look like a family but are malformed (`filter[x`, `filter`).
    pub(crate) fn malformed(&self, family: &str) -> Option<&str> {
        self.params
            .keys()
            .find(|k| {
                k.starts_with(family)
                    && !(k.len() > family.len() + 1
                        && k[family.len()..].starts_with('[')
                        && k.ends_with(']'))
            })
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bracket_families_and_refuses_duplicates() {
        let q = Query::parse(Some(
            "filter%5BmessageStatus%5D=NEW&filter[recipientAttention.subOrganization.extension]=sdk%3Ainkorg",
        ))
        .unwrap();
        let f: Vec<_> = q.family("filter").collect();
        assert_eq!(
            f,
            [
                ("messageStatus", "NEW"),
                ("recipientAttention.subOrganization.extension", "sdk:inkorg")
            ]
        );
        assert!(Query::parse(Some("a=1&a=2")).is_err());
        assert_eq!(
            Query::parse(Some("filter=x")).unwrap().malformed("filter"),
            Some("filter")
        );
    }
}

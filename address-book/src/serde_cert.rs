//! Serde for certificates in cache entries.
//!
//! Outside a scope a certificate is written inline as base64 DER. Inside [`collect`] it is
//! written as a reference `sha256:<hex>` and handed to the caller, which stores each
//! certificate once (the entries of one participant share them); inside [`resolve`] such a
//! reference is turned back into a certificate by the caller's resolver (a store read behind
//! a parsed-certificate cache), so reading an entry does not decode and parse its
//! certificates again.

use std::cell::RefCell;
use std::rc::Rc;

use base64::Engine as _;
use sdkgw_certs::Certificate;
use serde::{Deserialize, Deserializer, Serializer};

const REF: &str = "sha256:";

/// Finds a certificate by SHA-256 fingerprint (upper-case hex).
pub(crate) type Resolver = Rc<dyn Fn(&str) -> Option<Certificate>>;

thread_local! {
    static COLLECTED: RefCell<Option<Vec<(String, Certificate)>>> = const { RefCell::new(None) };
    static RESOLVER: RefCell<Option<Resolver>> = const { RefCell::new(None) };
}

/// Clears a thread-local slot when dropped (also when the closure panics).
struct Reset(fn());

impl Drop for Reset {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Runs `f` (a serialization) with certificates written as references; returns its result
/// and the distinct `(fingerprint, certificate)` pairs referenced.
pub(crate) fn collect<T>(f: impl FnOnce() -> T) -> (T, Vec<(String, Certificate)>) {
    COLLECTED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let _reset = Reset(|| COLLECTED.with(|c| *c.borrow_mut() = None));
    let out = f();
    let certs = COLLECTED
        .with(|c| c.borrow_mut().take())
        .unwrap_or_default();
    (out, certs)
}

/// Runs `f` (a deserialization) resolving references with `resolver`.
pub(crate) fn resolve<T>(resolver: Resolver, f: impl FnOnce() -> T) -> T {
    RESOLVER.with(|r| *r.borrow_mut() = Some(resolver));
    let _reset = Reset(|| RESOLVER.with(|r| *r.borrow_mut() = None));
    f()
}

pub(crate) fn serialize<S: Serializer>(c: &Certificate, s: S) -> Result<S::Ok, S::Error> {
    let reference = COLLECTED.with(|slot| {
        slot.borrow_mut().as_mut().map(|list| {
            let fp = c.fingerprint_hex();
            if !list.iter().any(|(f, _)| f == &fp) {
                list.push((fp.clone(), c.clone()));
            }
            fp
        })
    });
    match reference {
        Some(fp) => s.serialize_str(&format!("{REF}{fp}")),
        None => s.serialize_str(&c.to_base64()),
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Certificate, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    if let Some(fp) = text.strip_prefix(REF) {
        let resolver = RESOLVER.with(|r| r.borrow().clone());
        return resolver.and_then(|r| r(fp)).ok_or_else(|| {
            serde::de::Error::custom(format!("certificate sha256:{fp} is not available"))
        });
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(serde::de::Error::custom)?;
    Certificate::from_der(&der).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "super")]
        a: Certificate,
        #[serde(with = "super")]
        b: Certificate,
    }

    fn cert() -> Certificate {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = rcgen::CertificateParams::new(vec!["x.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec();
        Certificate::from_der(&der).unwrap()
    }

    #[test]
    fn certificates_are_inline_by_default_and_references_in_scope() {
        let c = cert();
        let h = Holder {
            a: c.clone(),
            b: c.clone(),
        };
        let inline = serde_json::to_string(&h).unwrap();
        assert!(inline.contains(&c.to_base64()));
        assert_eq!(serde_json::from_str::<Holder>(&inline).unwrap(), h);

        let (json, certs) = collect(|| serde_json::to_string(&h).unwrap());
        assert_eq!(certs.len(), 1, "each certificate once");
        assert!(json.contains("sha256:") && !json.contains(&c.to_base64()));
        let table: HashMap<String, Certificate> = certs.into_iter().collect();
        let back: Holder = resolve(Rc::new(move |fp| table.get(fp).cloned()), || {
            serde_json::from_str(&json)
        })
        .unwrap();
        assert_eq!(back, h);
        assert!(
            serde_json::from_str::<Holder>(&json).is_err(),
            "no resolver, no certificate"
        );
    }
}

//! Compact JWS (RFC 7515/7519) signing and verification with aws-lc-rs: RS256 and ES256 only.
//!
//! Refused: `alg` `none`, every HMAC algorithm (no HS/RS confusion is possible: there is no
//! symmetric key anywhere), an `alg` that does not match the key's type, unknown `kid`s,
//! tokens above 8 KiB, and anything that is not three base64url parts.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// Longest token accepted.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused (the text is for logs; callers answer a generic 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("token too long")]
    TooLong,
    #[error("algorithm {0:?} is not allowed (RS256, ES256)")]
    Algorithm(String),
    #[error("no key with kid {0:?}")]
    UnknownKey(String),
    #[error("signature invalid")]
    Signature,
    #[error("claim {0}: {1}")]
    Claim(&'static str, String),
}

/// The signature algorithms we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    pub fn parse(s: &str) -> Result<Self, JwtError> {
        match s {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            other => Err(JwtError::Algorithm(other.chars().take(16).collect())),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// A public key that verifies one algorithm.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and exponent (big-endian, no leading zeros needed).
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// P-256 uncompressed point (`04 || x || y`).
    P256 { point: Vec<u8> },
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa { n, .. } => write!(f, "Rsa({} bits)", n.len() * 8),
            Self::P256 { .. } => f.write_str("P256"),
        }
    }
}

impl PublicKey {
    pub fn alg(&self) -> Alg {
        match self {
            Self::Rsa { .. } => Alg::Rs256,
            Self::P256 { .. } => Alg::Es256,
        }
    }

    /// From a certificate's key: RSA (PKCS#1 inside the SPKI) or EC P-256.
    pub fn from_certificate(cert: &sdkgw_certs::Certificate) -> Result<Self, String> {
        match cert.key_algorithm() {
            sdkgw_certs::KeyAlgorithm::Rsa { .. } => rsa_from_pkcs1(cert.public_key_der()),
            sdkgw_certs::KeyAlgorithm::Ec { .. } => {
                let point = cert.public_key_der();
                if point.len() == 65 && point[0] == 4 {
                    Ok(Self::P256 {
                        point: point.to_vec(),
                    })
                } else {
                    Err("only P-256 EC keys are supported".into())
                }
            }
            other => Err(format!("unsupported key algorithm {other}")),
        }
    }

    /// From a JWK object (`kty` RSA with `n`/`e`, or EC P-256 with `x`/`y`).
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<Self, String> {
        let field = |name: &str| -> Result<Vec<u8>, String> {
            jwk.get(name)
                .and_then(Value::as_str)
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
                .ok_or_else(|| format!("JWK member {name} missing or not base64url"))
        };
        match jwk.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let n = field("n")?;
                if n.len() < 256 {
                    return Err("RSA keys below 2048 bits are refused".into());
                }
                Ok(Self::Rsa { n, e: field("e")? })
            }
            Some("EC") => {
                if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return Err("only EC keys on P-256 are supported".into());
                }
                let (x, y) = (field("x")?, field("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes".into());
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(Self::P256 { point })
            }
            _ => Err("JWK kty must be RSA or EC".into()),
        }
    }

    /// The key as a JWK (public members only).
    pub fn to_jwk(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            Self::Rsa { n, e } => {
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), URL_SAFE_NO_PAD.encode(n).into());
                m.insert("e".into(), URL_SAFE_NO_PAD.encode(e).into());
            }
            Self::P256 { point } => {
                m.insert("kty".into(), "EC".into());
                m.insert("crv".into(), "P-256".into());
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at(32.min(point.len().saturating_sub(1)));
                m.insert("x".into(), URL_SAFE_NO_PAD.encode(x).into());
                m.insert("y".into(), URL_SAFE_NO_PAD.encode(y).into());
            }
        }
        m.insert("alg".into(), self.alg().as_str().into());
        m
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), JwtError> {
        let ok = match self {
            Self::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            Self::P256 { point } => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .is_ok(),
        };
        ok.then_some(()).ok_or(JwtError::Signature)
    }
}

/// Reads the modulus and exponent of a PKCS#1 RSAPublicKey (SEQUENCE { INTEGER n, INTEGER e }).
fn rsa_from_pkcs1(der: &[u8]) -> Result<PublicKey, String> {
    let bad = || "malformed RSA public key".to_owned();
    let (body, _) = der_item(der, 0x30).ok_or_else(bad)?;
    let (n, rest) = der_item(body, 0x02).ok_or_else(bad)?;
    let (e, _) = der_item(rest, 0x02).ok_or_else(bad)?;
    let strip = |v: &[u8]| {
        v.iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    Ok(PublicKey::Rsa {
        n: strip(n),
        e: strip(e),
    })
}

/// One DER TLV with `tag`: (contents, rest).
fn der_item(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A key with its id.
#[derive(Debug, Clone)]
pub struct NamedKey {
    pub kid: Option<String>,
    pub key: PublicKey,
}

/// A decoded, not yet verified token.
#[derive(Debug)]
pub struct Unverified {
    pub alg: Alg,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signing_input_len: usize,
    token: String,
    signature: Vec<u8>,
}

/// Splits and decodes a compact JWS; checks the header's algorithm.
pub fn decode(token: &str) -> Result<Unverified, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed);
    let header: Map<String, Value> =
        serde_json::from_slice(&b64(h)?).map_err(|_| JwtError::Malformed)?;
    let alg = Alg::parse(header.get("alg").and_then(Value::as_str).unwrap_or(""))?;
    if header.contains_key("crit") {
        return Err(JwtError::Malformed);
    }
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let claims: Map<String, Value> =
        serde_json::from_slice(&b64(p)?).map_err(|_| JwtError::Malformed)?;
    Ok(Unverified {
        alg,
        kid,
        claims,
        signing_input_len: h.len() + 1 + p.len(),
        token: token.to_owned(),
        signature: b64(s)?,
    })
}

impl Unverified {
    /// Verifies the signature with the key named by `kid` (or, without a `kid`, the only
    /// key of the token's algorithm); returns the claims.
    pub fn verify(self, keys: &[NamedKey]) -> Result<Map<String, Value>, JwtError> {
        let key = match &self.kid {
            Some(kid) => keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or_else(|| JwtError::UnknownKey(kid.chars().take(64).collect()))?,
            None => {
                let mut of_alg = keys.iter().filter(|k| k.key.alg() == self.alg);
                match (of_alg.next(), of_alg.next()) {
                    (Some(k), None) => k,
                    _ => return Err(JwtError::UnknownKey(String::new())),
                }
            }
        };
        if key.key.alg() != self.alg {
            return Err(JwtError::Algorithm(self.alg.as_str().to_owned()));
        }
        let input = self
            .token
            .as_bytes()
            .get(..self.signing_input_len)
            .ok_or(JwtError::Malformed)?;
        key.key.verify(input, &self.signature)?;
        Ok(self.claims)
    }
}

/// The gateway's own token signing key: ES256, generated at start and never written to disk
/// (tokens live ≤ 30 minutes; after a restart clients fetch a new one).
pub struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    pub fn generate() -> Result<Self, String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "cannot generate the token signing key".to_owned())?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// From a PKCS#8 P-256 key (tests use it to sign client assertions).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| "not a P-256 PKCS#8 key".to_owned())?;
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pair.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]);
        Ok(Self {
            kid,
            pair,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The verifying key.
    pub fn public(&self) -> NamedKey {
        NamedKey {
            kid: Some(self.kid.clone()),
            key: PublicKey::P256 {
                point: self.pair.public_key().as_ref().to_vec(),
            },
        }
    }

    /// Signs `claims` as an ES256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, String> {
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let enc = |v: &Value| {
            serde_json::to_vec(v)
                .map(|b| URL_SAFE_NO_PAD.encode(b))
                .map_err(|e| e.to_string())
        };
        let mut token = enc(&header)?;
        token.push('.');
        token.push_str(&enc(&Value::Object(claims.clone()))?);
        let sig = self
            .pair
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| "signing failed".to_owned())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
        Ok(token)
    }
}

/// What the registered claims must satisfy.
#[derive(Debug, Clone)]
pub struct ClaimRules<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Longest accepted `exp - iat` (and `exp - now`) in seconds.
    pub max_lifetime: i64,
    /// Clock skew allowed in seconds.
    pub leeway: i64,
    /// Now, in seconds since the epoch.
    pub now: i64,
}

/// Checks `iss`, `aud` (string or array), `exp` (required), `nbf`, `iat` and the lifetime.
pub fn check_claims(claims: &Map<String, Value>, rules: &ClaimRules<'_>) -> Result<(), JwtError> {
    let num = |name: &'static str| claims.get(name).and_then(Value::as_i64);
    if claims.get("iss").and_then(Value::as_str) != Some(rules.issuer) {
        return Err(JwtError::Claim("iss", "wrong issuer".into()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == rules.audience,
        Some(Value::Array(v)) => v.iter().any(|a| a.as_str() == Some(rules.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::Claim("aud", "wrong audience".into()));
    }
    let exp = num("exp").ok_or_else(|| JwtError::Claim("exp", "missing".into()))?;
    if exp + rules.leeway <= rules.now {
        return Err(JwtError::Claim("exp", "expired".into()));
    }
    if num("nbf").is_some_and(|nbf| nbf > rules.now + rules.leeway) {
        return Err(JwtError::Claim("nbf", "not yet valid".into()));
    }
    let start = match num("iat") {
        Some(iat) if iat > rules.now + rules.leeway => {
            return Err(JwtError::Claim("iat", "in the future".into()));
        }
        Some(iat) => iat,
        None => rules.now,
    };
    if exp - start > rules.max_lifetime || exp - rules.now > rules.max_lifetime + rules.leeway {
        return Err(JwtError::Claim(
            "exp",
            format!("lifetime above {} s", rules.max_lifetime),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iat: i64, exp: i64) -> Map<String, Value> {
        serde_json::json!({"iss": "gw", "aud": "api", "iat": iat, "exp": exp, "sub": "c1"})
            .as_object()
            .cloned()
            .unwrap()
    }

    fn rules(now: i64) -> ClaimRules<'static> {
        ClaimRules {
            issuer: "gw",
            audience: "api",
            max_lifetime: 1800,
            leeway: 30,
            now,
        }
    }

    #[test]
    fn signed_token_verifies_and_a_flipped_bit_does_not() {
        let key = SigningKey::generate().unwrap();
        let token = key.sign(&claims(1000, 1600)).unwrap();
        let got = decode(&token).unwrap().verify(&[key.public()]).unwrap();
        check_claims(&got, &rules(1100)).unwrap();
        let mut bad = token.into_bytes();
        let i = bad.len() - 5;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(
            decode(&bad)
                .and_then(|t| t.verify(&[key.public()]))
                .is_err()
        );
    }

    #[test]
    fn refuses_none_and_hmac_algorithms() {
        for alg in ["none", "HS256", "RS512", ""] {
            let h = URL_SAFE_NO_PAD.encode(format!("{{\"alg\":\"{alg}\"}}"));
            let p = URL_SAFE_NO_PAD.encode("{}");
            let err = decode(&format!("{h}.{p}.")).unwrap_err();
            assert!(matches!(err, JwtError::Algorithm(_)), "{alg}: {err:?}");
        }
    }

    #[test]
    fn claims_expired_wrong_issuer_wrong_audience_and_too_long_are_refused() {
        assert!(check_claims(&claims(1000, 1600), &rules(1700)).is_err());
        assert!(check_claims(&claims(1000, 1000 + 1801), &rules(1100)).is_err());
        let mut c = claims(1000, 1600);
        c.insert("iss".into(), "other".into());
        assert!(check_claims(&c, &rules(1100)).is_err());
        let mut c = claims(1000, 1600);
        c.insert("aud".into(), serde_json::json!(["x", "api"]));
        assert!(check_claims(&c, &rules(1100)).is_ok());
        c.insert("aud".into(), "x".into());
        assert!(check_claims(&c, &rules(1100)).is_err());
    }

    #[test]
    fn alg_must_match_the_key_type() {
        let key = SigningKey::generate().unwrap();
        let rsa = NamedKey {
            kid: Some(key.kid().to_owned()),
            key: PublicKey::Rsa {
                n: vec![1; 256],
                e: vec![1, 0, 1],
            },
        };
        let token = key.sign(&claims(1, 2)).unwrap();
        assert!(matches!(
            decode(&token).unwrap().verify(&[rsa]),
            Err(JwtError::Algorithm(_))
        ));
    }
}

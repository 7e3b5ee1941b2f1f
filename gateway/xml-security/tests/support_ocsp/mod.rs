//! An OCSP responder's side, built in the test: reads our request's CertID and nonce and
//! writes `OCSPResponse`s (RFC 6960 §4.2) signed with an rcgen key — good, revoked, unknown,
//! stale, from a delegated responder, with a wrong key. Also used by `sdkgw-http`'s fetch
//! tests (included by path).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use rcgen::{KeyPair, SigningKey};
use sdkgw_certs::Certificate;
use time::OffsetDateTime;

/// Certificate status to answer.
#[derive(Debug, Clone, Copy)]
pub enum Status {
    Good,
    Revoked(OffsetDateTime),
    Unknown,
}

/// What the response says and how it is signed.
pub struct Answer<'a> {
    pub status: Status,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    /// The signing certificate (named in responderID) and its key.
    pub signer: &'a Certificate,
    pub key: &'a KeyPair,
    /// Certificates to include (a delegated responder's own).
    pub certs: Vec<Certificate>,
    /// responderID byKey instead of byName.
    pub by_key: bool,
    /// Echo the request's nonce.
    pub echo_nonce: bool,
    /// Replace the echoed nonce by this extnValue.
    pub nonce_override: Option<Vec<u8>>,
    /// Replace the request's serial in the CertID.
    pub serial_override: Option<Vec<u8>>,
}

impl<'a> Answer<'a> {
    pub fn good(signer: &'a Certificate, key: &'a KeyPair) -> Self {
        let now = OffsetDateTime::now_utc();
        Answer {
            status: Status::Good,
            this_update: now - time::Duration::minutes(5),
            next_update: Some(now + time::Duration::hours(4)),
            signer,
            key,
            certs: Vec::new(),
            by_key: false,
            echo_nonce: true,
            nonce_override: None,
            serial_override: None,
        }
    }
}

pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(value);
    out
}

/// Splits one TLV off `input`: (tag, contents, whole, rest).
pub fn split(input: &[u8]) -> (u8, &[u8], &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (input[2] as usize, 3),
        0x82 => (((input[2] as usize) << 8) | input[3] as usize, 4),
        _ => panic!("length form not used here"),
    };
    (
        tag,
        &input[header..header + len],
        &input[..header + len],
        &input[header + len..],
    )
}

/// The request's CertID (whole encoding) and nonce extnValue, if any.
pub fn parse_request(der: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let (_, request, _, _) = split(der);
    let (_, tbs, _, _) = split(request);
    let (_, list, _, after_list) = split(tbs);
    let (_, one, _, _) = split(list);
    let (_, _, cert_id, _) = split(one);
    let nonce = (!after_list.is_empty()).then(|| {
        let (tag, exts, _, _) = split(after_list);
        assert_eq!(tag, 0xa2);
        let (_, seq, _, _) = split(exts);
        let (_, ext, _, _) = split(seq);
        let (_, _, _, rest) = split(ext); // skip the OID
        let (tag, value, _, _) = split(rest);
        assert_eq!(tag, 0x04);
        value.to_vec()
    });
    (cert_id.to_vec(), nonce)
}

fn generalized(t: OffsetDateTime) -> Vec<u8> {
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    tlv(0x18, s.as_bytes())
}

fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

fn with_serial(cert_id: &[u8], serial: &[u8]) -> Vec<u8> {
    let (_, body, _, _) = split(cert_id);
    let (_, _, alg, rest) = split(body);
    let (_, _, name, rest) = split(rest);
    let (_, _, key, _) = split(rest);
    let mut v = [alg, name, key].concat();
    v.extend(tlv(0x02, serial));
    tlv(0x30, &v)
}

/// The signature algorithm identifier matching an rcgen key.
fn algorithm(key: &KeyPair) -> Vec<u8> {
    if key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
        tlv(
            0x30,
            &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
        )
    } else {
        let mut v = tlv(
            0x06,
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
        );
        v.extend([0x05, 0x00]);
        tlv(0x30, &v)
    }
}

/// A successful, signed OCSPResponse answering `request_der`.
pub fn response(request_der: &[u8], a: &Answer<'_>) -> Vec<u8> {
    let (cert_id, nonce) = parse_request(request_der);
    let cert_id = match &a.serial_override {
        Some(s) => with_serial(&cert_id, s),
        None => cert_id,
    };
    let responder = if a.by_key {
        tlv(0xa2, &tlv(0x04, &sha1(a.signer.public_key_der())))
    } else {
        tlv(0xa1, a.signer.subject_der())
    };
    let status = match a.status {
        Status::Good => vec![0x80, 0x00],
        Status::Revoked(at) => {
            let mut v = generalized(at);
            v.extend(tlv(0xa0, &tlv(0x0a, &[1]))); // keyCompromise
            tlv(0xa1, &v)
        }
        Status::Unknown => vec![0x82, 0x00],
    };
    let mut single = cert_id;
    single.extend(status);
    single.extend(generalized(a.this_update));
    if let Some(n) = a.next_update {
        single.extend(tlv(0xa0, &generalized(n)));
    }
    let mut data = responder;
    data.extend(generalized(OffsetDateTime::now_utc()));
    data.extend(tlv(0x30, &tlv(0x30, &single)));
    let echoed = a.nonce_override.clone().or(nonce.filter(|_| a.echo_nonce));
    if let Some(value) = echoed {
        let mut ext = tlv(
            0x06,
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02],
        );
        ext.extend(tlv(0x04, &value));
        data.extend(tlv(0xa1, &tlv(0x30, &tlv(0x30, &ext))));
    }
    let tbs = tlv(0x30, &data);
    sign(tbs, a)
}

fn sign(tbs: Vec<u8>, a: &Answer<'_>) -> Vec<u8> {
    let signature = a.key.sign(&tbs).unwrap();
    let mut basic = tbs;
    basic.extend(algorithm(a.key));
    let mut bits = vec![0];
    bits.extend(signature);
    basic.extend(tlv(0x03, &bits));
    if !a.certs.is_empty() {
        let certs: Vec<u8> = a.certs.iter().flat_map(|c| c.der().to_vec()).collect();
        basic.extend(tlv(0xa0, &tlv(0x30, &certs)));
    }
    let basic = tlv(0x30, &basic);
    let mut rb = tlv(
        0x06,
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01],
    );
    rb.extend(tlv(0x04, &basic));
    let mut resp = tlv(0x0a, &[0]);
    resp.extend(tlv(0xa0, &tlv(0x30, &rb)));
    tlv(0x30, &resp)
}

/// An unsuccessful OCSPResponse (`tryLater` = 3, …) without responseBytes.
pub fn error_response(status: u8) -> Vec<u8> {
    tlv(0x30, &tlv(0x0a, &[status]))
}

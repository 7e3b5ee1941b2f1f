//! XML security for sdk-gateway.
//!
//! What it does: parses hostile XML into a bounded tree (no DTDs, no entities, hard limits),
//! canonicalizes it (C14N 1.0, exclusive C14N, C14N 1.1 on verify), signs and verifies
//! XML-DSig, encrypts and decrypts XML-Enc, and validates X.509 paths per trust role.
//!
//! What it does not: know about AS4, XHE or SDK messages; callers decide which references a
//! message must carry and check them against what verification reports as covered, following
//! the anti-wrapping rules in the [`dsig`] module documentation.
#![forbid(unsafe_code)]

pub mod c14n;
pub mod crypto;
pub mod dsig;
pub mod x509;
pub mod xenc;
pub mod xml;

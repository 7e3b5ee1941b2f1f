//! X.509 path validation per trust role, with revocation.
//!
//! * [`TrustStore<R>`]: anchors of one role ([`As4Ap`], [`Smp`], [`Tls`], [`O2o`]) in one
//!   environment; the role is a type parameter, so stores cannot be mixed up. The AS4 store
//!   also pins the issuing intermediate (`Accesspunkt CA-<ENV>`).
//! * [`TrustStore::validate`]: builds the path from the leaf plus presented intermediates and
//!   checks it at a given instant for a role-specific purpose, returning a [`ValidPath<R>`]
//!   or an exhaustive [`PathError`].
//! * [`revocation`]: CRLs (parsed, signature-checked, from files or a [`CrlFetcher`], cached
//!   until nextUpdate), OCSP behind [`OcspClient`], and the explicit [`RevocationPolicy`]
//!   (fail closed by default, grace configurable).
//!
//! Stores of different roles are different types; this does not compile:
//!
//! ```compile_fail
//! use sdkgw_xml_security::x509::{As4Ap, O2o, TrustStore};
//! fn accept_ap_message(_: &TrustStore<As4Ap>) {}
//! fn wiring(o2o: &TrustStore<O2o>) {
//!     accept_ap_message(o2o); // expected `TrustStore<As4Ap>`, found `TrustStore<O2o>`
//! }
//! ```

mod error;
mod path;
pub mod revocation;
mod role;
mod signed;
mod store;

pub use error::PathError;
pub use path::{MAX_PATH_LEN, ValidPath};
pub use revocation::{
    Crl, CrlError, CrlFetcher, FetchError, FetchedCrl, OcspCertStatus, OcspClient, OcspError,
    OcspRequest, OcspResponse, OnUnknown, RevocationChecker, RevocationOutcome, RevocationPolicy,
    RevocationScope, StatusSource,
};
pub use role::{As4Ap, MessagePurpose, O2o, Purpose, Smp, SmpPurpose, Tls, TlsPurpose, TrustRole};
pub use store::{StoreError, TrustStore};

//! The national address book, as the gateway sees it.
//!
//! What it does: SMP discovery (BDXL U-NAPTR, a static SMP, or a local directory file),
//! SMP URL building, the SMP client with signature verification, CertPub certificate
//! extraction, a durable cache that keeps working when SMP is down, and the directory of
//! organisations and function addresses.
//!
//! What it does not: send messages, or decide trust policy beyond the SMP and AP/O2O roles.
#![forbid(unsafe_code)]

pub mod admin;
pub mod bdxl;
pub mod cache;
pub mod certpub;
pub mod directory;
pub mod entry;
pub mod error;
pub mod fake;
pub mod locator;
pub mod resolver;
mod serde_cert;
pub mod smp;
pub mod smp_url;
pub mod trust;

pub use cache::{AddressBook, CachePolicy, Freshness, Lookup, ServedFrom, SignerCheck};
pub use entry::{Route, ServiceEntry};
pub use error::{ErrorKind, LookupError};

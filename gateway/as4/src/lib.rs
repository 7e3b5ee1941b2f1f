//! AS4 per DIGG's transport profile (corners C2 and C3).
//!
//! What it does: the wire format (MIME multipart/related, SOAP 1.2, ebMS3 user and signal
//! messages, WS-Security 1.1 with SwA attachments) and, separately, the message service handler
//! that sends with retries and receives with receipts.
//!
//! What it does not: open the SDK envelope, or decide where messages go (address book).
#![forbid(unsafe_code)]

pub mod compress;
pub mod ebms;
pub mod inspect;
pub mod mime;
pub mod msh;
pub mod soap;
mod text;
pub mod wss;

pub use text::{parse_xsd_datetime, xsd_datetime};

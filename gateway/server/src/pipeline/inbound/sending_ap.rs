//! Stage 4 of the inbound pipeline (envelope digest §5, B1.3.3 row 13, hardening H-39): the
//! access point that sent a message must be one the address book publishes for its
//! FromParty (the SMP endpoints for the receipt document type, falling back to the message
//! type as CP-09 does: the route the Meddelandekvittens will take).
//!
//! The sending AP is the AS4 `From/PartyId` of the stored UserMessage (the AS4 layer
//! accepted it only when it is the CN of a certificate of this environment's AP CA that
//! signed the message). It is compared with the AP of FromParty's route: the endpoint whose
//! AP certificate the address book validated, by its CN (an AP that renews its certificate
//! keeps its CN: rollover). When the address book refuses every published AP certificate
//! (another environment, revoked, invalid), none of them is the authenticated sender (H-39:
//! a foreign certificate may well carry the sender's CN). A mismatch is checked once more
//! against freshly fetched metadata (the participant may just have moved to another AP)
//! before the message is rejected.

use sdkgw_address_book::{ErrorKind, Lookup, LookupError};
use sdkgw_as4::msh::handoff::USER_MESSAGE_EVIDENCE;
use sdkgw_as4::wss::seal::soap_parse_options;
use sdkgw_schemas::{DocumentId, ParticipantId};
use sdkgw_store::MessageRecord;
use sdkgw_xml_security::xml::Document;

use super::super::{Ctx, evidence, read_blob};

/// Largest stored SOAP envelope read back (the attachments are separate parts).
const MAX_USER_MESSAGE: u64 = 4 << 20;

/// What the address book says about the sending access point.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Nothing to compare: no AS4 sender on the record, or no usable SMP entry for
    /// FromParty (that case keeps its own handling: no receipt when the sender is unknown).
    Unchecked,
    Listed,
    /// The text names both sides, for the log.
    NotListed(String),
    /// The address book could not answer now.
    Retry(String),
}

/// Compares the AP that sent `record` with the APs the address book lists for `sender`.
pub(super) async fn check(
    ctx: &std::sync::Arc<Ctx>,
    record: &MessageRecord,
    sender: &ParticipantId,
    documents: (&DocumentId, &DocumentId),
) -> Verdict {
    let Some(sent_by) = sending_ap(ctx, record).await else {
        tracing::warn!(key = %record.key, "inbound: no AS4 sender on the record; its access point is not compared");
        return Verdict::Unchecked;
    };
    let book = ctx.book();
    let (receipt_doc, message_doc) = documents;
    let cached = match with_fallback(book.lookup(sender, receipt_doc).await, || {
        book.lookup(sender, message_doc)
    })
    .await
    {
        Ok(l) => l,
        Err(e) => return unanswered(e),
    };
    if let Some(verdict) = compare(&cached, &sent_by, sender, false) {
        return verdict;
    }
    let fresh = match with_fallback(book.lookup_fresh(sender, receipt_doc).await, || {
        book.lookup_fresh(sender, message_doc)
    })
    .await
    {
        Ok(l) => l,
        Err(e) => return unanswered(e),
    };
    compare(&fresh, &sent_by, sender, true).unwrap_or(Verdict::Unchecked)
}

/// The verdict on one answer of the address book; `None` for a mismatch that is not
/// `last` (look again with fresh metadata).
fn compare(found: &Lookup, sent_by: &str, sender: &ParticipantId, last: bool) -> Option<Verdict> {
    let not_listed = |listed: String| {
        last.then(|| {
            Verdict::NotListed(format!(
                "sent by access point {sent_by:?}, but the address book lists {listed} for {sender}"
            ))
        })
    };
    match found.entry.route() {
        Ok(route) if route.ap_party_id.as_str() == sent_by => Some(Verdict::Listed),
        Ok(route) => not_listed(format!("{:?}", route.ap_party_id.as_str())),
        Err(e) if e.kind() == ErrorKind::Security => not_listed(format!(
            "only access points whose certificates are refused ({}: {e})",
            e.label()
        )),
        // No endpoint usable now (none in its window, …): nothing to compare with.
        Err(_) => Some(Verdict::Unchecked),
    }
}

/// The lookup for the receipt document type, or for the message type when the sender does
/// not publish the receipt type.
async fn with_fallback<F, Fut>(
    first: Result<Lookup, LookupError>,
    fallback: F,
) -> Result<Lookup, LookupError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Lookup, LookupError>>,
{
    match first {
        Err(LookupError::DocTypeNotSupported { .. }) => fallback().await,
        other => other,
    }
}

fn unanswered(e: LookupError) -> Verdict {
    if e.kind() == ErrorKind::Transient {
        Verdict::Retry(e.to_string())
    } else {
        Verdict::Unchecked
    }
}

/// The AS4 `From/PartyId` of the stored UserMessage.
async fn sending_ap(ctx: &std::sync::Arc<Ctx>, record: &MessageRecord) -> Option<String> {
    let blob = evidence(record, USER_MESSAGE_EVIDENCE)?.clone();
    ctx.blocking(move |c| {
        let bytes = read_blob(c.store().as_ref(), &blob, MAX_USER_MESSAGE).ok()?;
        from_party(&bytes)
    })
    .await
    .ok()
    .flatten()
}

fn from_party(soap: &[u8]) -> Option<String> {
    let doc = Document::parse_slice(soap, &soap_parse_options()).ok()?;
    let parts = sdkgw_as4::soap::locate(&doc).ok()?;
    let messaging = sdkgw_as4::ebms::read::messaging(doc.element(parts.messaging)?).ok()?;
    match messaging.user_messages.as_slice() {
        [one] => Some(one.from.party_id.clone()),
        _ => None,
    }
}

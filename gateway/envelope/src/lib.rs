//! The SDK envelope layer (corners C1 and C4).
//!
//! What it does: typed models of the XHE envelope ([`xhe`]), the SDK message
//! MessageWithAttachments v3 ([`message`]) and the Meddelandekvittens ([`receipt`]); DIGG
//! profile validation driven by the rule tables and code lists of `sdkgw-schemas` (the XSDs
//! checked natively, no XSD engine at run time); [`seal`] (validate, encrypt, then sign) and
//! [`open`] (profile, verify, then decrypt, validate, receipt) with typestates
//! (`ReceivedEnvelope` → `VerifiedEnvelope` → `DecryptedPayload` → `OpenedMessage`).
//!
//! What it does not: transport (AS4), address-book lookups (the caller passes the CertPub
//! certificates), storage (the caller implements [`message::MessageHistory`] and delivers
//! before sending an ACCEPTED receipt), malware engines (behind [`message::MalwareScanner`]).
//!
//! Every finding carries a rule id from the tables (`R11-XHE`, `XSD-MSG`, `senderIdvalue`,
//! `GW-MSG-6`, …), the XPath of the node and a message that never quotes free text.
//!
//! # Decisions on the open questions (envelope digest §7)
//!
//! | § | Question | Decision |
//! |---|---|---|
//! | 1 | R11-XHE tests FromParty in DIGG's schematron | R11 is applied to ToParty (`xhe_profile::from_party_scheme_is_r10_and_to_party_scheme_is_r11`) |
//! | 2 | Gaps of the XHE schematron | own rules GW-XHE-1..8: UUID `Header/ID`, time zone, 5 distinct criteria, code-list values, FEDERATIONID of the environment, transport model, participant ids, HandlingServiceID; R1 covers every element and attribute outside the profile (`xsi:*` only on the root), R2 empty attributes |
//! | 3 | Are receipts encrypted? | Never; signed under tm-base-ext-sigenc, plain under tm-base; an encrypted receipt is an envelope error |
//! | 4 | XHE structure errors: no receipt (C3.2.4) or SV (B1.3.3 row 2)? | **No receipt** ([`open::Refusal::Envelope`]): escalate to the platform operator. The sender cannot be trusted before its envelope is readable. The exception is stage 5, below |
//! | 5 | Corrupt payload (not well-formed, empty): no receipt or SV? | The signature already authenticated the sender, so this is no oracle: **REJECTED / SV / `structure`, LineID `NA`** for a plaintext that is empty, not well-formed, not one element, or not the `messagePayload` that DocumentTypeCode announces (GW-MSG-14; `seal_open::corrupt_payload_of_a_verified_sender_is_sv_structure_with_line_na`). Only a payload that cannot be *decrypted* gets no receipt (#6) |
//! | 6 | Undecryptable payload | **No receipt**, one uniform error whatever failed ([`open::Refusal::Undecryptable`]); the cause only in `log_reason()`. Signed but unencrypted under sigenc (B1.3.3 row 14): REJECTED / SIG / `security` |
//! | 7 | Three codings of "wrong sender" | signer ≠ FromParty's CertPub signing certificate, or signature missing/invalid/untrusted/revoked: SIG `security` "Sender signature not validated" (row 12); `senderID` ≠ FromParty: BV `invariant` "Wrong or unknown sender-id"; AS4 originalSender ≠ FromParty (BV `security`, row 13) belongs to the AS4 layer, after signature verification. Senders unknown to SMP get no receipt (the caller cannot obtain their certificate) |
//! | 8 | Timestamp regex demands `.fffZ` | applied as shipped (BV `invariant`); we write `YYYY-MM-DDThh:mm:ss.fffZ` UTC. XHE CreationDateTime accepts any time zone |
//! | 9 | ContentText/ContentFiles rule and `0203:` check missing from the schematron | own rules GW-MSG-1 and GW-MSG-3 (BV `invariant`); GW-MSG-2 checks Base64 fully |
//! | 10 | XSD vs text (header label 0..1, sender attention 0..1) | the XSD wins; header label > 256 is BV `invariant` (schematron), an organisation label > 256 SV (XSD maxLength) |
//! | 11 | Size limit | 30 MiB of **decoded content** — decoded file bytes plus text bodies, as the mailbox API counts a submission ([`message::SdkMessage::content_bytes`]; configurable, [`message::MessagePolicy::max_message_bytes`]) — else BV `too-long`; decrypted XML beyond [`message::xml_size_bound`] of it is BV `too-long` before parsing. The XHE is parsed up to the AS4 message limit ([`message::MessagePolicy::max_xhe_bytes`], default 150 MiB), so an XHE the AP accepted (TF-08: 70 MiB, 100 MB) is answered, not quarantined; only above it is it refused without a receipt (`seal_open::an_xhe_above_the_default_parser_limit_is_answered_bv_too_long`) |
//! | 12 | ConversationId vs XHE id | not this layer's (AS4); both are exposed |
//! | 13 | `urn:fdc:Digg.se:edelivery:process` | the process scheme is compared case-insensitively on input, written in lower case |
//! | 15 | Receipt XSD import names | not relevant at run time (native checks); the tests use DIGG's files through the shared tools, which map the names |
//! | 16 | Detail-code vocabulary | B1.3.3's words (`structure`, `invariant`, `security`, …) from the code list |
//! | 17 | HandlingServiceID of a receipt | the original sender's function address when the message was read (decrypted and schema-valid), otherwise omitted |
//! | 18 | Duplicates vs re-delivery | same XHE bytes (SHA-256) as an earlier message with that id: [`open::Opened::Redelivered`] with the stored receipt; same id, other bytes: BV `duplicate` |
//! | 20 | FEDERATIONID per environment | GW-XHE-5: the environment's federation (QA and prod share `:sdk`) |
//! | — | Signature or encryption under tm-base | envelope error, no receipt |
//! | — | Inbound receipts | never answered: signature or content problems are [`open::Refusal::BadReceipt`] |
//! | — | Party id case | compared case-insensitively (`ParticipantId` is canonical lower case) |
//! | — | Message id uniqueness, replies | `refToMessageId` unknown: ACCEPTED; pointing to a rejected message: BV `not-supported` |
#![forbid(unsafe_code)]

mod datatypes;
pub mod finding;
pub mod message;
pub mod ns;
pub mod open;
mod path;
pub mod receipt;
mod rejection;
pub mod seal;
mod structure;
pub mod xhe;
mod xml_out;

pub use finding::{Finding, Report, RuleId};
pub use rejection::Stage;
pub use xml_out::InvalidCharacter;

//! The one place where store states become DIGG `messageStatus` codes (MT–MK §2.6), and where
//! a record's history becomes its `events`.
//!
//! | store state | direction | `messageStatus` | visible | final (DELETE allowed) |
//! |---|---|---|---|---|
//! | `accepted` | out | `SCHEDULED` | yes | no |
//! | `sealed`, `sending` | out | `SUBMITTED` | yes | no |
//! | `scheduled` | out | `SUBMITTED` before the first attempt, `SCHEDULED_FOR_RESEND` after one | yes | no |
//! | `dead-lettered` | out | `MESSAGE_EXCHANGE_ERROR` (AS4 retries exhausted, `EBMS:0301`; an operator requeue makes it `scheduled` again) | yes | yes |
//! | `delivered` | out | `WAITING_FOR_RECEIPT` (the AS4 Receipt, `ACKNOWLEDGE`, is in `events`) | yes | no |
//! | `recipient-accepted` | out | `ACCEPTED` | yes | yes |
//! | `recipient-rejected` | out | `MESSAGE_EXCHANGE_ERROR` (`REJECTED` is in `events`, §4.2.8) | yes | yes |
//! | `failed` | out | `MESSAGE_EXCHANGE_ERROR` | yes | yes |
//! | `received`, `verified` | in | (`RETRIEVED`) | no: not in a mailbox before it is receipted and filed | — |
//! | `filed`, `fetched` | in | `NEW` (`fetched` = acknowledged with `/sdk/ext/messages/{id}/ack`) | yes | yes |
//! | `deleted` | in | — | no (404, tombstone) | — |
//! | `rejected` | in | — | no (quarantine, §4.2.9: operators see it with `sdkgw message`) | — |

use sdkgw_store::{Direction, MessageRecord, MessageState, StateChange};

use super::datetime::format_utc;
use super::problem::{Issue, MESSAGE_EVENT, Problem};

/// DIGG's `messageStatus` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Scheduled,
    Submitted,
    ScheduledForResend,
    Acknowledge,
    WaitingForReceipt,
    MessageExchangeError,
    Accepted,
    Rejected,
    Retrieved,
    ReceiptSent,
    New,
    Error,
}

impl MessageStatus {
    pub const ALL: [Self; 12] = [
        Self::Scheduled,
        Self::Submitted,
        Self::ScheduledForResend,
        Self::Acknowledge,
        Self::WaitingForReceipt,
        Self::MessageExchangeError,
        Self::Accepted,
        Self::Rejected,
        Self::Retrieved,
        Self::ReceiptSent,
        Self::New,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Submitted => "SUBMITTED",
            Self::ScheduledForResend => "SCHEDULED_FOR_RESEND",
            Self::Acknowledge => "ACKNOWLEDGE",
            Self::WaitingForReceipt => "WAITING_FOR_RECEIPT",
            Self::MessageExchangeError => "MESSAGE_EXCHANGE_ERROR",
            Self::Accepted => "ACCEPTED",
            Self::Rejected => "REJECTED",
            Self::Retrieved => "RETRIEVED",
            Self::ReceiptSent => "RECEIPT_SENT",
            Self::New => "NEW",
            Self::Error => "ERROR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// DIGG's final statuses: the only ones in which DELETE is allowed.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::New | Self::Accepted | Self::MessageExchangeError
        )
    }

    fn title(self) -> &'static str {
        match self {
            Self::Scheduled => "Message accepted by the message service and scheduled for sending",
            Self::Submitted => "Message sealed and handed to the access point",
            Self::ScheduledForResend => {
                "Receiving access point not reached; the message will be resent"
            }
            Self::Acknowledge => "Transport receipt received from the receiving access point",
            Self::WaitingForReceipt => "Waiting for the message receipt from the recipient",
            Self::MessageExchangeError => "Message exchange failed",
            Self::Accepted => "Message ACCEPTED by receiver",
            Self::Rejected => "Message REJECTED by receiver",
            Self::Retrieved => "Message received and validated",
            Self::ReceiptSent => "Message receipt sent",
            Self::New => "Message filed in the function mailbox",
            Self::Error => "Unexpected error",
        }
    }
}

/// The status of one store state at one point of the history (`resend`: the state was
/// entered from `sending`, i.e. after a failed attempt).
fn status_of(state: MessageState, resend: bool) -> Option<MessageStatus> {
    use MessageState as S;
    Some(match state {
        S::Accepted => MessageStatus::Scheduled,
        S::Sealed | S::Sending => MessageStatus::Submitted,
        S::Scheduled if resend => MessageStatus::ScheduledForResend,
        S::Scheduled => MessageStatus::Submitted,
        // MT–MK §2.6: retries exhausted / no transport receipt → MESSAGE_EXCHANGE_ERROR.
        S::DeadLettered => MessageStatus::MessageExchangeError,
        S::Delivered => MessageStatus::WaitingForReceipt,
        S::RecipientAccepted => MessageStatus::Accepted,
        S::RecipientRejected | S::Failed => MessageStatus::MessageExchangeError,
        S::Received | S::Verified => MessageStatus::Retrieved,
        S::Filed | S::Fetched => MessageStatus::New,
        S::Deleted | S::Rejected => return None,
    })
}

/// A record's current `messageStatus`; `None` when the API does not show the record.
pub fn current(record: &MessageRecord) -> Option<MessageStatus> {
    match (record.direction, record.state) {
        (Direction::Inbound, MessageState::Filed | MessageState::Fetched) => {
            Some(MessageStatus::New)
        }
        (Direction::Inbound, _) => None,
        (Direction::Outbound, state) => status_of(state, record.attempts > 0),
    }
}

/// The status a transition `from -> to` shows (for the change feed).
pub fn after_transition(from: Option<MessageState>, to: MessageState) -> Option<MessageStatus> {
    status_of(to, from == Some(MessageState::Sending))
}

/// Whether the state is visible through the API at all.
pub fn is_visible(direction: Direction, state: MessageState) -> bool {
    match direction {
        Direction::Inbound => matches!(state, MessageState::Filed | MessageState::Fetched),
        Direction::Outbound => true,
    }
}

/// One `LineResponse` of a REJECTED Meddelandekvittens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    /// `ResponseCode`: SV, BV or SIG.
    pub code: String,
    /// `StatusReasonCode` (`NA` when absent).
    pub reason_code: String,
    /// `StatusReason`.
    pub reason: String,
    /// `LineID`: XPath or `NA`.
    pub line: String,
}

/// The record's `events`: one issue per status reached (newest first), the AS4 Receipt as
/// `ACKNOWLEDGE`, a receipt rejection as `REJECTED` followed by DIGG's mapping of the
/// receipt (§2.5: a `MESSAGE_EXCHANGE_ERROR` issue "Message REJECTED by receiver", then one
/// issue per `LineResponse`: `typeCode` ← ResponseCode, `title` ← StatusReasonCode, `detail` ←
/// StatusReason, `in` ← LineID), and the last error on a failure. `instance` is the message id
/// (= the receipt's `DocumentReference/ID`).
pub fn events(record: &MessageRecord, receipt_lines: &[ReceiptLine]) -> Option<Problem> {
    let status = current(record)?;
    let mut issues = Vec::new();
    let mut previous: Option<&StateChange> = None;
    for change in &record.history {
        let resend = previous.is_some_and(|p| p.to == MessageState::Sending);
        previous = Some(change);
        let at = format_utc(change.at);
        if change.to == MessageState::Delivered {
            issues.push(issue(MessageStatus::Acknowledge, None, &at));
        }
        if change.to == MessageState::RecipientRejected {
            issues.push(issue(MessageStatus::Rejected, change.note.clone(), &at));
            for l in receipt_lines.iter().rev() {
                issues.push(Issue {
                    type_code: l.code.clone(),
                    title: l.reason_code.clone(),
                    detail: Some(l.reason.clone()),
                    location: Some(l.line.clone()),
                    date_time: at.clone(),
                });
            }
            let mut mee = issue(
                MessageStatus::MessageExchangeError,
                record.last_error.clone(),
                &at,
            );
            mee.title = "Message REJECTED by receiver".to_owned();
            issues.push(mee);
            continue;
        }
        let Some(s) = status_of(change.to, resend) else {
            continue;
        };
        let detail = match change.to {
            MessageState::Failed | MessageState::RecipientRejected | MessageState::DeadLettered => {
                record.last_error.clone().or_else(|| change.note.clone())
            }
            _ => change.note.clone(),
        };
        let repeated = issues
            .last()
            .is_some_and(|i: &Issue| i.type_code == s.as_str());
        if !repeated || matches!(s, MessageStatus::ScheduledForResend) {
            issues.push(issue(s, detail, &at));
        }
    }
    issues.reverse();
    Some(Problem {
        kind: MESSAGE_EVENT,
        title: status.as_str(),
        status: None,
        detail: Some(status.as_str().to_owned()),
        instance: record
            .correlation
            .xhe_id
            .as_deref()
            .map(super::problem::as_uri),
        issues,
        retry_after: None,
    })
}

fn issue(status: MessageStatus, detail: Option<String>, at: &str) -> Issue {
    Issue {
        type_code: status.as_str().to_owned(),
        title: status.title().to_owned(),
        detail: Some(detail.unwrap_or_else(|| "NA".to_owned())),
        location: None,
        date_time: at.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digg_final_statuses_allow_delete() {
        let finals: Vec<_> = MessageStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .map(MessageStatus::as_str)
            .collect();
        assert_eq!(finals, ["MESSAGE_EXCHANGE_ERROR", "ACCEPTED", "NEW"]);
    }

    #[test]
    fn every_store_state_maps_to_a_digg_code_or_is_hidden() {
        for s in MessageState::ALL {
            let shown = status_of(s, false);
            assert_eq!(
                shown.is_some(),
                !matches!(s, MessageState::Deleted | MessageState::Rejected),
                "{s}"
            );
        }
        assert_eq!(
            after_transition(Some(MessageState::Sending), MessageState::Scheduled),
            Some(MessageStatus::ScheduledForResend)
        );
        assert_eq!(
            after_transition(Some(MessageState::Sealed), MessageState::Scheduled),
            Some(MessageStatus::Submitted)
        );
        assert_eq!(
            after_transition(Some(MessageState::Sending), MessageState::DeadLettered),
            Some(MessageStatus::MessageExchangeError)
        );
    }
}

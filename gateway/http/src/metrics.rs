//! Counters a listener keeps for `/metrics`: connections and TLS handshake failures by reason.
//!
//! Plain atomics, no exporter dependency: the server crate reads [`ServerMetrics::snapshot`]
//! and renders whatever format it exports.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::{CertificateError, PeerIncompatible};

/// Why a TLS handshake on one of our listeners did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeFailure {
    /// The client sent no certificate on a listener that requires one (T-TLS-01).
    NoClientCertificate,
    /// The client certificate does not chain to this listener's trust store, or its signature,
    /// encoding, extensions or purpose are unacceptable (T-TLS-02).
    UntrustedCertificate,
    /// The client certificate is expired or not yet valid.
    CertificateNotCurrentlyValid,
    /// A configured CRL lists the client certificate.
    CertificateRevoked,
    /// CRLs are configured but none covers the certificate, or the covering CRL expired.
    RevocationStatusUnknown,
    /// The client offered only protocol versions we refuse (SSLv3, TLS 1.0, TLS 1.1).
    ProtocolVersion,
    /// No common cipher suite, group or signature scheme.
    NoCommonParameters,
    /// The peer violated the TLS protocol (malformed or unexpected messages).
    ProtocolViolation,
    /// The peer aborted with an alert (e.g. it does not trust our server certificate).
    AlertReceived,
    /// The handshake did not finish within the handshake timeout.
    Timeout,
    /// The TCP connection closed or failed during the handshake.
    ConnectionLost,
    /// Anything else rustls reported.
    Other,
}

impl HandshakeFailure {
    /// Every reason, in a stable order (for exporting zero counters too).
    pub const ALL: [Self; 12] = [
        Self::NoClientCertificate,
        Self::UntrustedCertificate,
        Self::CertificateNotCurrentlyValid,
        Self::CertificateRevoked,
        Self::RevocationStatusUnknown,
        Self::ProtocolVersion,
        Self::NoCommonParameters,
        Self::ProtocolViolation,
        Self::AlertReceived,
        Self::Timeout,
        Self::ConnectionLost,
        Self::Other,
    ];

    /// A stable label for metrics (`reason="..."`).
    pub fn label(self) -> &'static str {
        match self {
            Self::NoClientCertificate => "no_client_certificate",
            Self::UntrustedCertificate => "untrusted_certificate",
            Self::CertificateNotCurrentlyValid => "certificate_not_currently_valid",
            Self::CertificateRevoked => "certificate_revoked",
            Self::RevocationStatusUnknown => "revocation_status_unknown",
            Self::ProtocolVersion => "protocol_version",
            Self::NoCommonParameters => "no_common_parameters",
            Self::ProtocolViolation => "protocol_violation",
            Self::AlertReceived => "alert_received",
            Self::Timeout => "timeout",
            Self::ConnectionLost => "connection_lost",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(Self::ALL.len() - 1)
    }

    /// Classifies the error tokio-rustls returned from an accept.
    pub fn from_io_error(err: &io::Error) -> Self {
        match err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => Self::from_rustls(tls),
            None => Self::ConnectionLost,
        }
    }

    /// Classifies a rustls error raised during a handshake.
    pub fn from_rustls(err: &rustls::Error) -> Self {
        use rustls::Error as E;
        match err {
            E::NoCertificatesPresented => Self::NoClientCertificate,
            E::InvalidCertificate(cert) => Self::from_certificate_error(cert),
            E::PeerIncompatible(p) => match p {
                PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled
                | PeerIncompatible::SupportedVersionsExtensionRequired
                | PeerIncompatible::ServerDoesNotSupportTls12Or13
                | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig => Self::ProtocolVersion,
                _ => Self::NoCommonParameters,
            },
            E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::InvalidMessage(_)
            | E::PeerMisbehaved(_)
            | E::DecryptError
            | E::PeerSentOversizedRecord => Self::ProtocolViolation,
            E::AlertReceived(_) => Self::AlertReceived,
            _ => Self::Other,
        }
    }

    fn from_certificate_error(err: &CertificateError) -> Self {
        use CertificateError as C;
        match err {
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => Self::CertificateNotCurrentlyValid,
            C::Revoked => Self::CertificateRevoked,
            C::UnknownRevocationStatus
            | C::ExpiredRevocationList
            | C::ExpiredRevocationListContext { .. } => Self::RevocationStatusUnknown,
            _ => Self::UntrustedCertificate,
        }
    }
}

/// Per-listener counters, shared between the accept loop and the metrics exporter.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    connections_accepted: AtomicU64,
    connections_active: AtomicU64,
    connections_rejected_overload: AtomicU64,
    connections_dropped_overload: AtomicU64,
    handshakes_completed: AtomicU64,
    handshake_failures: [AtomicU64; HandshakeFailure::ALL.len()],
    requests_rejected_body_too_large: AtomicU64,
}

/// A point-in-time copy of [`ServerMetrics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// TCP connections accepted into a connection slot.
    pub connections_accepted: u64,
    /// Connections currently holding a slot.
    pub connections_active: u64,
    /// Connections answered with 503 because every slot was taken.
    pub connections_rejected_overload: u64,
    /// Connections closed without a response because even the overload budget was used up.
    pub connections_dropped_overload: u64,
    /// TLS handshakes that completed.
    pub handshakes_completed: u64,
    /// Failed handshakes, one entry per [`HandshakeFailure::ALL`] reason.
    pub handshake_failures: Vec<(HandshakeFailure, u64)>,
    /// Requests refused up front because their Content-Length exceeded the body limit.
    pub requests_rejected_body_too_large: u64,
}

impl MetricsSnapshot {
    /// The count for one handshake-failure reason.
    pub fn handshake_failures_for(&self, reason: HandshakeFailure) -> u64 {
        self.handshake_failures
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }
}

impl ServerMetrics {
    /// Records a failed handshake.
    pub fn record_handshake_failure(&self, reason: HandshakeFailure) {
        if let Some(counter) = self.handshake_failures.get(reason.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_handshake_completed(&self) {
        self.handshakes_completed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_opened(&self) {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_active.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_active.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn record_overload_rejected(&self) {
        self.connections_rejected_overload
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_overload_dropped(&self) {
        self.connections_dropped_overload
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_body_too_large(&self) {
        self.requests_rejected_body_too_large
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Copies every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            connections_accepted: load(&self.connections_accepted),
            connections_active: load(&self.connections_active),
            connections_rejected_overload: load(&self.connections_rejected_overload),
            connections_dropped_overload: load(&self.connections_dropped_overload),
            handshakes_completed: load(&self.handshakes_completed),
            handshake_failures: HandshakeFailure::ALL
                .iter()
                .zip(self.handshake_failures.iter())
                .map(|(r, c)| (*r, load(c)))
                .collect(),
            requests_rejected_body_too_large: load(&self.requests_rejected_body_too_large),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter_and_label() {
        let metrics = ServerMetrics::default();
        for (i, reason) in HandshakeFailure::ALL.iter().enumerate() {
            for _ in 0..=i {
                metrics.record_handshake_failure(*reason);
            }
        }
        let snap = metrics.snapshot();
        for (i, reason) in HandshakeFailure::ALL.iter().enumerate() {
            assert_eq!(
                snap.handshake_failures_for(*reason),
                i as u64 + 1,
                "{}",
                reason.label()
            );
        }
        let labels: std::collections::HashSet<_> =
            HandshakeFailure::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), HandshakeFailure::ALL.len());
    }

    #[test]
    fn classifies_rustls_errors_by_reason() {
        use rustls::Error as E;
        assert_eq!(
            HandshakeFailure::from_rustls(&E::NoCertificatesPresented),
            HandshakeFailure::NoClientCertificate
        );
        assert_eq!(
            HandshakeFailure::from_rustls(&E::InvalidCertificate(CertificateError::UnknownIssuer)),
            HandshakeFailure::UntrustedCertificate
        );
        assert_eq!(
            HandshakeFailure::from_rustls(&E::InvalidCertificate(CertificateError::Revoked)),
            HandshakeFailure::CertificateRevoked
        );
        assert_eq!(
            HandshakeFailure::from_rustls(&E::PeerIncompatible(PeerIncompatible::Tls12NotOffered)),
            HandshakeFailure::ProtocolVersion
        );
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, E::NoCertificatesPresented);
        assert_eq!(
            HandshakeFailure::from_io_error(&wrapped),
            HandshakeFailure::NoClientCertificate
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(
            HandshakeFailure::from_io_error(&reset),
            HandshakeFailure::ConnectionLost
        );
    }
}

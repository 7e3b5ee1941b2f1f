//! BDXL against a real (tiny, in-process) DNS server on 127.0.0.1: UDP and TCP, NAPTR
//! answers, NXDOMAIN, NODATA, SERVFAIL, silence, truncation and a spoofed answer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_address_book::bdxl::{DiscoveryError, SmlZone, participant_dns_name};
use sdkgw_address_book::locator::{LocationSource, SmpLocator};
use sdkgw_address_book::resolver::{
    CachePolicy, CachingResolver, DnsError, Resolver, SystemClock, UdpResolver,
};
use sdkgw_schemas::ParticipantId;
use simple_dns::rdata::{NAPTR, RData};
use simple_dns::{CLASS, CharacterString, Name, Packet, PacketFlag, RCODE, ResourceRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const ZONE: &str = "sdk.test";

/// What the fake server does for a name.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Two NAPTR records (order 100, preferences 20 and 10), TTL 30.
    Smp,
    NxDomain,
    NoData,
    ServFail,
    Silent,
    /// TC over UDP, the records over TCP.
    TruncatedUdp,
    /// First a reply with a wrong id, then the real one.
    SpoofFirst,
}

fn participant(domain: &str) -> ParticipantId {
    format!("0203:{domain}").parse().unwrap()
}

fn zone() -> SmlZone {
    SmlZone::parse(ZONE).unwrap()
}

fn behaviours() -> HashMap<String, Behaviour> {
    [
        ("registered.test", Behaviour::Smp),
        ("absent.test", Behaviour::NxDomain),
        ("nodata.test", Behaviour::NoData),
        ("broken.test", Behaviour::ServFail),
        ("silent.test", Behaviour::Silent),
        ("big.test", Behaviour::TruncatedUdp),
        ("spoofed.test", Behaviour::SpoofFirst),
    ]
    .into_iter()
    .map(|(d, b)| (participant_dns_name(&participant(d), &zone()), b))
    .collect()
}

fn reply(query: &Packet<'_>, behaviour: Behaviour, over_tcp: bool) -> Vec<u8> {
    let mut packet = Packet::new_reply(query.id());
    packet.questions = query.questions.clone();
    let name = query.questions[0].qname.clone();
    let naptr = |pref: u16, url: &'static str| {
        ResourceRecord::new(
            name.clone(),
            CLASS::IN,
            30,
            RData::NAPTR(NAPTR {
                order: 100,
                preference: pref,
                flags: CharacterString::new(b"U").unwrap(),
                services: CharacterString::new(b"Meta:SMP").unwrap(),
                regexp: CharacterString::new(url.as_bytes()).unwrap(),
                replacement: Name::new_unchecked(""),
            }),
        )
    };
    match behaviour {
        Behaviour::Smp | Behaviour::SpoofFirst => {
            packet
                .answers
                .push(naptr(20, "!^.*$!https://pref20.example.se!"));
            packet
                .answers
                .push(naptr(10, "!^.*$!https://smp.example.se/sdk/!"));
        }
        Behaviour::TruncatedUdp if !over_tcp => packet.set_flags(PacketFlag::TRUNCATION),
        Behaviour::TruncatedUdp => {
            packet
                .answers
                .push(naptr(10, "#^.*$#https://tcp.example.se#"));
        }
        Behaviour::NxDomain => *packet.rcode_mut() = RCODE::NameError,
        Behaviour::ServFail => *packet.rcode_mut() = RCODE::ServerFailure,
        Behaviour::NoData | Behaviour::Silent => {}
    }
    packet.build_bytes_vec().unwrap()
}

/// Starts the server; returns its address (UDP and TCP on the same port).
async fn fake_dns() -> SocketAddr {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let table = Arc::new(behaviours());
    let udp_table = table.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Packet::parse(&buf[..n]) else {
                continue;
            };
            let name = query.questions[0].qname.to_string();
            let behaviour = udp_table.get(&name).copied().unwrap_or(Behaviour::NxDomain);
            if let Behaviour::Silent = behaviour {
                continue;
            }
            if let Behaviour::SpoofFirst = behaviour {
                let genuine = reply(&query, Behaviour::Smp, false);
                let mut spoof = Packet::parse(&genuine).unwrap();
                spoof.set_id(query.id().wrapping_add(1));
                spoof.answers.truncate(1);
                let _ = udp.send_to(&spoof.build_bytes_vec().unwrap(), from).await;
            }
            let _ = udp.send_to(&reply(&query, behaviour, false), from).await;
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = tcp.accept().await else {
                return;
            };
            let table = table.clone();
            tokio::spawn(async move {
                let len = stream.read_u16().await.unwrap();
                let mut buf = vec![0u8; usize::from(len)];
                stream.read_exact(&mut buf).await.unwrap();
                let query = Packet::parse(&buf).unwrap();
                let name = query.questions[0].qname.to_string();
                let behaviour = table.get(&name).copied().unwrap_or(Behaviour::NxDomain);
                let bytes = reply(&query, behaviour, true);
                let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                stream.write_all(&framed).await.unwrap();
            });
        }
    });
    addr
}

async fn resolver() -> UdpResolver {
    let addr = fake_dns().await;
    UdpResolver::new(vec![addr])
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .with_attempts(1)
}

fn bdxl(resolver: impl Resolver + 'static) -> SmpLocator {
    SmpLocator::Bdxl {
        zone: zone(),
        resolver: Arc::new(resolver),
    }
}

#[tokio::test]
async fn naptr_from_a_dns_server_gives_the_preferred_smp() {
    let udp = resolver().await;
    let name = participant_dns_name(&participant("registered.test"), &zone());
    let answer = udp.naptr(&name).await.unwrap();
    assert_eq!(answer.records.len(), 2);
    assert_eq!(answer.ttl, Duration::from_secs(30));
    assert_eq!(answer.records[0].replacement, ".");
    let cached = CachingResolver::new(udp, Arc::new(SystemClock), CachePolicy::default());
    let location = bdxl(cached)
        .locate(&participant("Registered.TEST"))
        .await
        .unwrap();
    assert_eq!(location.base.to_string(), "https://smp.example.se/sdk");
    assert_eq!(location.source, LocationSource::Bdxl { dns_name: name });
}

// DNS-05 over the wire.
#[tokio::test]
async fn nxdomain_and_nodata_mean_not_registered() {
    let locator = bdxl(resolver().await);
    for (domain, cause) in [
        ("absent.test", DnsError::NxDomain),
        ("nodata.test", DnsError::NoData),
    ] {
        match locator.locate(&participant(domain)).await {
            Err(DiscoveryError::NotRegistered { cause: c, .. }) => assert_eq!(c, cause, "{domain}"),
            other => panic!("{domain}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn servfail_and_silence_are_transient() {
    let locator = bdxl(resolver().await);
    match locator.locate(&participant("broken.test")).await {
        Err(DiscoveryError::Transient {
            cause: DnsError::ServFail,
            ..
        }) => {}
        other => panic!("SERVFAIL: {other:?}"),
    }
    match locator.locate(&participant("silent.test")).await {
        Err(DiscoveryError::Transient {
            cause: DnsError::Timeout(_),
            ..
        }) => {}
        other => panic!("timeout: {other:?}"),
    }
}

#[tokio::test]
async fn truncated_udp_answer_is_retried_over_tcp() {
    let location = bdxl(resolver().await)
        .locate(&participant("big.test"))
        .await
        .unwrap();
    assert_eq!(location.base.to_string(), "https://tcp.example.se");
}

#[tokio::test]
async fn answer_with_another_query_id_is_ignored() {
    let udp = resolver().await;
    let name = participant_dns_name(&participant("spoofed.test"), &zone());
    let answer = udp.naptr(&name).await.unwrap();
    assert_eq!(
        answer.records.len(),
        2,
        "the spoofed one-record reply was not taken"
    );
}

#[tokio::test]
async fn unreachable_server_is_transient() {
    // A port nobody listens on: ICMP port unreachable (or silence) ⇒ transient, never a panic.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = socket.local_addr().unwrap();
    drop(socket);
    let udp = UdpResolver::new(vec![dead])
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let err = bdxl(udp)
        .locate(&participant("registered.test"))
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Transient { .. }), "{err}");
}

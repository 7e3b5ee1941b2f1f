//! The real resolver: NAPTR queries to recursive name servers over UDP, TCP on truncation.
//!
//! Kept small on purpose: one question, recursion desired, a random query id, answers accepted
//! only from the server asked (connected socket) with the same id and question; CNAME chains
//! in the answer are followed. Servers are tried in order, `attempts` rounds.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use super::{BoxFuture, DnsError, NaptrAnswer, Resolver};
use crate::bdxl::NaptrRecord;

/// Largest UDP answer read (we send no EDNS, so servers stay within 512 bytes).
const UDP_MAX: usize = 4096;
/// CNAME hops followed inside one answer.
const MAX_CNAME_HOPS: usize = 8;

/// A stub resolver over UDP/TCP.
#[derive(Debug, Clone)]
pub struct UdpResolver {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    attempts: usize,
}

/// A resolver that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum UdpResolverError {
    /// No name server configured.
    #[error("no DNS name server configured{}", from.as_deref().map(|p| format!(" (none in {p})")).unwrap_or_default())]
    NoServers {
        /// The resolv.conf read, if any.
        from: Option<String>,
    },
    /// resolv.conf unreadable.
    #[error("cannot read {path}: {source}")]
    ResolvConf {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl UdpResolver {
    /// Queries `servers` (in order) with a 2 s timeout per query and 2 rounds.
    pub fn new(servers: Vec<SocketAddr>) -> Result<Self, UdpResolverError> {
        if servers.is_empty() {
            return Err(UdpResolverError::NoServers { from: None });
        }
        Ok(Self {
            servers,
            timeout: Duration::from_secs(2),
            attempts: 2,
        })
    }

    /// The `nameserver` lines of a resolv.conf file (port 53).
    pub fn from_resolv_conf(path: &Path) -> Result<Self, UdpResolverError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| UdpResolverError::ResolvConf {
                path: path.display().to_string(),
                source,
            })?;
        let servers = nameservers(&text);
        Self::new(servers).map_err(|_| UdpResolverError::NoServers {
            from: Some(path.display().to_string()),
        })
    }

    /// The system's name servers (`/etc/resolv.conf`).
    pub fn system() -> Result<Self, UdpResolverError> {
        Self::from_resolv_conf(Path::new("/etc/resolv.conf"))
    }

    /// Sets the time allowed per query and server.
    pub fn with_timeout(mut self, per_query: Duration) -> Self {
        self.timeout = per_query;
        self
    }

    /// Sets how many rounds over all servers are made before giving up (at least 1).
    pub fn with_attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    async fn lookup(&self, name: &str) -> Result<NaptrAnswer, DnsError> {
        let id = query_id()?;
        let query = build_query(id, name)?;
        let mut last = DnsError::Timeout(self.timeout);
        for _ in 0..self.attempts {
            for server in &self.servers {
                match self.ask(*server, &query, id, name).await {
                    Ok(answer) => return Ok(answer),
                    Err(e) if e.is_not_registered() => return Err(e),
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }

    async fn ask(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        name: &str,
    ) -> Result<NaptrAnswer, DnsError> {
        let reply = timeout(self.timeout, exchange_udp(server, query, id, name))
            .await
            .map_err(|_| DnsError::Timeout(self.timeout))??;
        match reply {
            Reply::Done(result) => result,
            Reply::Truncated => {
                let bytes = timeout(self.timeout, exchange_tcp(server, query))
                    .await
                    .map_err(|_| DnsError::Timeout(self.timeout))??;
                match interpret(&bytes, id, name)? {
                    Some(Reply::Done(result)) => result,
                    _ => Err(DnsError::Malformed(
                        "TCP answer truncated or not ours".into(),
                    )),
                }
            }
        }
    }
}

impl Resolver for UdpResolver {
    fn naptr<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NaptrAnswer, DnsError>> {
        Box::pin(self.lookup(name))
    }
}

/// `nameserver <ip>` lines; anything unparsable is ignored (resolv.conf has many dialects).
fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn query_id() -> Result<u16, DnsError> {
    let mut id = [0u8; 2];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| DnsError::Network("no randomness".into()))?;
    Ok(u16::from_be_bytes(id))
}

fn build_query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let qname = Name::new(name).map_err(|e| DnsError::Malformed(format!("name {name:?}: {e}")))?;
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        qname,
        QTYPE::TYPE(TYPE::NAPTR),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet
        .build_bytes_vec()
        .map_err(|e| DnsError::Malformed(format!("query: {e}")))
}

/// What one server said.
#[derive(Debug)]
enum Reply {
    Done(Result<NaptrAnswer, DnsError>),
    Truncated,
}

async fn exchange_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
) -> Result<Reply, DnsError> {
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let net = |e: std::io::Error| DnsError::Network(format!("{server}: {e}"));
    let socket = UdpSocket::bind(local).await.map_err(net)?;
    socket.connect(server).await.map_err(net)?;
    socket.send(query).await.map_err(net)?;
    let mut buf = vec![0u8; UDP_MAX];
    loop {
        let n = socket.recv(&mut buf).await.map_err(net)?;
        // Datagrams that are not the answer to our question are dropped (spoofing, late
        // answers to earlier queries); the caller's timeout bounds the wait.
        if let Ok(Some(reply)) = interpret(buf.get(..n).unwrap_or_default(), id, name) {
            return Ok(reply);
        }
    }
}

async fn exchange_tcp(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, DnsError> {
    let net = |e: std::io::Error| DnsError::Network(format!("{server} (TCP): {e}"));
    let mut stream = TcpStream::connect(server).await.map_err(net)?;
    let len =
        u16::try_from(query.len()).map_err(|_| DnsError::Malformed("query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(net)?;
    let answer_len = stream.read_u16().await.map_err(net)?;
    let mut answer = vec![0u8; usize::from(answer_len)];
    stream.read_exact(&mut answer).await.map_err(net)?;
    Ok(answer)
}

/// `Ok(None)`: not an answer to our question. `Ok(Some(..))`: our answer, interpreted.
fn interpret(bytes: &[u8], id: u16, name: &str) -> Result<Option<Reply>, DnsError> {
    let packet = Packet::parse(bytes).map_err(|e| DnsError::Malformed(e.to_string()))?;
    let ours = packet.id() == id
        && packet.has_flags(PacketFlag::RESPONSE)
        && matches!(&packet.questions[..], [q]
            if q.qtype == QTYPE::TYPE(TYPE::NAPTR)
                && q.qname.to_string().eq_ignore_ascii_case(name));
    if !ours {
        return Ok(None);
    }
    if packet.has_flags(PacketFlag::TRUNCATION) {
        return Ok(Some(Reply::Truncated));
    }
    let result = match packet.rcode() {
        RCODE::NoError => naptr_records(&packet, name),
        RCODE::NameError => Err(DnsError::NxDomain),
        RCODE::ServerFailure => Err(DnsError::ServFail),
        other => Err(DnsError::Rcode(format!("{other:?}"))),
    };
    Ok(Some(Reply::Done(result)))
}

/// The NAPTR records owned by `name` or by a name it is a CNAME of, inside the answer.
fn naptr_records(packet: &Packet<'_>, name: &str) -> Result<NaptrAnswer, DnsError> {
    let mut owners = vec![name.to_ascii_lowercase()];
    for _ in 0..MAX_CNAME_HOPS {
        let next = packet.answers.iter().find_map(|rr| match &rr.rdata {
            RData::CNAME(target) if owners.contains(&rr.name.to_string().to_ascii_lowercase()) => {
                Some(target.0.to_string().to_ascii_lowercase())
            }
            _ => None,
        });
        match next {
            Some(target) if !owners.contains(&target) => owners.push(target),
            _ => break,
        }
    }
    let mut records = Vec::new();
    let mut ttl = u32::MAX;
    for rr in &packet.answers {
        let RData::NAPTR(n) = &rr.rdata else { continue };
        if !owners.contains(&rr.name.to_string().to_ascii_lowercase()) {
            continue;
        }
        let text = |c: &simple_dns::CharacterString<'_>| {
            String::try_from(c.clone()).map_err(|e| DnsError::Malformed(format!("NAPTR text: {e}")))
        };
        let replacement = n.replacement.to_string();
        records.push(NaptrRecord {
            order: n.order,
            preference: n.preference,
            flags: text(&n.flags)?,
            services: text(&n.services)?,
            regexp: text(&n.regexp)?,
            replacement: if replacement.is_empty() {
                ".".into()
            } else {
                replacement
            },
        });
        ttl = ttl.min(rr.ttl);
    }
    if records.is_empty() {
        return Err(DnsError::NoData);
    }
    Ok(NaptrAnswer {
        records,
        ttl: Duration::from_secs(u64::from(ttl)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameserver_lines_of_resolv_conf() {
        let conf = "# comment\nsearch example.se\nnameserver 127.0.0.53\nnameserver ::1\n\
                    nameserver fe80::1%eth0\noptions edns0\n";
        let servers = nameservers(conf);
        assert_eq!(
            servers,
            [
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert!(UdpResolver::new(vec![]).is_err());
    }

    #[test]
    fn answers_to_other_questions_are_not_ours() {
        let query = build_query(7, "a.test").unwrap();
        // A query is not a response.
        assert!(interpret(&query, 7, "a.test").unwrap().is_none());
        assert!(interpret(&[1, 2, 3], 7, "a.test").is_err());
    }
}

//! MIME multipart/related: writer → reader round trips and the hostile-input corpus
//! (test-cases.md §4.7 H-47, H-48; as4-transport.md §4.2 step 2).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers outside #[test] fns

use bytes::Bytes;
use sdkgw_as4::mime::{
    Framing, MimeError, MimeLimits, MultipartReader, MultipartWriter, OutgoingPart,
    ReceivedMessage, TransferEncoding, read_message,
};
use tokio::io::AsyncReadExt;

const SOAP: &[u8] = b"<S12:Envelope xmlns:S12=\"http://www.w3.org/2003/05/soap-envelope\"><S12:Body/></S12:Envelope>";
const CT: &str =
    "multipart/related; type=\"application/soap+xml\"; boundary=\"b1\"; start=\"<root@x>\"";

async fn read(ct: &str, body: &[u8]) -> Result<ReceivedMessage, MimeError> {
    read_with(ct, body, &MimeLimits::default()).await
}

/// Spooled files live as long as the returned message; the directory lives for the process.
async fn read_with(
    ct: &str,
    body: &[u8],
    limits: &MimeLimits,
) -> Result<ReceivedMessage, MimeError> {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(spool_dir);
    read_message(body, ct, limits, dir.path()).await
}

fn spool_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn message(parts: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut out = b"--b1\r\n".to_vec();
    for (i, (cid, ct, body)) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n--b1\r\n");
        }
        out.extend_from_slice(
            format!("Content-Type: {ct}\r\nContent-ID: <{cid}>\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(body);
    }
    out.extend_from_slice(b"\r\n--b1--\r\n");
    out
}

fn as4_message() -> Vec<u8> {
    message(&[
        ("root@x", "application/soap+xml; charset=UTF-8", SOAP),
        (
            "message",
            "application/octet-stream",
            b"\x1f\x8b binary \r\n--b2 \x00\xff",
        ),
    ])
}

#[tokio::test]
async fn writer_output_reads_back_identically_with_attachments_from_files_and_memory() {
    let dir = spool_dir();
    let file_path = dir.path().join("payload.bin");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&file_path, &payload).unwrap();

    let mut writer = MultipartWriter::new(Bytes::from_static(SOAP));
    writer
        .attach(
            OutgoingPart::from_file("message", "application/octet-stream", &file_path)
                .await
                .unwrap(),
        )
        .unwrap();
    writer
        .attach(
            OutgoingPart::from_bytes("second@sdkgw", "text/xml", Bytes::from_static(b"<x/>"))
                .unwrap()
                .with_header("Content-Description", "test")
                .unwrap(),
        )
        .unwrap();
    let ct = writer.content_type();
    let expected_len = writer.encoded_len();
    let mut wire = Vec::new();
    writer.into_reader().read_to_end(&mut wire).await.unwrap();
    assert_eq!(wire.len() as u64, expected_len);

    let msg = read_message(wire.as_slice(), &ct, &MimeLimits::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(msg.root.content, SOAP);
    assert_eq!(
        msg.root.headers.content_type().unwrap().media_type(),
        "application/soap+xml"
    );
    assert_eq!(msg.attachments.len(), 2);
    let first = msg.attachment("message").unwrap();
    assert_eq!(first.len, payload.len() as u64);
    assert_eq!(std::fs::read(&first.path).unwrap(), payload);
    assert_eq!(first.headers.transfer_encoding(), TransferEncoding::Binary);
    let second = msg.attachment("second@sdkgw").unwrap();
    assert_eq!(std::fs::read(&second.path).unwrap(), b"<x/>");
    assert_eq!(second.headers.get("content-description"), Some("test"));
}

#[tokio::test]
async fn reads_the_as4_shape_with_preamble_epilogue_and_padding() {
    let mut body = b"This is a preamble.\r\n".to_vec();
    body.extend(as4_message());
    body.extend_from_slice(b"epilogue text\r\n");
    let msg = read(CT, &body).await.unwrap();
    assert_eq!(msg.root.content, SOAP);
    let part = msg.attachment("message").unwrap();
    assert_eq!(
        std::fs::read(&part.path).unwrap(),
        b"\x1f\x8b binary \r\n--b2 \x00\xff"
    );

    let padded =
        String::from_utf8_lossy(&as4_message()).replace("\r\n--b1\r\n", "\r\n--b1 \t \r\n");
    assert!(read(CT, padded.as_bytes()).await.is_ok());
}

#[tokio::test]
async fn without_start_the_first_part_is_the_root() {
    let ct = "multipart/related; type=\"application/soap+xml\"; boundary=b1";
    let msg = read(ct, &as4_message()).await.unwrap();
    assert_eq!(msg.root.content, SOAP);
    assert_eq!(msg.attachments.len(), 1);
}

#[tokio::test]
async fn root_may_come_after_attachments_when_start_says_so() {
    let body = message(&[
        ("message", "application/octet-stream", b"data"),
        ("root@x", "application/soap+xml", SOAP),
    ]);
    let msg = read(CT, &body).await.unwrap();
    assert_eq!(msg.root.content, SOAP);
    assert_eq!(msg.attachments[0].headers.content_id(), Some("message"));
}

#[tokio::test]
async fn accepts_a_bare_soap_body_for_signals() {
    let msg = read("application/soap+xml; charset=UTF-8", SOAP)
        .await
        .unwrap();
    assert_eq!(msg.root.content, SOAP);
    assert!(msg.attachments.is_empty());
    let limits = MimeLimits {
        max_root_bytes: 10,
        ..MimeLimits::default()
    };
    let err = read_with("application/soap+xml", SOAP, &limits)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MimeError::RootTooLarge { limit: 10 }),
        "{err}"
    );
}

/// One hostile input and the error it must produce.
struct Hostile {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    expect: fn(&MimeError) -> bool,
}

fn hostile_corpus() -> Vec<Hostile> {
    let good = as4_message();
    let cut = |n: usize| good[..good.len() - n].to_vec();
    let replace = |from: &str, to: &str| {
        String::from_utf8_lossy(&good)
            .replacen(from, to, 1)
            .into_bytes()
    };
    vec![
        Hostile {
            name: "truncated before close delimiter",
            content_type: CT,
            body: cut(8),
            expect: |e| matches!(e, MimeError::Truncated { .. }),
        },
        Hostile {
            name: "truncated inside close delimiter",
            content_type: CT,
            body: cut(3),
            expect: |e| matches!(e, MimeError::Truncated { .. }),
        },
        Hostile {
            name: "truncated in headers",
            content_type: CT,
            body: good[..30].to_vec(),
            expect: |e| matches!(e, MimeError::Truncated { .. }),
        },
        Hostile {
            name: "empty body",
            content_type: CT,
            body: Vec::new(),
            expect: |e| matches!(e, MimeError::Truncated { .. }),
        },
        Hostile {
            name: "boundary never appears",
            content_type: CT,
            body: b"just some bytes".to_vec(),
            expect: |e| matches!(e, MimeError::Truncated { .. }),
        },
        Hostile {
            name: "different boundary in body",
            content_type: CT,
            body: replace_all(&good, "--b1", "--b9"),
            expect: |e| matches!(e, MimeError::Truncated { .. }),
        },
        Hostile {
            name: "close delimiter only",
            content_type: CT,
            body: b"--b1--\r\n".to_vec(),
            expect: |e| matches!(e, MimeError::NoParts),
        },
        Hostile {
            name: "garbage after delimiter",
            content_type: CT,
            body: replace("--b1\r\n", "--b1XYZ\r\n"),
            expect: |e| matches!(e, MimeError::MalformedDelimiter),
        },
        Hostile {
            name: "start points nowhere",
            content_type: "multipart/related; type=\"application/soap+xml\"; boundary=b1; start=\"<nobody>\"",
            body: good.clone(),
            expect: |e| matches!(e, MimeError::StartNotFound(_)),
        },
        Hostile {
            name: "duplicate Content-IDs",
            content_type: CT,
            body: message(&[
                ("root@x", "application/soap+xml", SOAP),
                ("a", "text/plain", b"1"),
                ("a", "text/plain", b"2"),
            ]),
            expect: |e| matches!(e, MimeError::DuplicateContentId(_)),
        },
        Hostile {
            name: "duplicate root Content-ID",
            content_type: CT,
            body: message(&[
                ("root@x", "application/soap+xml", SOAP),
                ("root@x", "text/plain", b"2"),
            ]),
            expect: |e| matches!(e, MimeError::DuplicateContentId(_)),
        },
        Hostile {
            name: "attachment without Content-ID",
            content_type: CT,
            body: replace("Content-ID: <message>\r\n", ""),
            expect: |e| matches!(e, MimeError::MissingContentId(1)),
        },
        Hostile {
            name: "root type differs from type parameter",
            content_type: CT,
            body: replace("application/soap+xml; charset=UTF-8", "text/xml"),
            expect: |e| matches!(e, MimeError::RootTypeMismatch { .. }),
        },
        Hostile {
            name: "base64 transfer encoding",
            content_type: CT,
            body: replace(
                "Content-ID: <message>\r\n",
                "Content-ID: <message>\r\nContent-Transfer-Encoding: base64\r\n",
            ),
            expect: |e| matches!(e, MimeError::UnsupportedTransferEncoding { .. }),
        },
        Hostile {
            name: "duplicate Content-Type in a part",
            content_type: CT,
            body: replace(
                "Content-ID: <message>\r\n",
                "Content-ID: <message>\r\nContent-Type: text/plain\r\n",
            ),
            expect: |e| matches!(e, MimeError::DuplicateHeader { .. }),
        },
        Hostile {
            name: "huge header block",
            content_type: CT,
            body: replace(
                "Content-ID: <message>\r\n",
                &format!("Content-ID: <message>\r\nX-Big: {}\r\n", "a".repeat(20_000)),
            ),
            expect: |e| matches!(e, MimeError::HeadersTooLarge { .. }),
        },
        Hostile {
            name: "too many header fields",
            content_type: CT,
            body: replace(
                "Content-ID: <message>\r\n",
                &format!("Content-ID: <message>\r\n{}", "X-A: b\r\n".repeat(40)),
            ),
            expect: |e| matches!(e, MimeError::TooManyHeaders { .. }),
        },
        Hostile {
            name: "headers never end",
            content_type: CT,
            body: format!("--b1\r\n{}", "X-A: b\r\n".repeat(5000)).into_bytes(),
            expect: |e| matches!(e, MimeError::HeadersTooLarge { .. }),
        },
        Hostile {
            name: "bare LF header lines",
            content_type: CT,
            body: replace(
                "Content-ID: <message>\r\n",
                "Content-ID: <message>\nX: y\r\n",
            ),
            expect: |e| matches!(e, MimeError::BadHeader { .. }),
        },
        Hostile {
            name: "huge preamble",
            content_type: CT,
            body: [vec![b'p'; 100_000], good.clone()].concat(),
            expect: |e| matches!(e, MimeError::PreambleTooLarge { .. }),
        },
        Hostile {
            name: "huge epilogue",
            content_type: CT,
            body: [good.clone(), vec![b'e'; 100_000]].concat(),
            expect: |e| matches!(e, MimeError::PreambleTooLarge { .. }),
        },
        Hostile {
            name: "too many parts",
            content_type: CT,
            body: {
                let parts: Vec<(String, Vec<u8>)> =
                    (0..40).map(|i| (format!("p{i}"), b"x".to_vec())).collect();
                let mut all: Vec<(&str, &str, &[u8])> =
                    vec![("root@x", "application/soap+xml", SOAP)];
                all.extend(
                    parts
                        .iter()
                        .map(|(c, b)| (c.as_str(), "text/plain", b.as_slice())),
                );
                message(&all)
            },
            expect: |e| matches!(e, MimeError::TooManyParts { .. }),
        },
        Hostile {
            name: "not multipart/related",
            content_type: "multipart/mixed; boundary=b1",
            body: good.clone(),
            expect: |e| matches!(e, MimeError::UnsupportedMediaType { .. }),
        },
        Hostile {
            name: "SOAP 1.1 bare body",
            content_type: "text/xml",
            body: SOAP.to_vec(),
            expect: |e| matches!(e, MimeError::UnsupportedMediaType { .. }),
        },
        Hostile {
            name: "missing boundary",
            content_type: "multipart/related; type=\"application/soap+xml\"",
            body: good.clone(),
            expect: |e| matches!(e, MimeError::MissingParameter("boundary")),
        },
        Hostile {
            name: "missing type",
            content_type: "multipart/related; boundary=b1",
            body: good.clone(),
            expect: |e| matches!(e, MimeError::MissingParameter("type")),
        },
        Hostile {
            name: "boundary too long",
            content_type: "multipart/related; type=\"application/soap+xml\"; boundary=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
            body: good.clone(),
            expect: |e| matches!(e, MimeError::InvalidBoundary { .. }),
        },
        Hostile {
            name: "malformed Content-Type",
            content_type: "multipart/related; boundary=\"b1",
            body: good.clone(),
            expect: |e| matches!(e, MimeError::BadContentType { .. }),
        },
        Hostile {
            name: "bad start id",
            content_type: "multipart/related; type=\"application/soap+xml\"; boundary=b1; start=\"<>\"",
            body: good.clone(),
            expect: |e| matches!(e, MimeError::BadContentId { .. }),
        },
    ]
}

fn replace_all(body: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8_lossy(body).replace(from, to).into_bytes()
}

#[tokio::test]
async fn hostile_corpus_yields_typed_peer_errors_and_leaves_no_spool_files() {
    for case in hostile_corpus() {
        let dir = spool_dir();
        let err = read_message(
            case.body.as_slice(),
            case.content_type,
            &MimeLimits::default(),
            dir.path(),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{}: accepted", case.name));
        assert!(
            (case.expect)(&err),
            "{}: unexpected error {err:?}",
            case.name
        );
        assert!(
            err.is_peer_error(),
            "{}: {err:?} not a peer error",
            case.name
        );
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 0, "{}: {left} spool files left behind", case.name);
    }
}

#[tokio::test]
async fn per_part_and_total_limits_stop_reading_early() {
    let big = vec![b'z'; 300_000];
    let body = message(&[
        ("root@x", "application/soap+xml", SOAP),
        ("message", "application/octet-stream", &big),
    ]);
    let limits = MimeLimits {
        max_part_bytes: 100_000,
        ..MimeLimits::default()
    };
    let err = read_with(CT, &body, &limits).await.unwrap_err();
    assert!(
        matches!(err, MimeError::PartTooLarge { limit: 100_000 }),
        "{err}"
    );

    let limits = MimeLimits {
        max_total_bytes: 100_000,
        ..MimeLimits::default()
    };
    let err = read_with(CT, &body, &limits).await.unwrap_err();
    assert!(
        matches!(err, MimeError::MessageTooLarge { limit: 100_000 }),
        "{err}"
    );

    let limits = MimeLimits {
        max_root_bytes: 16,
        ..MimeLimits::default()
    };
    let err = read_with(CT, &body, &limits).await.unwrap_err();
    assert!(
        matches!(err, MimeError::RootTooLarge { limit: 16 }),
        "{err}"
    );
}

#[tokio::test]
async fn pull_reader_streams_parts_in_small_chunks() {
    let body = as4_message();
    let mut reader = MultipartReader::new(body.as_slice(), "b1", MimeLimits::default()).unwrap();
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    while let Some(headers) = reader.next_part().await.unwrap() {
        ids.push(headers.content_id().unwrap().to_owned());
        let mut n = 0;
        while let Some(chunk) = reader.chunk().await.unwrap() {
            n += chunk.len();
        }
        sizes.push(n);
    }
    assert_eq!(ids, ["root@x", "message"]);
    assert_eq!(sizes, [SOAP.len(), 19]);
    assert_eq!(reader.bytes_read(), body.len() as u64);
}

#[test]
fn classifies_message_framing() {
    assert_eq!(
        Framing::from_content_type("application/soap+xml;charset=utf-8").unwrap(),
        Framing::Soap
    );
    let Framing::Multipart {
        boundary,
        start,
        root_type,
    } = Framing::from_content_type(CT).unwrap()
    else {
        panic!("expected multipart");
    };
    assert_eq!(
        (boundary.as_str(), start.as_deref(), root_type.as_str()),
        ("b1", Some("root@x"), "application/soap+xml")
    );
}

#[tokio::test]
async fn writer_refuses_header_injection_and_duplicate_ids() {
    assert!(OutgoingPart::from_bytes("a\r\nX: y", "text/plain", Bytes::new()).is_err());
    assert!(OutgoingPart::from_bytes("<a>", "text/plain", Bytes::new()).is_err());
    assert!(OutgoingPart::from_bytes("a", "text/plain\r\nX: y", Bytes::new()).is_err());
    assert!(
        OutgoingPart::from_bytes("a", "text/plain", Bytes::new())
            .unwrap()
            .with_header("X", "a\nb")
            .is_err()
    );
    let mut writer =
        MultipartWriter::with_framing(Bytes::from_static(SOAP), "b1", "root@x").unwrap();
    writer
        .attach(OutgoingPart::from_bytes("a", "text/plain", Bytes::new()).unwrap())
        .unwrap();
    let dup = writer.attach(OutgoingPart::from_bytes("a", "text/plain", Bytes::new()).unwrap());
    assert!(matches!(dup, Err(MimeError::DuplicateContentId(_))));
    let root_dup =
        writer.attach(OutgoingPart::from_bytes("root@x", "text/plain", Bytes::new()).unwrap());
    assert!(matches!(root_dup, Err(MimeError::DuplicateContentId(_))));
}

#[tokio::test]
async fn writer_reports_an_attachment_shorter_than_declared() {
    let mut writer = MultipartWriter::new(Bytes::from_static(SOAP));
    writer
        .attach(
            OutgoingPart::from_reader("a", "application/octet-stream", &b"short"[..], 100).unwrap(),
        )
        .unwrap();
    let mut out = Vec::new();
    let err = writer
        .into_reader()
        .read_to_end(&mut out)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}

/// Yields its bytes in pseudo-random small pieces, like a slow network.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    state: u64,
}

impl tokio::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let step = (xorshift(&mut self.state) % 97 + 1) as usize;
        let n = step.min(buf.remaining()).min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        std::task::Poll::Ready(Ok(()))
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Deterministic mutations of a valid message: byte flips, cuts, duplicated slices, and
/// inserted delimiter fragments. Each must end in Ok or a typed error, never a panic, and an
/// accepted message's root must be bytes the peer actually sent.
#[tokio::test]
async fn thousands_of_mutated_messages_never_panic() {
    let good = as4_message();
    let fragments: [&[u8]; 6] = [
        b"\r\n--b1",
        b"\r\n--b1--",
        b"--",
        b"\r\n\r\n",
        b"Content-ID: <message>\r\n",
        b"\r",
    ];
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut accepted = 0;
    let dir = spool_dir();
    for _ in 0..3000 {
        let mut input = good.clone();
        for _ in 0..(xorshift(&mut state) % 4 + 1) {
            let at = (xorshift(&mut state) as usize) % (input.len() + 1);
            match xorshift(&mut state) % 4 {
                0 if at < input.len() => input[at] ^= (xorshift(&mut state) % 255 + 1) as u8,
                1 => input.truncate(at),
                2 => {
                    let f = fragments[(xorshift(&mut state) % fragments.len() as u64) as usize];
                    input.splice(at..at, f.iter().copied());
                }
                _ => {
                    let end = (at + (xorshift(&mut state) % 64) as usize).min(input.len());
                    let copy = input[at..end].to_vec();
                    input.splice(at..at, copy);
                }
            }
        }
        let source = Trickle {
            data: input.clone(),
            pos: 0,
            state: xorshift(&mut state),
        };
        if let Ok(msg) = read_message(source, CT, &MimeLimits::default(), dir.path()).await {
            accepted += 1;
            let root = msg.root.content.as_ref();
            assert!(input.windows(root.len().max(1)).any(|w| w == root) || root.is_empty());
        }
    }
    // Some mutations (e.g. inside the payload) stay valid; most do not.
    assert!(accepted > 0 && accepted < 3000, "accepted {accepted}");
}

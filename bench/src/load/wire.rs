//! The two minimal clients the load generator speaks over persistent loopback connections:
//! HTTP/1.1 keep-alive (Content-Length bodies only) and Redis RESP.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head the HTTP client reads.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Bytes reserved in a connection's buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

/// The wire protocol of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive.
    Http,
    /// Redis RESP2.
    Resp,
}

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Exactly `Content-Length` bytes.
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when given as a number.
    pub retry_after: Option<u64>,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// One Redis reply (the types the benchmark uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespReply {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`.
    Error(String),
    /// `:n`.
    Integer(i64),
    /// `$n` and its bytes; `None` for `$-1` (no such key).
    Bulk(Option<Vec<u8>>),
}

/// An answer of either protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// From an HTTP peer.
    Http(HttpResponse),
    /// From Redis.
    Resp(RespReply),
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A persistent connection speaking one protocol, one request in flight.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    protocol: Protocol,
}

impl Conn {
    /// Connects to `addr` with Nagle's algorithm off (each request is one write, and waiting for
    /// an ACK before sending would add latency that is not the server's).
    ///
    /// # Errors
    /// When the connection cannot be made.
    pub async fn connect(addr: SocketAddr, protocol: Protocol) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
            protocol,
        })
    }

    /// Writes `request` (already encoded) and reads one answer.
    ///
    /// # Errors
    /// On IO errors, a closed connection, or an answer this client cannot read.
    pub async fn round_trip(&mut self, request: &[u8]) -> io::Result<Reply> {
        self.stream.write_all(request).await?;
        match self.protocol {
            Protocol::Http => self.read_http().await.map(Reply::Http),
            Protocol::Resp => self.read_resp().await.map(Reply::Resp),
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(READ_CHUNK);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(())
    }

    async fn read_http(&mut self) -> io::Result<HttpResponse> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(invalid("response head over 16 KiB"));
            }
            self.fill().await?;
        };
        let head = parse_head(&self.buf[..head_end])?;
        let len = match head.content_length {
            Some(n) => n,
            // No body by definition (RFC 9112 §6.3).
            None if head.status < 200 || head.status == 204 || head.status == 304 => 0,
            None => return Err(invalid("response without Content-Length")),
        };
        while self.buf.len() < head_end + len {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(HttpResponse {
            status: head.status,
            body,
            retry_after: head.retry_after,
            close: head.close,
        })
    }

    async fn read_resp(&mut self) -> io::Result<RespReply> {
        let line_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let kind = self.buf.first().copied().unwrap_or(b'\r');
        let line = std::str::from_utf8(&self.buf[1.min(line_end)..line_end])
            .map_err(|_| invalid("RESP line is not UTF-8"))?
            .to_owned();
        let mut consumed = line_end + 2;
        let reply = match kind {
            b'+' => RespReply::Simple(line),
            b'-' => RespReply::Error(line),
            b':' => RespReply::Integer(line.parse().map_err(|_| invalid("bad RESP integer"))?),
            b'$' => {
                let n: i64 = line.parse().map_err(|_| invalid("bad RESP length"))?;
                match usize::try_from(n) {
                    // `$-1`: the key does not exist.
                    Err(_) => RespReply::Bulk(None),
                    Ok(n) => {
                        while self.buf.len() < consumed + n + 2 {
                            self.fill().await?;
                        }
                        let body = self.buf[consumed..consumed + n].to_vec();
                        consumed += n + 2;
                        RespReply::Bulk(Some(body))
                    }
                }
            }
            _ => return Err(invalid("unsupported RESP reply type")),
        };
        self.buf.drain(..consumed);
        Ok(reply)
    }
}

struct Head {
    status: u16,
    content_length: Option<usize>,
    retry_after: Option<u64>,
    close: bool,
}

fn parse_head(bytes: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let mut status_line = lines.next().unwrap_or_default().splitn(3, ' ');
    let version = status_line.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("not an HTTP/1.x response"));
    }
    let status = status_line
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let mut head = Head {
        status,
        content_length: None,
        retry_after: None,
        close: version == "HTTP/1.0",
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("bad header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = Some(value.parse().map_err(|_| invalid("bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Small on purpose: the API under test sends every body with a Content-Length.
            return Err(invalid("chunked responses are not supported"));
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = value.parse().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(head)
}

/// Encodes a Redis command as a RESP array of bulk strings.
#[must_use]
pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;

    /// Serves `chunks` (written with pauses so the client sees split reads) on one connection,
    /// after reading anything the client sends.
    async fn serve_chunks(chunks: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut scratch = [0u8; 1024];
            let _ = s.read(&mut scratch).await.unwrap();
            for c in chunks {
                s.write_all(c).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Keep the socket open until the client is done.
            let _ = s.read(&mut scratch).await;
        });
        addr
    }

    #[tokio::test]
    async fn http_client_reads_bodies_split_across_reads_and_keeps_the_connection() {
        // Arrange: two responses, the first cut inside its head and its body, the second
        // arriving in the same read as the end of the first.
        let addr = serve_chunks(vec![
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nconte",
            b"nt-length: 11\r\n\r\n{\"a\":",
            b"[1,2]}HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}",
        ])
        .await;
        let mut c = Conn::connect(addr, Protocol::Http).await.unwrap();

        // Act
        let first = c.round_trip(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let second = c.read_http().await.unwrap();

        // Assert
        assert_eq!(
            first,
            Reply::Http(HttpResponse {
                status: 200,
                body: b"{\"a\":[1,2]}".to_vec(),
                retry_after: None,
                close: false
            })
        );
        assert_eq!(second.status, 503);
        assert_eq!(second.retry_after, Some(1));
        assert_eq!(second.body, b"{}");
        assert!(c.buf.is_empty());
    }

    #[tokio::test]
    async fn http_client_refuses_chunked_bodies_and_notices_connection_close() {
        let addr = serve_chunks(vec![
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        ])
        .await;
        let mut c = Conn::connect(addr, Protocol::Http).await.unwrap();

        let first = c.round_trip(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let second = c.read_http().await;

        let Reply::Http(first) = first else {
            panic!("not HTTP")
        };
        assert_eq!(
            (first.status, first.close, first.body.len()),
            (204, true, 0)
        );
        assert_eq!(second.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn resp_client_reads_bulk_nil_integer_simple_and_error_replies() {
        let addr = serve_chunks(vec![
            b"$5\r\nhel",
            b"lo\r\n$-1\r\n:42\r\n+OK\r\n-ERR wrong\r\n$0\r\n\r\n",
        ])
        .await;
        let mut c = Conn::connect(addr, Protocol::Resp).await.unwrap();

        let first = c.round_trip(&resp_command(&[b"GET", b"k"])).await.unwrap();
        let mut rest = Vec::new();
        for _ in 0..5 {
            rest.push(c.read_resp().await.unwrap());
        }

        assert_eq!(first, Reply::Resp(RespReply::Bulk(Some(b"hello".to_vec()))));
        assert_eq!(
            rest,
            vec![
                RespReply::Bulk(None),
                RespReply::Integer(42),
                RespReply::Simple("OK".into()),
                RespReply::Error("ERR wrong".into()),
                RespReply::Bulk(Some(Vec::new())),
            ]
        );
    }

    #[test]
    fn resp_commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            resp_command(&[b"SET", b"recs:1", b"{}"]),
            b"*3\r\n$3\r\nSET\r\n$6\r\nrecs:1\r\n$2\r\n{}\r\n"
        );
    }
}

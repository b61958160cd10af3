//! The length-prefixed frame ZooKeeper's ports use: a big-endian `i32` length, then that many
//! bytes. It carries the client port's requests and replies, the election port's messages and
//! the chunks of our SNAP stream on the quorum port. This is the one reader and writer of it:
//! the server's client port, our client, the benchmark and the quorum shells all use it.
//! Must never: trust a length before checking it against the caller's bound, or reserve room
//! for more than one checked frame.

use bytes::{Buf, BufMut, BytesMut};
use std::fmt;

/// A frame length outside what the reader allows (negative, or over its bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLength(pub i32);

impl fmt::Display for BadLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad frame length {}", self.0)
    }
}

impl std::error::Error for BadLength {}

/// Appends one frame: the length, then whatever `body` writes.
pub fn write_frame(out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_i32(0);
    body(out);
    let len = out.len() - start - 4;
    out[start..start + 4].copy_from_slice(&header(len));
}

/// The four bytes that start a frame of `len` bytes (for a body written separately).
pub fn header(len: usize) -> [u8; 4] {
    i32::try_from(len).expect("a frame is under 2 GiB").to_be_bytes()
}

/// The length of the frame at the front of `buf`, once its four bytes have arrived.
pub fn peek_len(buf: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(buf.get(..4)?.try_into().expect("4 bytes")))
}

/// Takes the frame at the front of `buf` if all of it has arrived (`Ok(None)` otherwise, with
/// room reserved for the rest). A length outside `0..=max` is an error.
pub fn take_frame(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, BadLength> {
    let Some(len) = peek_len(buf) else { return Ok(None) };
    if len < 0 || len as usize > max {
        return Err(BadLength(len));
    }
    let need = 4 + len as usize;
    if buf.len() < need {
        buf.reserve(need - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len as usize)))
}

/// Reads until a whole frame is in `buf` and takes it; `buf` keeps what arrived past it.
/// `Ok(None)` when the stream ends cleanly between frames.
pub async fn read_frame<R>(rd: &mut R, buf: &mut BytesMut, max: usize) -> std::io::Result<Option<BytesMut>>
where
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    loop {
        match take_frame(buf, max) {
            Ok(Some(f)) => return Ok(Some(f)),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(4096);
        }
        if rd.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the stream ended inside a frame"))
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_arrive_in_pieces() {
        let mut out = BytesMut::new();
        write_frame(&mut out, |w| w.put_slice(b"hello"));
        write_frame(&mut out, |_| {});
        let all = out.freeze();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in all.iter() {
            buf.put_u8(*b);
            while let Some(f) = take_frame(&mut buf, 16).unwrap() {
                got.push(f.to_vec());
            }
        }
        assert_eq!(got, vec![b"hello".to_vec(), Vec::new()]);
        assert!(buf.is_empty());
    }

    #[test]
    fn lengths_outside_the_bound_are_refused_before_anything_is_reserved() {
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(take_frame(&mut buf, 16), Err(BadLength(-1)));
        let mut buf = BytesMut::from(&17i32.to_be_bytes()[..]);
        assert_eq!(take_frame(&mut buf, 16), Err(BadLength(17)));
        assert!(buf.capacity() < 64);
        assert_eq!(BadLength(17).to_string(), "bad frame length 17");
    }

    #[tokio::test]
    async fn read_frame_reads_across_short_reads_and_ends_cleanly() {
        let mut out = BytesMut::new();
        write_frame(&mut out, |w| w.put_slice(&[7u8; 10_000]));
        write_frame(&mut out, |w| w.put_slice(b"x"));
        let bytes = out.freeze();
        let mut rd = tokio_test_reader(&bytes);
        let mut buf = BytesMut::new();
        assert_eq!(read_frame(&mut rd, &mut buf, 1 << 20).await.unwrap().unwrap().len(), 10_000);
        assert_eq!(&read_frame(&mut rd, &mut buf, 1 << 20).await.unwrap().unwrap()[..], b"x");
        assert!(read_frame(&mut rd, &mut buf, 1 << 20).await.unwrap().is_none());
        // A stream cut inside a frame is an error, not a clean end.
        let mut cut = tokio_test_reader(&bytes[..100]);
        let mut buf = BytesMut::new();
        let e = read_frame(&mut cut, &mut buf, 1 << 20).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    /// A reader over a byte slice that hands out at most 7 bytes per read.
    fn tokio_test_reader(b: &[u8]) -> impl tokio::io::AsyncRead + Unpin + '_ {
        struct Slow<'a>(&'a [u8]);
        impl tokio::io::AsyncRead for Slow<'_> {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let n = self.0.len().min(7).min(buf.remaining());
                buf.put_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                std::task::Poll::Ready(Ok(()))
            }
        }
        Slow(b)
    }
}

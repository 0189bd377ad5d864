//! Reading a request body whole, within the body limit, hashing it as it
//! arrives for the schemes that sign it.

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;
use webhooks_core::{BodyHasher, BodyMacs};

/// Why a body could not be read.
pub(crate) enum BodyError {
    /// More than the limit arrived.
    TooLarge,
    /// The connection failed or the framing was invalid.
    Read,
}

/// Reads the whole body, refusing it as soon as more than `limit` bytes
/// arrived. A body that arrives in one frame is kept as it is, and not
/// hashed here: the validator reads it right after, while it is still in
/// the cache. One in several (known from the first frame when
/// `Content-Length` says more is coming) is copied frame by frame, while
/// each is still in the cache, into one buffer sized from `Content-Length`,
/// and fed on the way to the states `start_hashing` gives (if any), whose
/// MACs come back with it: the frames that arrived first are not read again
/// once the last has pushed them out of the cache.
pub(crate) async fn read_body<B>(
    body: B,
    limit: usize,
    declared: Option<u64>,
    start_hashing: impl FnOnce() -> Option<BodyHasher>,
) -> Result<(Bytes, Option<BodyMacs>), BodyError>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    // Once a second frame arrived: the buffer and the hashing states.
    let mut joined: Option<(BytesMut, Option<BodyHasher>)> = None;
    let mut start_hashing = Some(start_hashing);
    let mut total = 0_usize;
    let more_declared = |total| declared.is_some_and(|length| length > total as u64);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Read)?.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        let (buffer, hasher) = match &mut joined {
            Some(joined) => joined,
            None if first.is_none() && !more_declared(total) => {
                first = Some(data);
                continue;
            }
            None => {
                let held = first.take().unwrap_or_default();
                let expected = declared.and_then(|length| usize::try_from(length).ok());
                let mut buffer = BytesMut::with_capacity(expected.unwrap_or(0).clamp(total, limit));
                let mut hasher = start_hashing.take().and_then(|start| start());
                buffer.extend_from_slice(&held);
                if let Some(hasher) = &mut hasher {
                    hasher.update(&held);
                }
                joined.insert((buffer, hasher))
            }
        };
        buffer.extend_from_slice(&data);
        if let Some(hasher) = hasher {
            hasher.update(&data);
        }
    }
    Ok(match joined {
        Some((buffer, hasher)) => (buffer.freeze(), hasher.map(BodyHasher::finish)),
        None => (first.unwrap_or_default(), None),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http_body::Frame;
    use webhooks_core::Secret;

    use super::*;

    /// A body that arrives in these frames.
    struct Frames(VecDeque<Bytes>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|data| Ok(Frame::data(data))))
        }
    }

    /// These frames, then a failed connection.
    struct ThenFails(Frames);

    impl Body for ThenFails {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            match Pin::new(&mut self.0).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                _ => Poll::Ready(Some(Err("connection reset"))),
            }
        }
    }

    fn frames(frames: &[&[u8]]) -> Frames {
        Frames(frames.iter().map(|f| Bytes::copy_from_slice(f)).collect())
    }

    async fn read(
        frames: &[&[u8]],
        declared: Option<u64>,
        secret: &Secret,
    ) -> (Bytes, Option<BodyMacs>) {
        let frames = self::frames(frames);
        let start = || Some(BodyHasher::new([secret], &[b"1."]));
        match read_body(frames, 100, declared, start).await {
            Ok(read) => read,
            Err(_) => panic!("the body is read"),
        }
    }

    #[tokio::test]
    async fn frames_are_joined_and_hashed_only_when_there_are_several() {
        let secret = Secret::from("k");
        // Some(3): a `Content-Length` that understates the body, which
        // hyper's framing would refuse, still keeps one frame as it is.
        for declared in [None, Some(7), Some(3)] {
            let (body, macs) = read(&[b"{\"a\":1}"], declared, &secret).await;
            assert_eq!((&body[..], macs.is_none()), (&b"{\"a\":1}"[..], true));
        }
        let mut whole = BodyHasher::new([&secret], &[b"1."]);
        whole.update(b"{\"a\":1}");
        let expected = whole.finish().mac(&secret, &[b"1."], b"{\"a\":1}");
        assert!(expected.is_some());
        for frames in [
            &[&b"{\"a\""[..], b":1}"][..],
            &[b"", b"", b"{\"a\":1}"],
            &[b"{", b"\"a\":1", b"}", b""],
        ] {
            for declared in [None, Some(7), Some(3)] {
                let (body, macs) = read(frames, declared, &secret).await;
                assert_eq!(&body[..], b"{\"a\":1}");
                let macs = macs.expect("several frames are hashed");
                assert_eq!(macs.mac(&secret, &[b"1."], &body), expected);
            }
        }
        let (body, macs) = read(&[], None, &secret).await;
        assert!(body.is_empty() && macs.is_none());
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused_unread() {
        let no_hashing = || None;
        for (split, declared) in [
            (&[&b"12345678"[..]][..], None),
            (&[b"1234", b"5678"], Some(8)),
            (&[b"1234", b"5678"], None),
        ] {
            match read_body(frames(split), 8, declared, no_hashing).await {
                Ok((body, _)) => assert_eq!(&body[..], b"12345678"),
                Err(_) => panic!("{split:?}: a body of the limit is read"),
            }
        }
        for split in [&[&b"123456789"[..]][..], &[b"1234", b"5678", b"9"]] {
            let read = read_body(frames(split), 8, None, no_hashing).await;
            assert!(matches!(read, Err(BodyError::TooLarge)), "{split:?}");
        }
        // Refused as the byte over arrives: what would follow is not read.
        let over = ThenFails(frames(&[b"1234", b"56789"]));
        let read = read_body(over, 8, None, no_hashing).await;
        assert!(matches!(read, Err(BodyError::TooLarge)));
        let within = ThenFails(frames(&[b"1234", b"5678"]));
        let read = read_body(within, 8, None, no_hashing).await;
        assert!(matches!(read, Err(BodyError::Read)));
    }
}

//! Reading a request body whole, within the body limit.

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

/// Why a body could not be read.
pub(crate) enum BodyError {
    /// More than the limit arrived.
    TooLarge,
    /// The connection failed or the framing was invalid.
    Read,
}

/// Reads the whole body, refusing it as soon as more than `limit` bytes
/// arrived. A body that arrives in one frame is kept as it is; one in
/// several is copied frame by frame, while each is still in the cache, into
/// one buffer sized from `Content-Length`.
pub(crate) async fn read_body<B>(
    body: B,
    limit: usize,
    declared: Option<u64>,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    let mut total = 0_usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Read)?.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            held => {
                if let Some(held) = held {
                    let expected = declared.and_then(|length| usize::try_from(length).ok());
                    joined.reserve(expected.unwrap_or(0).clamp(total, limit));
                    joined.extend_from_slice(&held);
                }
                joined.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

//! Where the in-memory log keeps the headers and bodies of its records:
//! large chunks filled front to back and freed oldest first, as records
//! are.
//!
//! A record outlives the request it came with. Were each body an
//! allocation of its own among the request's short-lived ones (read
//! buffers, futures), the heap would fill with long-lived pieces between
//! freed ones: the request's next buffers would find no hole to fit and
//! grow the heap, each new page a fault. Kept apart in chunks, the bodies
//! leave the heap to the requests, and a chunk freed is reused whole.

use std::collections::VecDeque;
use std::num::NonZeroU64;

/// The size of a chunk; a part larger than this gets a chunk of its own.
const CHUNK: usize = 1 << 20;

/// Parts kept in chunks, each released once, oldest first for the memory
/// to be reused at once (a part released out of order is freed with the
/// last part of its chunk).
#[derive(Debug)]
pub(super) struct Arena {
    /// The chunks that hold live parts, oldest first; the last is filled.
    chunks: VecDeque<Chunk>,
    /// The number of `chunks[0]`, counting every chunk ever made from 1.
    first: u64,
    /// A freed chunk kept for the next one, so that a log that holds
    /// steady allocates nothing.
    spare: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Chunk {
    bytes: Vec<u8>,
    /// Bytes of parts not yet released.
    live: usize,
}

/// Where a part is: its chunk's number, its offset and its length; 16
/// bytes, and no more as an `Option`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Part {
    chunk: NonZeroU64,
    start: u32,
    len: u32,
}

impl Part {
    /// Its length in bytes.
    pub(super) fn len(self) -> usize {
        self.len as usize
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self {
            chunks: VecDeque::new(),
            first: 1,
            spare: None,
        }
    }
}

impl Arena {
    /// Keeps `pieces` as one part, one after the other; together they are
    /// under 4 GiB (a body is at most the server's body limit).
    pub(super) fn put(&mut self, pieces: &[&[u8]]) -> Part {
        let len = pieces.iter().map(|piece| piece.len()).sum();
        self.put_with(len, |bytes| {
            for piece in pieces {
                bytes.extend_from_slice(piece);
            }
        })
    }

    /// Keeps what `write` appends, at most `bound` bytes, as one part.
    pub(super) fn put_with(&mut self, bound: usize, write: impl FnOnce(&mut Vec<u8>)) -> Part {
        let fits = self
            .chunks
            .back()
            .is_some_and(|last| last.bytes.capacity() - last.bytes.len() >= bound);
        if !fits {
            let bytes = match self.spare.take() {
                Some(mut spare) if spare.capacity() >= bound => {
                    spare.clear();
                    spare
                }
                _ => Vec::with_capacity(bound.max(CHUNK)),
            };
            self.chunks.push_back(Chunk { bytes, live: 0 });
        }
        let chunk = NonZeroU64::new(self.first + self.chunks.len() as u64 - 1)
            .expect("chunks are counted from 1");
        let last = self.chunks.back_mut().expect("a chunk was just made");
        let start = last.bytes.len();
        let capacity = last.bytes.capacity();
        write(&mut last.bytes);
        debug_assert!(last.bytes.capacity() == capacity, "wrote past the bound");
        let len = last.bytes.len() - start;
        last.live += len;
        let small = |n: usize| u32::try_from(n).expect("a part and its chunk are under 4 GiB");
        Part {
            chunk,
            start: small(start),
            len: small(len),
        }
    }

    /// The bytes of `part`, which is not released.
    pub(super) fn get(&self, part: Part) -> &[u8] {
        let chunk = &self.chunks[(part.chunk.get() - self.first) as usize];
        &chunk.bytes[part.range()]
    }

    /// Gives `part` up; the oldest chunks left with no live part are
    /// freed, the last kept as the spare.
    pub(super) fn release(&mut self, part: Part) {
        let at = (part.chunk.get() - self.first) as usize;
        self.chunks[at].live -= part.len();
        // The chunk being filled stays, even empty.
        while self.chunks.len() > 1 && self.chunks[0].live == 0 {
            let freed = self.chunks.pop_front().expect("more than one chunk");
            self.first += 1;
            if freed.bytes.capacity() == CHUNK {
                self.spare = Some(freed.bytes);
            }
        }
    }

    /// Bytes held in chunks, live or not (for tests of what is freed).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.bytes.capacity()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_read_back_and_chunks_are_freed_oldest_first() {
        let mut arena = Arena::default();
        let half = vec![1; CHUNK / 2];
        let a = arena.put(&[&half, b"a"]);
        let b = arena.put(&[&half[1..]]);
        let c = arena.put(&[b"c", b"c"]);
        assert_eq!(arena.get(a).len(), CHUNK / 2 + 1);
        assert_eq!(arena.get(a)[CHUNK / 2], b'a');
        assert_eq!(arena.get(c), b"cc");
        let chunks = [a, b, c].map(|part| part.chunk.get());
        assert_eq!(chunks, [1, 1, 2], "b fills the first");
        assert_eq!(arena.held(), 2 * CHUNK);

        // Out of order: the first chunk goes with its last part.
        arena.release(b);
        assert_eq!(arena.held(), 2 * CHUNK);
        arena.release(a);
        assert_eq!(arena.held(), CHUNK);
        assert_eq!(arena.get(c), b"cc");

        // The chunk being filled stays; the freed one is reused.
        arena.release(c);
        assert_eq!(arena.held(), CHUNK);
        let d = arena.put(&[&vec![2; CHUNK]]);
        assert_eq!((d.chunk.get(), arena.held()), (3, 2 * CHUNK));
        assert!(arena.spare.is_none(), "the spare was taken");
        assert!(arena.get(d).iter().all(|&byte| byte == 2));
    }

    #[test]
    fn a_part_larger_than_a_chunk_gets_its_own() {
        let mut arena = Arena::default();
        let small = arena.put(&[b"x"]);
        let large = arena.put(&[&vec![3; CHUNK + 1]]);
        assert_eq!(arena.get(large).len(), CHUNK + 1);
        assert_eq!(arena.get(small), b"x");
        arena.release(small);
        arena.release(large);
        assert_eq!(arena.held(), CHUNK + 1, "the last chunk stays");
        assert!(arena.spare.is_some(), "the chunk-sized one is kept");
        let again = arena.put(&[b"y"]);
        assert_eq!(arena.get(again), b"y");
    }

    #[test]
    fn a_part_written_in_place_is_what_was_written_not_its_bound() {
        let mut arena = Arena::default();
        let written = arena.put_with(10, |bytes| bytes.extend_from_slice(b"abc"));
        let next = arena.put(&[b"de"]);
        assert_eq!(
            (arena.get(written), arena.get(next)),
            (&b"abc"[..], &b"de"[..])
        );
        assert_eq!((written.len(), next.start), (3, 3));
        // A bound the last chunk cannot hold opens the next one.
        let far = arena.put_with(CHUNK, |bytes| bytes.push(b'f'));
        assert_eq!((far.chunk.get(), arena.get(far)), (2, &b"f"[..]));
        arena.release(written);
        arena.release(next);
        assert_eq!(arena.held(), CHUNK, "the first chunk went");
    }

    #[test]
    fn an_empty_part_reads_back_empty() {
        let mut arena = Arena::default();
        let empty = arena.put(&[]);
        assert_eq!(arena.get(empty), b"");
        arena.release(empty);
    }
}

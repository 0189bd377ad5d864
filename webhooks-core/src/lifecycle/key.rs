//! The store key of a delivery.

/// The store key of a delivery, `<source>:<id>`: built on the stack when
/// it is short (delivery ids are UUIDs and the like), so no allocation.
pub(crate) enum StoreKey {
    Inline { bytes: [u8; INLINE_KEY], len: usize },
    Heap(String),
}

/// The longest key [`StoreKey`] keeps on the stack.
const INLINE_KEY: usize = 96;

impl StoreKey {
    pub(crate) fn new(source: &str, id: &str) -> Self {
        let len = source.len() + 1 + id.len();
        if len > INLINE_KEY {
            return Self::Heap(format!("{source}:{id}"));
        }
        let mut bytes = [0; INLINE_KEY];
        bytes[..source.len()].copy_from_slice(source.as_bytes());
        bytes[source.len()] = b':';
        bytes[source.len() + 1..len].copy_from_slice(id.as_bytes());
        Self::Inline { bytes, len }
    }
}

impl StoreKey {
    /// The source part: source names have no `:`.
    pub(crate) fn source(&self) -> &str {
        self.split_once(':').map_or("", |(source, _)| source)
    }
}

impl std::ops::Deref for StoreKey {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Self::Inline { bytes, len } => {
                std::str::from_utf8(&bytes[..*len]).expect("two strings and a colon")
            }
            Self::Heap(key) => key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreKey;

    #[test]
    fn store_keys_join_source_and_id_on_the_stack_or_the_heap() {
        let short = StoreKey::new("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert!(matches!(short, StoreKey::Inline { .. }));
        assert_eq!(&*short, "github:72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(short.source(), "github");
        let id = "é".repeat(60);
        let long = StoreKey::new("stripe", &id);
        assert!(matches!(long, StoreKey::Heap(_)));
        assert_eq!(&*long, format!("stripe:{id}"));
        let exact = StoreKey::new("s", &"x".repeat(94));
        assert_eq!(exact.len(), 96);
    }
}

//! A configured source: its name, its validator and its listeners.

use std::fmt;
use std::sync::Arc;

use crate::SignatureValidator;
use crate::config::IpRanges;
use crate::listener::{ErasedListener, EventPattern};

/// A configured source and its listeners.
pub(crate) struct Source {
    pub(crate) name: Arc<str>,
    pub(crate) validator: Arc<dyn SignatureValidator>,
    pub(crate) listeners: Vec<Listed>,
    /// `allow-ips`: the only clients it accepts, when set.
    pub(crate) allow_ips: Option<IpRanges>,
}

/// A listener of a source: its pattern, and a key unique within the source
/// (its name, with `#2`, `#3` … for repeats) that retries use to skip the
/// listeners that already succeeded.
pub(crate) struct Listed {
    pub(crate) pattern: EventPattern,
    pub(crate) key: Arc<str>,
    /// Its position among the source's listeners, from 1: its slot in the
    /// metrics (0 is "no listener").
    pub(crate) slot: usize,
    pub(crate) listener: Arc<dyn ErasedListener>,
}

impl Source {
    /// The listeners whose pattern matches `event_type`, with their keys.
    pub(crate) fn matching<'s, 'e>(
        &'s self,
        event_type: &'e str,
    ) -> impl Iterator<Item = &'s Listed> + use<'s, 'e> {
        let families = self.validator.event_families();
        self.listeners
            .iter()
            .filter(move |listed| listed.pattern.matches(event_type, families))
    }

    /// The metrics slot of the listener with this key, if it has one.
    pub(crate) fn slot(&self, key: &str) -> Option<usize> {
        self.listeners
            .iter()
            .find(|listed| *listed.key == *key)
            .map(|listed| listed.slot)
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("validator", &self.validator)
            .field("allow_ips", &self.allow_ips)
            .field(
                "listeners",
                &self
                    .listeners
                    .iter()
                    .map(|listed| &*listed.key)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

//! The object-safe form of [`EventLog`] that the core keeps.

use std::fmt;
use std::sync::Arc;

use super::{EventLog, EventPage, EventQuery, EventRecord, InMemoryEventLog, Received, RunRecord};
use crate::{BoxFuture, StoreError};

pub(crate) trait ErasedLog: Send + Sync + fmt::Debug {
    fn received<'a>(&'a self, event: &'a Received<'a>) -> BoxFuture<'a, Result<(), StoreError>>;
    fn redelivered<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn ran<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
        run: &'a RunRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn get<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<EventRecord>, StoreError>>;
    fn list<'a>(&'a self, query: &'a EventQuery) -> BoxFuture<'a, Result<EventPage, StoreError>>;
}

impl<L: EventLog> ErasedLog for L {
    fn received<'a>(&'a self, event: &'a Received<'a>) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(EventLog::received(self, event))
    }
    fn redelivered<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(EventLog::redelivered(self, source, id))
    }
    fn ran<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
        run: &'a RunRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(EventLog::ran(self, source, id, run))
    }
    fn get<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<EventRecord>, StoreError>> {
        Box::pin(EventLog::get(self, source, id))
    }
    fn list<'a>(&'a self, query: &'a EventQuery) -> BoxFuture<'a, Result<EventPage, StoreError>> {
        Box::pin(EventLog::list(self, query))
    }
}

/// The event log the core writes: the in-memory one is called directly,
/// without a boxed future, on every delivery; any other through
/// [`ErasedLog`].
#[derive(Debug, Clone)]
pub(crate) enum Log {
    /// Written in place: a lock, no round trip.
    Memory(Arc<InMemoryEventLog>),
    Other(Arc<dyn ErasedLog>),
}

impl Log {
    pub(crate) fn new(log: impl EventLog) -> Self {
        let log: Arc<dyn ErasedLog> = Arc::new(log);
        Self::Other(log)
    }

    pub(crate) fn memory(log: InMemoryEventLog) -> Self {
        Self::Memory(Arc::new(log))
    }

    pub(crate) async fn received(&self, event: &Received<'_>) -> Result<(), StoreError> {
        match self {
            Self::Memory(log) => EventLog::received(&**log, event).await,
            Self::Other(log) => log.received(event).await,
        }
    }

    /// Writes a run; the in-memory log takes it without a copy.
    pub(crate) async fn ran(
        &self,
        source: &str,
        id: &str,
        run: RunRecord,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(log) => {
                log.ran_owned(source, id, run);
                Ok(())
            }
            Self::Other(log) => log.ran(source, id, &run).await,
        }
    }

    pub(crate) async fn get(
        &self,
        source: &str,
        id: &str,
    ) -> Result<Option<EventRecord>, StoreError> {
        match self {
            Self::Memory(log) => EventLog::get(&**log, source, id).await,
            Self::Other(log) => log.get(source, id).await,
        }
    }

    pub(crate) async fn list(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        match self {
            Self::Memory(log) => EventLog::list(&**log, query).await,
            Self::Other(log) => log.list(query).await,
        }
    }
}

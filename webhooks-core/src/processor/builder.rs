//! Building a processor, from code or from the configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::WebhookProcessor;
use crate::config::{
    DispatchConfig, DispatchMode, EventLogConfig, IpRanges, StoreProvider, WebhooksConfig,
};
use crate::event_log::{EventLog, InMemoryEventLog, Log};
use crate::intake::{ErasedIntake, Intake};
use crate::lifecycle::{Lifecycle, RetryPolicy, Settings};
use crate::listener::{ErasedListener, EventPattern};
use crate::queue::{DeadLetterBounds, EventQueue, Queue};
use crate::registry::{Registered, registered_listeners};
use crate::source::{Listed, Source};
use crate::store::Store;
use crate::{
    BuildError, ConfigError, IdempotencyStore, Metrics, SignatureValidator, WebhookListener,
};

/// How listeners run: the `[webhooks.dispatch]` table.
pub type Dispatch = DispatchConfig;

/// Builds a [`WebhookProcessor`].
///
/// By default it collects every `#[webhook_listener]` linked into the
/// program, uses the in-memory store, a TTL of one day, and inline dispatch.
///
/// ```
/// use webhooks_core::{StripeSignatureValidator, WebhookProcessor};
///
/// let processor = WebhookProcessor::builder()
///     .register_validator("stripe", StripeSignatureValidator::new("whsec_test").unwrap().tolerance_seconds(600))
///     .idempotency_ttl(std::time::Duration::from_secs(3600))
///     .build()
///     .unwrap();
/// assert!(processor.has_source("stripe"));
/// ```
#[must_use]
pub struct ProcessorBuilder {
    validators: Vec<(String, Arc<dyn SignatureValidator>)>,
    allow_ips: Vec<(String, IpRanges)>,
    listeners: Vec<Arc<dyn ErasedListener>>,
    store: Option<Store>,
    queue: Option<Queue>,
    event_log: Option<Log>,
    intake: Option<Arc<dyn ErasedIntake>>,
    log_config: EventLogConfig,
    missing_store: Option<String>,
    registered: bool,
    other_sources: OtherSources,
    ttl: Duration,
    lease: Duration,
    dispatch: Dispatch,
    shutdown_timeout: Duration,
    metrics: Option<Metrics>,
}

impl ProcessorBuilder {
    pub(super) fn new() -> Self {
        Self {
            validators: Vec::new(),
            allow_ips: Vec::new(),
            listeners: Vec::new(),
            store: None,
            queue: None,
            event_log: None,
            intake: None,
            log_config: EventLogConfig::default(),
            missing_store: None,
            registered: true,
            other_sources: OtherSources::Refused,
            ttl: Duration::from_secs(86_400),
            lease: Duration::from_secs(60),
            dispatch: Dispatch::default(),
            shutdown_timeout: Duration::from_secs(30),
            metrics: None,
        }
    }

    /// A builder with the sources, TTLs, dispatch and (for `in-memory`)
    /// store of the configuration; `secret-env` variables are read now.
    ///
    /// With `provider = "redis"`, a store must still be given with
    /// [`ProcessorBuilder::store`].
    pub fn from_config(config: &WebhooksConfig) -> Result<Self, ConfigError> {
        let sources = config.resolve_sources()?;
        let mut builder = Self::new()
            .idempotency_ttl(config.ttl())
            .claim_lease(config.lease())
            .shutdown_timeout(config.shutdown_timeout())
            .dispatch(config.dispatch.clone())
            .event_log_config(config.event_log.clone());
        if !config.enabled {
            return Ok(builder.registered_listeners(false));
        }
        for source in sources {
            if let Some(ranges) = source.allow_ips {
                builder.allow_ips.push((source.name.clone(), ranges));
            }
            builder.validators.push((source.name, source.validator));
        }
        if config.idempotency.provider == StoreProvider::Redis {
            // Read now, so that an unset `url-env` variable is a start-up
            // error naming it, whoever builds the Redis store.
            if let Some(redis) = &config.idempotency.redis {
                redis.url()?;
            }
            builder.missing_store = Some(
                "provider = \"redis\" needs a Redis store: enable the `redis` feature of `webhooks`".into(),
            );
        }
        Ok(builder)
    }

    /// Verifies deliveries to `source` (the path segment) with `validator`.
    pub fn register_validator(
        mut self,
        source: impl Into<String>,
        validator: impl SignatureValidator,
    ) -> Self {
        self.validators.push((source.into(), Arc::new(validator)));
        self
    }

    /// Accepts deliveries to `source` only from clients in `ranges`: the
    /// transport refuses any other with 403 before any signature work
    /// ([`Route::admit`](crate::Route::admit)).
    ///
    /// ```
    /// use webhooks_core::config::IpRanges;
    /// use webhooks_core::{GitHubSignatureValidator, WebhookProcessor};
    ///
    /// let hooks = IpRanges::from_cidrs(["192.30.252.0/22", "2a0a:a440::/29"]).unwrap();
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
    ///     .allow_ips("github", hooks)
    ///     .build()
    ///     .unwrap();
    /// let github = processor.route("github").unwrap();
    /// assert!(github.admit(Some("192.30.252.10".parse().unwrap())).is_ok());
    /// assert!(github.admit(Some("203.0.113.9".parse().unwrap())).is_err());
    /// ```
    pub fn allow_ips(mut self, source: impl Into<String>, ranges: IpRanges) -> Self {
        self.allow_ips.push((source.into(), ranges));
        self
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: impl WebhookListener) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Whether to collect the `#[webhook_listener]` functions linked into the
    /// program (default: yes).
    pub fn registered_listeners(mut self, collect: bool) -> Self {
        self.registered = collect;
        self
    }

    /// Leaves out the `#[webhook_listener]` functions of sources this
    /// builder has no validator for, instead of failing with
    /// [`BuildError::UnconfiguredSource`]: for a test of one source in an
    /// application that listens to several. The registered listeners of
    /// the configured sources still run (they are the code under test);
    /// listeners given with [`ProcessorBuilder::listener`] are checked as
    /// always, and [`ProcessorBuilder::registered_listeners`]`(false)`
    /// still leaves out every registered one.
    ///
    /// A server keeps the strict default: there a listener for a source
    /// that nothing configures is a start-up error, never a silent no-op.
    ///
    /// ```
    /// use webhooks_core::{StripeSignatureValidator, WebhookProcessor};
    ///
    /// // Builds even if the program has listeners for `github` too.
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("stripe", StripeSignatureValidator::new("whsec_test").unwrap())
    ///     .ignore_other_sources()
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(processor.sources().collect::<Vec<_>>(), ["stripe"]);
    /// ```
    pub fn ignore_other_sources(mut self) -> Self {
        self.other_sources = OtherSources::Ignored;
        self
    }

    /// Uses this store instead of the in-memory one; give an `Arc` of a
    /// store to share it between processors.
    pub fn store(mut self, store: impl IdempotencyStore) -> Self {
        self.store = Some(Store::new(store));
        self.missing_store = None;
        self
    }

    /// Queued mode: keeps events in this queue instead of the in-memory one.
    pub fn queue(mut self, queue: impl EventQueue) -> Self {
        self.queue = Some(Queue::new(queue));
        self
    }

    /// Records events in this log instead of the in-memory one (unless the
    /// log is turned off with [`ProcessorBuilder::event_log_config`]).
    pub fn event_log(mut self, log: impl EventLog) -> Self {
        self.event_log = Some(Log::new(log));
        self
    }

    /// Takes the accept path's storage steps through `intake`, one atomic
    /// round trip per delivery, rather than one by one. The intake must
    /// store in the same place as the store, queue and event log given
    /// here; a backend makes one for storage it made together. It is used
    /// only when it fits: it writes the log exactly when the processor
    /// keeps a log other than the in-memory one, and in queued mode it
    /// pushes to the queue.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use webhooks_core::event_log::Received;
    /// # use webhooks_core::intake::{Enqueued, Intake};
    /// # use webhooks_core::{Claim, IdempotencyStore, InMemoryWebhookEventStore, StoreError, WebhookEvent};
    /// # #[derive(Debug, Default)]
    /// # struct ClaimOnly(std::sync::Arc<InMemoryWebhookEventStore>);
    /// # impl Intake for ClaimOnly {
    /// #     async fn claim(&self, key: &str, lease: Duration, _: Option<&Received<'_>>) -> Result<Claim, StoreError> {
    /// #         self.0.claim(key, lease).await
    /// #     }
    /// #     async fn complete(&self, key: &str, lease: &webhooks_core::Lease, ttl: Duration, _: Option<(&str, &str, &webhooks_core::event_log::RunRecord)>) -> Result<bool, StoreError> {
    /// #         self.0.complete(key, lease, ttl).await
    /// #     }
    /// #     async fn enqueue(&self, _: &str, _: Duration, _: usize, _: &WebhookEvent, _: Option<&Received<'_>>) -> Result<Enqueued, StoreError> {
    /// #         Err(StoreError::new("no queue here"))
    /// #     }
    /// #     async fn ack(&self, _: &webhooks_core::queue::Reservation, _: Option<(&str, &str, &webhooks_core::event_log::RunRecord)>) -> Result<bool, StoreError> {
    /// #         Err(StoreError::new("no queue here"))
    /// #     }
    /// #     fn records_log(&self) -> bool { false }
    /// #     fn queues(&self) -> bool { false }
    /// # }
    /// use webhooks_core::config::EventLogConfig;
    /// use webhooks_core::WebhookProcessor;
    ///
    /// let store = std::sync::Arc::new(InMemoryWebhookEventStore::new());
    /// let no_log = EventLogConfig { enabled: false, ..EventLogConfig::default() };
    /// let processor = WebhookProcessor::builder()
    ///     .store(store.clone())
    ///     .intake(ClaimOnly(store))
    ///     .event_log_config(no_log)
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn intake(mut self, intake: impl Intake) -> Self {
        self.intake = Some(Arc::new(intake));
        self
    }

    /// The event log's settings, `[webhooks.event-log]`: on or off, whether
    /// bodies are kept, and the in-memory log's bounds (default: on, bodies
    /// kept, 100000 events, 72 hours, 256 MiB of bodies).
    ///
    /// ```
    /// use webhooks_core::config::EventLogConfig;
    /// use webhooks_core::WebhookProcessor;
    ///
    /// let off = EventLogConfig { enabled: false, ..EventLogConfig::default() };
    /// let processor = WebhookProcessor::builder().event_log_config(off).build().unwrap();
    /// assert!(!processor.has_event_log());
    /// ```
    pub fn event_log_config(mut self, config: EventLogConfig) -> Self {
        self.log_config = config;
        self
    }

    /// How long a completed delivery id is remembered (default: one day).
    pub fn idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a claim holds a delivery id while it is processed
    /// (default: 60 s).
    pub fn claim_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How listeners run (default: inline).
    pub fn dispatch(mut self, dispatch: Dispatch) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// How long [`WebhookProcessor::shutdown`] lets in-flight events run
    /// before it cuts them short and hands them back (default: 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Records into these metrics instead of fresh ones.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Checks the sources and listeners and builds the processor. Queued
    /// dispatch starts its workers, so it must run inside a Tokio runtime.
    pub fn build(self) -> Result<WebhookProcessor, BuildError> {
        if let Some(reason) = self.missing_store {
            return Err(BuildError::Store(reason));
        }
        let mut sources: HashMap<Box<str>, Source> = HashMap::new();
        for (name, validator) in self.validators {
            let valid = webhooks_rules::check_source_name(&name).is_ok();
            if !valid {
                return Err(BuildError::InvalidSourceName(name));
            }
            if sources.contains_key(name.as_str()) {
                return Err(BuildError::DuplicateSource(name));
            }
            let source = Source {
                name: Arc::from(name.as_str()),
                validator,
                listeners: Vec::new(),
                allow_ips: None,
            };
            sources.insert(name.into(), source);
        }
        restrict_clients(&mut sources, self.allow_ips)?;
        let mut listeners = self.listeners;
        if self.registered {
            let ignored = self.other_sources == OtherSources::Ignored;
            for registration in registered_listeners()? {
                let registered = Registered(registration);
                if ignored && !sources.contains_key(WebhookListener::source(&registered)) {
                    continue;
                }
                listeners.push(Arc::new(registered));
            }
        }
        for listener in listeners {
            let pattern = EventPattern::parse(listener.event()).map_err(|reason| {
                BuildError::InvalidPattern {
                    listener: listener.name().to_owned(),
                    pattern: listener.event().to_owned(),
                    reason,
                }
            })?;
            let source = sources.get_mut(listener.source()).ok_or_else(|| {
                BuildError::UnconfiguredSource {
                    listener: listener.name().to_owned(),
                    source_name: listener.source().to_owned(),
                }
            })?;
            let repeats = source
                .listeners
                .iter()
                .filter(|listed| listed.listener.name() == listener.name())
                .count();
            let key = match repeats {
                0 => listener.name().into(),
                n => format!("{}#{}", listener.name(), n + 1).into(),
            };
            let slot = source.listeners.len() + 1;
            source.listeners.push(Listed {
                pattern,
                key,
                slot,
                listener,
            });
        }
        let dispatch = &self.dispatch;
        let queue = match dispatch.mode {
            DispatchMode::Inline => None,
            DispatchMode::Queued => {
                tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
                Some(self.queue.unwrap_or_default())
            }
        };
        let settings = Settings {
            ttl: self.ttl,
            lease: self.lease,
            listener_timeout: dispatch.listener_timeout(),
            capacity: dispatch.queue_capacity,
            visibility: Duration::from_secs(dispatch.visibility_timeout_seconds),
            workers: dispatch.workers.unwrap_or(DispatchConfig::DEFAULT_WORKERS),
            policy: RetryPolicy {
                max_attempts: dispatch.max_attempts,
                backoff_initial: Duration::from_millis(dispatch.backoff_initial_ms),
                dead_letters: DeadLetterBounds {
                    max: dispatch.dead_letter_max,
                    retention: dispatch.dead_letter_retention(),
                },
            },
            shutdown_timeout: self.shutdown_timeout,
        };
        let sources = sources
            .into_iter()
            .map(|(name, source)| (name, Arc::new(source)))
            .collect();
        let log_config = &self.log_config;
        let log = log_config.enabled.then(|| {
            let log = self
                .event_log
                .unwrap_or_else(|| Log::memory(InMemoryEventLog::new(log_config.bounds())));
            (log, log_config.keep_bodies)
        });
        let lifecycle = Arc::new(Lifecycle::new(
            sources,
            self.store.unwrap_or_default(),
            queue,
            log,
            self.intake,
            self.metrics.unwrap_or_default(),
            settings,
        ));
        lifecycle.start_worker();
        Ok(WebhookProcessor { lifecycle })
    }
}

/// What becomes of a `#[webhook_listener]` for a source with no validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OtherSources {
    /// [`BuildError::UnconfiguredSource`]: never an open door by accident.
    Refused,
    /// Left out ([`ProcessorBuilder::ignore_other_sources`]).
    Ignored,
}

/// Gives each source its `allow-ips`; a list for a source that has no
/// validator is an error, not a silent no-op.
fn restrict_clients(
    sources: &mut HashMap<Box<str>, Source>,
    allow_ips: Vec<(String, IpRanges)>,
) -> Result<(), BuildError> {
    for (name, ranges) in allow_ips {
        let source = sources
            .get_mut(name.as_str())
            .ok_or(BuildError::UnconfiguredAllowList(name))?;
        source.allow_ips = Some(ranges);
    }
    Ok(())
}

impl std::fmt::Debug for ProcessorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorBuilder")
            .field(
                "sources",
                &self
                    .validators
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("listeners", &self.listeners.len())
            .field("registered", &self.registered)
            .field("other_sources", &self.other_sources)
            .field("ttl", &self.ttl)
            .field("dispatch", &self.dispatch)
            .finish()
    }
}

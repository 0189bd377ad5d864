//! The replay window of the schemes that sign a timestamp.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::SignatureError;

/// The clock a timestamped scheme checks its tolerance against: seconds
/// since the Unix epoch. Injectable so tests can use a fixed time.
#[derive(Clone)]
pub struct Clock(Option<Arc<dyn Fn() -> i64 + Send + Sync>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that always reads `unix_seconds`.
    pub fn fixed(unix_seconds: i64) -> Self {
        Self(Some(Arc::new(move || unix_seconds)))
    }

    /// A clock read from a function.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(now)))
    }

    /// Now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(now) => now(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs() as i64),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(custom)"
        } else {
            "Clock(system)"
        })
    }
}

/// The replay window of a scheme that signs a timestamp: a clock, and how
/// far from it a signed timestamp may be, either way.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    /// Set by [`freshness_builders`], expanded in each validator's module.
    pub(super) tolerance_seconds: u64,
    pub(super) clock: Clock,
}

impl Freshness {
    /// This window, on the system clock.
    pub(crate) fn new(tolerance_seconds: u64) -> Self {
        Self {
            tolerance_seconds,
            clock: Clock::system(),
        }
    }

    /// Whether `timestamp` (Unix seconds) is within the window.
    pub(crate) fn check(&self, timestamp: i64) -> Result<(), SignatureError> {
        let skew_seconds = self.clock.now().saturating_sub(timestamp);
        if skew_seconds.unsigned_abs() > self.tolerance_seconds {
            return Err(SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: self.tolerance_seconds,
                skew_seconds,
            });
        }
        Ok(())
    }
}

/// The builder methods of a validator whose `freshness` field is its
/// [`Freshness`]: the same two on every timestamped scheme.
macro_rules! freshness_builders {
    () => {
        /// Accepts timestamps this many seconds away from now, either way.
        #[must_use]
        pub fn tolerance_seconds(mut self, seconds: u64) -> Self {
            self.freshness.tolerance_seconds = seconds;
            self
        }

        /// Checks the tolerance against this clock instead of the system's.
        #[must_use]
        pub fn clock(mut self, clock: Clock) -> Self {
            self.freshness.clock = clock;
            self
        }
    };
}
pub(crate) use freshness_builders;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_reads_its_source_and_says_which_it_is() {
        let custom = Clock::from_fn(|| 1_234);
        assert_eq!(custom.now(), 1_234);
        assert_eq!(Clock::fixed(-5).now(), -5);
        assert!(Clock::system().now() > 1_700_000_000);
        assert_eq!(format!("{custom:?}"), "Clock(custom)");
        assert_eq!(format!("{:?}", Clock::default()), "Clock(system)");
    }
}

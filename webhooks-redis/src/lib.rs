//! webhooks-redis

//! webhooks-macros

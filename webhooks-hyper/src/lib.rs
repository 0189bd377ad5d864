//! webhooks-hyper

//! The arguments of `#[webhook_listener(source = "…", event = "…", crate = "…")]`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, Lit, LitStr, Path, Token};
use webhooks_rules::{EventPattern, check_source_name};

mod kw {
    syn::custom_keyword!(source);
    syn::custom_keyword!(event);
}

/// The parsed and checked arguments.
pub(crate) struct Args {
    /// The configured source name, such as `stripe`.
    pub(crate) source: LitStr,
    /// The event pattern, such as `payment_intent.succeeded` or `customer.*`.
    pub(crate) event: LitStr,
    /// The path of the `webhooks` crate, `::webhooks` unless renamed.
    pub(crate) krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut source = None;
        let mut event = None;
        let mut krate = None;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::source) {
                let key = input.parse::<kw::source>()?;
                let value = value(input, "source", "stripe")?;
                check_source(&value)?;
                set(&mut source, value, key.span, "source")?;
            } else if lookahead.peek(kw::event) {
                let key = input.parse::<kw::event>()?;
                let value = value(input, "event", "payment_intent.succeeded")?;
                check_event(&value)?;
                set(&mut event, value, key.span, "event")?;
            } else if lookahead.peek(Token![crate]) {
                let key = input.parse::<Token![crate]>()?;
                let value = value(input, "crate", "webhooks")?;
                let path = value.parse_with(Path::parse_mod_style).map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`crate` must be a path to the `webhooks` crate, like `crate = \"webhooks\"`",
                    )
                })?;
                set(&mut krate, path, key.span, "crate")?;
            } else if input.peek(Ident::peek_any) {
                let key = input.call(Ident::parse_any)?;
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown argument `{key}`; expected `source`, `event` or `crate`"),
                ));
            } else {
                return Err(lookahead.error());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        let source = source.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `source`: add the configured source name, like `source = \"stripe\"`",
            )
        })?;
        let event = event.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `event`: add the event type, like `event = \"payment_intent.succeeded\"`, or `event = \"*\"` for every event",
            )
        })?;
        Ok(Self {
            source,
            event,
            krate,
        })
    }
}

/// Parses `= "…"` after `key`; anything but a string literal is an error
/// at the value.
fn value(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<LitStr> {
    input.parse::<Token![=]>()?;
    let mut value = input.parse::<Expr>()?;
    // A value passed through a `macro_rules!` fragment arrives in a group.
    while let Expr::Group(group) = value {
        value = *group.expr;
    }
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit),
            attrs,
        }) if attrs.is_empty() => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` must be a string literal, like `{key} = \"{example}\"`"),
        )),
    }
}

/// Stores a value, rejecting a second one for the same key.
fn set<T>(slot: &mut Option<T>, value: T, key: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(key, format!("duplicate `{name}` argument")));
    }
    *slot = Some(value);
    Ok(())
}

/// A source name is a path segment (the rule the processor's builder checks
/// at run time); the error points at the literal.
fn check_source(lit: &LitStr) -> syn::Result<()> {
    let source = lit.value();
    check_source_name(&source).map_err(|reason| {
        let message = if source.is_empty() {
            "`source` may not be empty".to_owned()
        } else {
            format!("invalid source name `{source}`: {reason}")
        };
        syn::Error::new(lit.span(), message)
    })
}

/// The runtime's event pattern rules: an exact type, `*` alone, or a prefix
/// ending in a last `.*` segment; the error points at the literal.
fn check_event(lit: &LitStr) -> syn::Result<()> {
    let pattern = lit.value();
    EventPattern::parse(&pattern).map(drop).map_err(|reason| {
        let message = if pattern.is_empty() {
            "`event` may not be empty; use `event = \"*\"` for every event".to_owned()
        } else {
            format!("invalid event pattern `{pattern}`: {reason}")
        };
        syn::Error::new(lit.span(), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_in_any_order() {
        let args: Args = syn::parse_quote!(event = "push", crate = "::renamed", source = "github",);
        assert_eq!(args.source.value(), "github");
        assert_eq!(args.event.value(), "push");
        assert!(args.krate.is_some());
    }

    #[test]
    fn misuse_is_an_error() {
        for tokens in [
            quote::quote!(source = "a"),
            quote::quote!(event = "a"),
            quote::quote!(source = "a", source = "b", event = "c"),
            quote::quote!(source = "a", event = "b", sourc = "c"),
            quote::quote!(source = A, event = "b"),
            quote::quote!(source = "a b", event = "b"),
            quote::quote!(source = "a", event = ""),
            quote::quote!(source = "", event = "b"),
            quote::quote!(source = "a", event = "a.*.b"),
            quote::quote!(source = "a", event = "b", crate = "not a path"),
        ] {
            assert!(syn::parse2::<Args>(tokens.clone()).is_err(), "{tokens}");
        }
    }
}

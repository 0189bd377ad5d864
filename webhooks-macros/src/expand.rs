//! Code generation: the function as written, plus a handler registered with
//! `inventory`.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, Item, ItemFn, LitStr, PathArguments, ReturnType, Signature, Type,
};

use crate::attr::Args;

/// Expands `#[webhook_listener(args)] item`.
pub(crate) fn expand(args: &Args, item: Item) -> syn::Result<TokenStream> {
    let function = match item {
        Item::Fn(function) => function,
        other => return Err(not_a_function(&other)),
    };
    let checked = check(&function)?;
    let krate = match &args.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::webhooks),
    };
    let private = quote!(#krate::__private);
    let source = &args.source;
    let event = &args.event;
    let ident = &function.sig.ident;
    let name = LitStr::new(&ident.unraw().to_string(), ident.span());
    let cfgs = function
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"));

    // Each check is spanned at the user's tokens, so that the compiler's
    // type errors point at the argument type, the return type or its error.
    let (bindings, names): (Vec<_>, Vec<_>) = checked
        .arguments
        .iter()
        .enumerate()
        .map(|(index, argument)| bind(argument, index, &private))
        .unzip();
    let output_span = checked.output.span();
    let mut callee = ident.clone();
    callee.set_span(output_span);
    let call = quote_spanned! {output_span=>
        let __webhooks_result = __webhooks_Output::__webhooks_result(#callee(#(#names),*).await);
    };
    let error_span = error_span(checked.output);
    let box_error = respan(quote!(#private::BoxError), error_span);
    let convert = quote_spanned! {error_span=>
        ::core::result::Result::map_err(
            __webhooks_result,
            ::core::convert::Into::<#box_error>::into,
        )
    };
    // A future that is not `Send` is reported at the function's name.
    let body = quote_spanned! {ident.span()=>
        ::std::boxed::Box::pin(async move {
            #(#bindings)*
            #call
            #convert
        })
    };

    Ok(quote! {
        #function

        #(#cfgs)*
        const _: () = {
            #[diagnostic::on_unimplemented(
                message = "a webhook listener must return `Result<(), E>`, not `{Self}`",
                label = "expected `Result<(), E>` where `E: Into<webhooks::BoxError>`"
            )]
            #[allow(non_camel_case_types)]
            trait __webhooks_Output {
                type Error;
                fn __webhooks_result(self) -> ::core::result::Result<(), Self::Error>;
            }

            impl<E> __webhooks_Output for ::core::result::Result<(), E> {
                type Error = E;
                fn __webhooks_result(self) -> Self {
                    self
                }
            }

            fn __webhooks_handler<'a>(
                __webhooks_event: &'a #private::WebhookEvent,
            ) -> #private::BoxFuture<'a, ::core::result::Result<(), #private::BoxError>> {
                #body
            }

            #private::inventory::submit! {
                #private::ListenerRegistration::new(
                    #source,
                    #event,
                    ::core::concat!(::core::module_path!(), "::", #name),
                    __webhooks_handler,
                )
            }
        };
    })
}

/// The parts of a valid listener signature.
struct Checked<'a> {
    /// One or two arguments; with two, exactly one is [`Argument::Json`].
    arguments: Vec<Argument<'a>>,
    output: &'a Type,
}

/// What the handler passes for one argument of the listener.
enum Argument<'a> {
    /// `&WebhookEvent`: the event itself.
    Reference(&'a Type),
    /// `WebhookEvent`: a clone of the event.
    Value(&'a Type),
    /// `Json<T>`: the body, deserialized into `T` at each run.
    Json { ty: &'a Type, inner: &'a Type },
}

/// What a listener's arguments may be, for the errors.
const TAKES: &str = "a webhook listener takes the event, `event: &WebhookEvent`, \
                     its typed body, `payload: Json<T>`, or both";

/// Rejects the signatures the generated handler cannot call.
fn check(function: &ItemFn) -> syn::Result<Checked<'_>> {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            "a webhook listener must be an `async fn`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new_spanned(
            unsafety,
            "a webhook listener may not be `unsafe`",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a webhook listener may not have generic parameters; it is called with `&WebhookEvent`",
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        return Err(syn::Error::new_spanned(
            where_clause,
            "a webhook listener may not have a `where` clause",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(variadic, TAKES));
    }
    let arguments = arguments(sig)?;
    let output = match &sig.output {
        ReturnType::Type(_, output) => &**output,
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(
                sig,
                "a webhook listener must return `Result<(), E>` where `E: Into<webhooks::BoxError>`",
            ));
        }
    };
    Ok(Checked { arguments, output })
}

/// The listener's arguments: the event, `Json<T>`, or the event and
/// `Json<T>` in either order.
fn arguments(sig: &Signature) -> syn::Result<Vec<Argument<'_>>> {
    let mut arguments = Vec::with_capacity(2);
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new_spanned(
                    receiver,
                    "a webhook listener must be a free function, not a method: remove `self`",
                ));
            }
            FnArg::Typed(argument) => arguments.push(classify(&argument.ty)?),
        }
    }
    match arguments.len() {
        0 => Err(syn::Error::new(sig.paren_token.span.join(), TAKES)),
        1 => Ok(arguments),
        2 => {
            let typed = arguments
                .iter()
                .filter(|argument| matches!(argument, Argument::Json { .. }))
                .count();
            let second = &sig.inputs[1];
            match typed {
                0 => Err(syn::Error::new_spanned(
                    second,
                    "a webhook listener's second argument must be its typed body, \
                     like `payload: Json<Invoice>`; the event is passed once",
                )),
                1 => Ok(arguments),
                _ => Err(syn::Error::new_spanned(
                    second,
                    "a webhook listener takes one `Json<T>` argument; \
                     the body is deserialized into one type",
                )),
            }
        }
        _ => {
            let extra: TokenStream = sig
                .inputs
                .iter()
                .skip(2)
                .map(ToTokens::to_token_stream)
                .collect();
            Err(syn::Error::new_spanned(
                extra,
                "a webhook listener takes at most two arguments, \
                 the event and its typed body: remove the others",
            ))
        }
    }
}

/// Sorts an argument by its type: `&…` is the event, a path whose last
/// segment is `Json` the typed body, anything else the event by value (the
/// compiler then checks that it is `WebhookEvent`, at the type).
fn classify(ty: &Type) -> syn::Result<Argument<'_>> {
    let mut bare = ty;
    while let Type::Group(syn::TypeGroup { elem, .. }) | Type::Paren(syn::TypeParen { elem, .. }) =
        bare
    {
        bare = elem;
    }
    if let Type::Reference(_) = bare {
        return Ok(Argument::Reference(ty));
    }
    let segment = match bare {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    };
    let Some(segment) = segment.filter(|segment| segment.ident == "Json") else {
        return Ok(Argument::Value(ty));
    };
    if let PathArguments::AngleBracketed(arguments) = &segment.arguments {
        if let (1, Some(GenericArgument::Type(inner))) =
            (arguments.args.len(), arguments.args.first())
        {
            return Ok(Argument::Json { ty, inner });
        }
    }
    Err(syn::Error::new_spanned(
        ty,
        "`Json` takes the type to deserialize the body into, like `Json<Invoice>`",
    ))
}

/// The statement that binds argument `index` inside the handler, and the
/// name it binds.
fn bind(argument: &Argument<'_>, index: usize, private: &TokenStream) -> (TokenStream, Ident) {
    let ty = match argument {
        Argument::Reference(ty) | Argument::Value(ty) | Argument::Json { ty, .. } => *ty,
    };
    let span = ty.span();
    let name = Ident::new(&format!("__webhooks_argument_{index}"), span);
    let value = match argument {
        Argument::Reference(_) => quote_spanned!(span=> __webhooks_event),
        Argument::Value(_) => quote_spanned! {span=>
            <#private::WebhookEvent as ::core::clone::Clone>::clone(__webhooks_event)
        },
        Argument::Json { inner, .. } => {
            // An unfit `T` (not `DeserializeOwned`) is reported at `T`: the
            // whole path is spanned there, as the bound is checked on it.
            let json = respan(quote!(#private::Json), inner.span());
            let deserialize = quote_spanned! {inner.span()=>
                #json::<#inner>::from_event(__webhooks_event)
            };
            let box_error = respan(quote!(#private::BoxError), span);
            quote_spanned! {span=>
                match #deserialize {
                    ::core::result::Result::Ok(__webhooks_payload) => __webhooks_payload,
                    ::core::result::Result::Err(__webhooks_error) => {
                        return ::core::result::Result::Err(
                            ::core::convert::Into::<#box_error>::into(__webhooks_error),
                        );
                    }
                }
            }
        }
    };
    let statement = quote_spanned! {span=>
        let #name: #ty = #value;
    };
    (statement, name)
}

/// The error for an attribute on an item that is not a function: at the
/// item's keyword and name, when it has them.
fn not_a_function(item: &Item) -> syn::Error {
    let (kind, head) = match item {
        Item::Struct(item) => ("a struct", head(&item.struct_token, &item.ident)),
        Item::Enum(item) => ("an enum", head(&item.enum_token, &item.ident)),
        Item::Union(item) => ("a union", head(&item.union_token, &item.ident)),
        Item::Trait(item) => ("a trait", head(&item.trait_token, &item.ident)),
        Item::Impl(item) => ("an impl block", item.impl_token.to_token_stream()),
        Item::Mod(item) => ("a module", head(&item.mod_token, &item.ident)),
        Item::Const(item) => ("a constant", head(&item.const_token, &item.ident)),
        Item::Static(item) => ("a static", head(&item.static_token, &item.ident)),
        Item::Type(item) => ("a type alias", head(&item.type_token, &item.ident)),
        Item::Use(item) => ("a `use` declaration", item.use_token.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    };
    syn::Error::new_spanned(
        head,
        format!("`#[webhook_listener]` applies to an `async fn`, not to {kind}"),
    )
}

/// The tokens of an item's keyword and name.
fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
    let mut tokens = keyword.to_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}

/// The same tokens, all at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                token = Group::new(group.delimiter(), respan(group.stream(), span)).into();
            }
            token.set_span(span);
            token
        })
        .collect()
}

/// The span of `E` in `Result<(), E>`, else of the whole return type.
fn error_span(output: &Type) -> Span {
    if let Type::Path(path) = output {
        if let Some(segment) = path.path.segments.last() {
            if let PathArguments::AngleBracketed(arguments) = &segment.arguments {
                if let Some(GenericArgument::Type(error)) = arguments.args.iter().nth(1) {
                    return error.span();
                }
            }
        }
    }
    output.span()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ty: Type) -> syn::Result<&'static str> {
        classify(&ty).map(|argument| match argument {
            Argument::Reference(_) => "reference",
            Argument::Value(_) => "value",
            Argument::Json { .. } => "json",
        })
    }

    #[test]
    fn arguments_are_sorted_by_their_type() {
        assert_eq!(kind(syn::parse_quote!(&WebhookEvent)).unwrap(), "reference");
        assert_eq!(
            kind(syn::parse_quote!(&Json<Invoice>)).unwrap(),
            "reference"
        );
        assert_eq!(kind(syn::parse_quote!(WebhookEvent)).unwrap(), "value");
        assert_eq!(kind(syn::parse_quote!(JsonValue)).unwrap(), "value");
        assert_eq!(kind(syn::parse_quote!(Json<Invoice>)).unwrap(), "json");
        assert_eq!(
            kind(syn::parse_quote!(webhooks::Json<a::B<C>>)).unwrap(),
            "json"
        );
        assert_eq!(kind(syn::parse_quote!((Json<Invoice>))).unwrap(), "json");
        for missing in [
            syn::parse_quote!(Json),
            syn::parse_quote!(Json),
            syn::parse_quote!(Json<'a>),
            syn::parse_quote!(Json<A, B>),
            syn::parse_quote!(Json<N = 1>),
        ] {
            assert!(kind(missing).is_err());
        }
    }
}

//! Code generation: the function as written, plus a handler registered with
//! `inventory`.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Item, ItemFn, LitStr, PathArguments, ReturnType, Type};

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
    let argument_type = checked.argument;
    let argument = if is_reference(argument_type) {
        quote_spanned!(argument_type.span()=> __webhooks_event)
    } else {
        quote_spanned! {argument_type.span()=>
            <#private::WebhookEvent as ::core::clone::Clone>::clone(__webhooks_event)
        }
    };
    let bind_argument = quote_spanned! {argument_type.span()=>
        let __webhooks_argument: #argument_type = #argument;
    };
    let output_span = checked.output.span();
    let mut callee = ident.clone();
    callee.set_span(output_span);
    let call = quote_spanned! {output_span=>
        let __webhooks_result = __webhooks_Output::__webhooks_result(#callee(__webhooks_argument).await);
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
            #bind_argument
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
    argument: &'a Type,
    output: &'a Type,
}

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
        return Err(syn::Error::new_spanned(
            variadic,
            "a webhook listener takes one argument, the event: `event: &WebhookEvent`",
        ));
    }
    let mut inputs = sig.inputs.iter();
    let argument = match inputs.next() {
        None => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                "a webhook listener takes one argument, the event: `event: &WebhookEvent`",
            ));
        }
        Some(FnArg::Receiver(receiver)) => {
            return Err(syn::Error::new_spanned(
                receiver,
                "a webhook listener must be a free function, not a method: remove `self`",
            ));
        }
        Some(FnArg::Typed(argument)) => &*argument.ty,
    };
    let extra: TokenStream = inputs.map(ToTokens::to_token_stream).collect();
    if !extra.is_empty() {
        return Err(syn::Error::new_spanned(
            extra,
            "a webhook listener takes one argument, the event: remove the others",
        ));
    }
    let output = match &sig.output {
        ReturnType::Type(_, output) => &**output,
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(
                sig,
                "a webhook listener must return `Result<(), E>` where `E: Into<webhooks::BoxError>`",
            ));
        }
    };
    Ok(Checked { argument, output })
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

/// Whether the event is taken by reference, `&WebhookEvent`; otherwise it
/// is taken by value and the handler clones it.
fn is_reference(ty: &Type) -> bool {
    match ty {
        Type::Reference(_) => true,
        Type::Group(group) => is_reference(&group.elem),
        Type::Paren(paren) => is_reference(&paren.elem),
        _ => false,
    }
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

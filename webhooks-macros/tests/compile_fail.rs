//! Every misuse of `#[webhook_listener]` is a compile error at the
//! offending token, with a message that says what to write instead.

#[test]
fn ui() {
    let tests = trybuild::TestCases::new();
    tests.compile_fail("tests/ui/*.rs");
}

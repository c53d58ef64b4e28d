//! Twisted's LogTests (test_defer.py): a failure nobody handled is reported
//! when its deferred goes, once; a handled one, or one handed on to another
//! deferred, is not.  The hook is process-wide, so this file holds one test.
use deferred::{deferred_list_with, set_unhandled_error_hook, Deferred, Failure, ListFlags};
use std::sync::{Arc, Mutex};

#[test]
fn unhandled_failures_are_reported_once_when_their_deferred_goes() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    set_unhandled_error_hook(Some(Box::new(move |f: &Failure| {
        s.lock().unwrap().push(f.message().into_owned())
    })));
    let take = || std::mem::take(&mut *seen.lock().unwrap());

    // test_errorLog: a failed deferred nobody handles, dropped.
    let d: Deferred<i64> = Deferred::new();
    let chain = d
        .clone()
        .add_callback(|_| -> Result<i64, Failure> { Err(Failure::msg("1 / 0")) });
    d.callback(1).unwrap();
    assert!(take().is_empty(), "not while a reference is held");
    drop(d);
    drop(chain);
    assert_eq!(take(), ["1 / 0"]);

    // Handled: nothing.
    let d: Deferred<()> = Deferred::fail(Failure::msg("handled"));
    drop(d.add_errback(|_| Ok(())));
    assert!(take().is_empty());

    // test_errorClearedByChaining / test_chainedErrorCleanup: a failure
    // handed to the deferred whose callback returned it is not reported
    // for the inner one; the outer reports it once if unhandled.
    let inner: Deferred<()> = Deferred::fail(Failure::msg("inner"));
    let i = inner.clone();
    let outer = Deferred::succeed(()).add_callback_deferred(move |()| i);
    drop(inner);
    assert!(take().is_empty());
    drop(outer);
    assert_eq!(take(), ["inner"]);

    let inner: Deferred<()> = Deferred::new();
    let i = inner.clone();
    let outer = Deferred::succeed(())
        .add_callback_deferred(move |()| i)
        .add_errback(|_| Ok(()));
    inner.errback(Failure::msg("cleaned")).unwrap();
    drop(inner);
    drop(outer);
    assert!(take().is_empty());

    // A DeferredList without consume_errors leaves the input's failure on
    // its chain: reported when the input goes, not by the list.
    let a: Deferred<()> = Deferred::new();
    let l = deferred_list_with(vec![a.clone()], ListFlags::default());
    a.errback(Failure::msg("input")).unwrap();
    drop(l);
    drop(a);
    assert_eq!(take(), ["input"]);

    // A panicking hook is reported on stderr, not unwound.
    set_unhandled_error_hook(Some(Box::new(|_: &Failure| panic!("hook"))));
    drop(Deferred::<()>::fail(Failure::msg("while the hook panics")));

    // None restores the default (printing), and our hook is not called.
    set_unhandled_error_hook(None);
    drop(Deferred::<()>::fail(Failure::msg("printed by the default")));
    assert!(take().is_empty());
}

//! DeferredList's options (fire on one callback / errback, consume errors),
//! with every Rust value dropped exactly once.
mod common;
use common::{counter, n, Counted};
use deferred::{
    deferred_list_with, Deferred, ErrorCode, Failure, ListFlags, ListResult, RawValue, State,
};
use std::cell::RefCell;
use std::rc::Rc;

/// The list's outcome, kept for the test to look at.
type Seen<T> = Rc<RefCell<Option<Result<ListResult<T>, Failure>>>>;

fn watch<T: 'static>(l: Deferred<ListResult<T>>) -> Seen<T> {
    let seen: Seen<T> = Rc::new(RefCell::new(None));
    let s = seen.clone();
    drop(l.add_both(move |r| {
        *s.borrow_mut() = Some(r);
        Ok(())
    }));
    seen
}

const FOC: ListFlags = ListFlags {
    fire_on_one_callback: true,
    fire_on_one_errback: false,
    consume_errors: false,
};

#[test]
fn fire_on_one_callback_gives_the_first_success_and_its_index() {
    let c = counter();
    let a: Deferred<Counted> = Deferred::new();
    let b: Deferred<Counted> = Deferred::new();
    let x: Deferred<Counted> = Deferred::new();
    let seen = watch(deferred_list_with(
        vec![a.clone(), b.clone(), x.clone()],
        FOC,
    ));
    a.errback(Failure::msg("a failed")).unwrap();
    assert!(seen.borrow().is_none(), "a failure does not fire it");
    b.callback(Counted(c.clone(), 2)).unwrap();
    match seen.borrow_mut().take() {
        Some(Ok(ListResult::First { index, value })) => {
            assert_eq!(index, 1);
            assert_eq!(value.1, 2);
        }
        other => panic!("not the first success: {other:?}"),
    }
    assert_eq!(n(&c), 1, "the value, moved out and dropped once");
    // Later results pass through the inputs' own chains untouched.
    x.callback(Counted(c.clone(), 3)).unwrap();
    assert_eq!(n(&c), 1);
    drop(x);
    assert_eq!(n(&c), 2, "dropped with its input");
    // a's chain goes on with its failure (not consumed): handle it.
    let _ = a.add_errback(|f| {
        assert_eq!(f.message(), "a failed");
        Ok(Counted(counter(), 0))
    });
    drop(b);
    assert_eq!(n(&c), 2);
}

#[test]
fn fire_on_one_callback_without_a_success_gives_every_result() {
    let seen = watch(deferred_list_with(
        vec![
            Deferred::<i64>::fail(Failure::msg("one")),
            Deferred::fail(Failure::msg("two")),
        ],
        ListFlags {
            consume_errors: true,
            ..FOC
        },
    ));
    match seen.borrow_mut().take() {
        Some(Ok(ListResult::All(v))) => {
            let msgs: Vec<_> = v
                .into_iter()
                .map(|r| r.unwrap_err().message().into_owned())
                .collect();
            assert_eq!(msgs, ["one", "two"]);
        }
        other => panic!("not the full list: {other:?}"),
    }
    // Already fired: the first input succeeding at once.
    let seen = watch(deferred_list_with(vec![Deferred::succeed(5i64)], FOC));
    assert!(matches!(
        seen.borrow_mut().take(),
        Some(Ok(ListResult::First { index: 0, value: 5 }))
    ));
}

#[test]
fn fire_on_one_errback_fails_with_a_first_error() {
    let c = counter();
    let a: Deferred<Counted> = Deferred::new();
    let b: Deferred<Counted> = Deferred::new();
    let seen = watch(deferred_list_with(
        vec![a.clone(), b.clone()],
        ListFlags {
            fire_on_one_errback: true,
            consume_errors: true,
            ..Default::default()
        },
    ));
    b.errback(Failure::msg("b failed")).unwrap();
    match seen.borrow_mut().take() {
        Some(Err(f)) => {
            assert_eq!(f.kind(), Some(ErrorCode::FirstError));
            assert_eq!(f.index(), Some(1));
            assert_eq!(f.cause().unwrap().message(), "b failed");
        }
        other => panic!("not a FirstError: {other:?}"),
    }
    // Consumed: b's chain goes on with none.
    assert_eq!(b.state(), State::Succeeded);
    // a reports after the list fired: its value stays in its chain.
    a.callback(Counted(c.clone(), 1)).unwrap();
    assert_eq!(n(&c), 0);
    let _ = a.add_callback(|v: Counted| {
        assert_eq!(v.1, 1);
        Ok(())
    });
    assert_eq!(n(&c), 1);
}

#[test]
fn consume_errors_decides_what_an_input_goes_on_with() {
    for consume in [false, true] {
        let a: Deferred<i64> = Deferred::new();
        let seen = watch(deferred_list_with(
            vec![a.clone()],
            ListFlags {
                consume_errors: consume,
                ..Default::default()
            },
        ));
        a.errback(Failure::msg("no")).unwrap();
        match seen.borrow_mut().take() {
            Some(Ok(ListResult::All(v))) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].as_ref().unwrap_err().message(), "no");
            }
            other => panic!("not the full list: {other:?}"),
        }
        // Read the chain's value as it is (a failure value or none).
        // SAFETY: the same deferred; RawValue reads any value.
        let raw: Deferred<RawValue> = unsafe { Deferred::from_raw(a.into_raw()) };
        let after = Rc::new(RefCell::new(String::new()));
        let s = after.clone();
        let _ = raw.add_both(move |v: Result<RawValue, Failure>| {
            *s.borrow_mut() = v.map_or_else(|f| f.to_string(), |v| v.type_name());
            Ok(())
        });
        let want = if consume { "none" } else { "failure" };
        assert_eq!(*after.borrow(), want, "consume_errors: {consume}");
    }
}

#[test]
fn every_value_dropped_once_on_every_path() {
    let c = counter();
    {
        // Fired list dropped unread; pending inputs dropped unfired; a list
        // cancelled; values left in inputs after fire-on-one.
        let a = Deferred::succeed(Counted(c.clone(), 1));
        let b = Deferred::succeed(Counted(c.clone(), 2));
        drop(deferred_list_with(vec![a, b], FOC));
        // A list over pending inputs dropped unfired, without a cancel: the
        // input's closure is dropped with it.
        let k = Counted(c.clone(), 5);
        let p: Deferred<Counted> = Deferred::with_canceller(move |_| drop(k));
        drop(deferred_list_with(vec![p.clone()], ListFlags::default()));
        drop(p);
        // A list over pending inputs cancelled, then dropped.
        let k = Counted(c.clone(), 4);
        let p: Deferred<Counted> = Deferred::with_canceller(move |_| drop(k));
        let l = deferred_list_with(
            vec![p],
            ListFlags {
                consume_errors: true,
                ..FOC
            },
        );
        l.cancel();
        drop(l);
        let q: Deferred<Counted> = Deferred::new();
        let l = deferred_list_with(
            vec![q.clone(), Deferred::succeed(Counted(c.clone(), 3))],
            ListFlags::default(),
        );
        l.cancel();
        // q was cancelled by the list: it fires, with every result.
        assert_eq!(q.state(), State::Failed);
        let _ = q.add_errback(|f| {
            assert_eq!(f.kind(), Some(ErrorCode::Cancelled));
            Ok(Counted(counter(), 0))
        });
        let seen = watch(l);
        assert!(matches!(*seen.borrow(), Some(Ok(ListResult::All(_)))));
    }
    assert_eq!(n(&c), 5);
}

#[test]
fn an_empty_list_fires_at_once_whatever_the_flags() {
    for f in [
        ListFlags::default(),
        FOC,
        ListFlags {
            fire_on_one_callback: true,
            fire_on_one_errback: true,
            consume_errors: true,
        },
    ] {
        let seen = watch(deferred_list_with::<i64>(vec![], f));
        assert!(matches!(
            seen.borrow_mut().take(),
            Some(Ok(ListResult::All(v))) if v.is_empty()
        ));
    }
}

//! The seed's `my_callbacks` (inlineCallbacks) as Rust async on the reactor
//! thread: `.await` on a deferred reads like `yield d`, a failure comes back
//! as an `Err` (the seed's try/except).  The seed waits 5 s per step; 50 ms
//! keeps this quick.
use deferred::{Deferred, Failure, Reactor, ReactorRef};
use std::time::Duration;

/// A deferred that `fire` fires after `delay` (the seed's
/// `reactor.callLater(5, d.callback, 2)`).
fn later<T: 'static>(
    r: &ReactorRef,
    delay: Duration,
    fire: impl FnOnce(&Deferred<T>) + 'static,
) -> Result<Deferred<T>, Failure> {
    let d = Deferred::new();
    let d2 = d.clone();
    r.call_later(delay, move || fire(&d2))?;
    Ok(d)
}

async fn my_callbacks(r: ReactorRef) -> Result<i64, Failure> {
    let t = |r: &ReactorRef| format!("{:5.3} s:", r.seconds());
    println!("{} first callback", t(&r));
    // Already has its result: comes right back.
    let result = Deferred::succeed(1i64).await?;
    println!("{} second callback got {result}", t(&r));

    let d = later(&r, Duration::from_millis(50), |d| {
        d.callback(2i64).unwrap();
    })?;
    let result = d.await?; // the task suspends here; the reactor goes on
    println!("{} third callback got {result}", t(&r));

    let d = later(&r, Duration::from_millis(50), |d: &Deferred<i64>| {
        d.errback(Failure::msg("3")).unwrap();
    })?;
    match d.await {
        Ok(v) => println!("unexpected {v}"),
        Err(e) => println!("{} fourth callback got {:?}", t(&r), e.message()),
    }
    Ok(result)
}

fn main() -> Result<(), Failure> {
    let reactor = Reactor::new()?;
    let r = reactor.handle_local();
    let done = reactor.spawn_local(my_callbacks(r.clone()));
    // The seed's reactor.stop() once the generator finishes.
    let _ = done.add_both(move |res| {
        match &res {
            Ok(v) => println!("my_callbacks returned {v}"),
            Err(e) => println!("my_callbacks failed: {e}"),
        }
        r.stop()?;
        res.map(|_| ())
    });
    reactor.run()
}

//! Deferreds across the language boundary: a Rust task awaits a deferred
//! made by the C library's deferLater (fired by C from a C timer), puts a
//! Rust deferred into a C DeferredList next to C-made ones, and gets a Rust
//! value back out of the C list as the very same object.
use deferred::sys;
use deferred::{Deferred, Failure, Reactor};
use std::time::Duration;

/// A plain C task for dfr_reactor_defer_later: fires with the i64 in `data`.
unsafe extern "C" fn c_answer(data: *mut std::ffi::c_void) -> sys::dfr_value {
    // SAFETY: a plain value constructor.
    unsafe { sys::dfr_i64(data as i64) }
}

struct Config {
    name: String,
}

fn main() -> Result<(), Failure> {
    let reactor = Reactor::new()?;
    let r = reactor.handle_local();
    let rp = reactor.as_ptr();
    let task = reactor.spawn_local(async move {
        // 1. A deferred made and fired by C code.
        // SAFETY: a live reactor on this thread; the C deferred fires with
        // an i64 and its reference moves into the Deferred.
        let from_c: Deferred<i64> = unsafe {
            Deferred::from_raw(sys::dfr_reactor_defer_later(
                rp,
                0.02,
                Some(c_answer),
                42 as _,
                None,
            ))
        };
        println!("C deferLater fired with {}", from_c.await?);

        // 2. A C DeferredList over a Rust deferred and a C one.
        let mine: Deferred<i64> = r.defer_later(Duration::from_millis(10), || Ok(1))?;
        // SAFETY: as above.
        let theirs: Deferred<i64> = unsafe {
            Deferred::from_raw(sys::dfr_reactor_defer_later(
                rp,
                0.01,
                Some(c_answer),
                2 as _,
                None,
            ))
        };
        let both = deferred::gather(vec![mine, theirs]).await?;
        println!("gatherResults over Rust and C deferreds: {both:?}");

        // 3. A Rust object through a C DeferredList comes back as itself.
        let cfg = Box::new(Config {
            name: "from Rust".into(),
        });
        let addr = &*cfg as *const Config;
        let list = deferred::deferred_list(vec![Deferred::succeed(cfg)]).await?;
        let back = list.into_iter().next().unwrap()?;
        println!(
            "{:?} came back, same object: {}",
            back.name,
            std::ptr::eq(&*back, addr)
        );
        r.stop()?;
        Ok(())
    });
    reactor.run()?;
    assert_eq!(task.state(), deferred::State::Succeeded);
    Ok(())
}

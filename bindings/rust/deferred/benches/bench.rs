//! Benchmarks of the Rust binding, printed as bench/run's JSON lines
//! (`"impl": "rust"`), to sit next to bench_core's C rows:
//!
//!   cargo bench --bench bench -- [NAME [N [REPS]]]
//!
//! Each figure is the best of at least REPS runs (default 5), more (up to
//! 1000) while they total under 0.2 s, as bench_core does: on a loaded
//! machine the best run is the one least disturbed.  bench/lang/rust runs it
//! interleaved with bench_core and prints the target checks.
//!
//! deferred_cycle   Deferred::new + add_callback(closure) + callback + drop
//!                  (and, impl "oneshot", a futures oneshot create + send +
//!                  receive cycle)
//! callback_link    n closure callbacks on one deferred, then fire (per link)
//! await_fired      `.await` of an already-fired deferred in an async task
//!                  on the reactor thread (per await)
//! defer_to_thread  n no-op closures on the pool (4 threads), all in flight
use deferred::{Deferred, Reactor, ReactorOptions};
use std::future::Future;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn cycle_rust(n: u64) -> Duration {
    let t0 = Instant::now();
    for i in 0..n {
        let d = Deferred::<i64>::new().add_callback(|x| Ok(x + 1));
        d.callback(black_box(i as i64)).unwrap();
        drop(black_box(d));
    }
    t0.elapsed()
}

fn cycle_oneshot(n: u64) -> Duration {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let t0 = Instant::now();
    for i in 0..n {
        let (tx, rx) = futures_channel::oneshot::channel::<i64>();
        let mut rx = std::pin::pin!(rx);
        tx.send(black_box(i as i64)).unwrap();
        match rx.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => {
                black_box(v.unwrap());
            }
            std::task::Poll::Pending => unreachable!(),
        }
    }
    t0.elapsed()
}

fn link_rust(n: u64) -> Duration {
    let t0 = Instant::now();
    let head = Deferred::<i64>::new();
    let mut d = head.clone();
    for _ in 0..n {
        d = d.add_callback(|x: i64| Ok(x + 1));
    }
    head.callback(0).unwrap();
    drop(head);
    let out = d.add_callback(|x: i64| {
        black_box(x);
        Ok(())
    });
    drop(out);
    t0.elapsed()
}

fn await_fired_rust(n: u64) -> Duration {
    let r = Reactor::manual_clock().unwrap();
    let took = Rc::new(std::cell::Cell::new(Duration::ZERO));
    let t = took.clone();
    let task = r.spawn_local(async move {
        let mut acc = 0i64;
        let t0 = Instant::now();
        for i in 0..n {
            acc += Deferred::succeed(i as i64).await?;
        }
        t.set(t0.elapsed());
        black_box(acc);
        Ok(())
    });
    assert_eq!(task.state(), deferred::State::Succeeded);
    took.get()
}

thread_local! {
    // As bench_core's globals: the callback captures nothing.
    static FIRED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static TARGET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static REACTOR: std::cell::RefCell<Option<deferred::ReactorRef>> =
        const { std::cell::RefCell::new(None) };
}

fn task_done(_: ()) -> Result<(), deferred::Failure> {
    let f = FIRED.get() + 1;
    FIRED.set(f);
    if f == TARGET.get() {
        REACTOR.with_borrow(|r| r.as_ref().unwrap().stop())?;
    }
    Ok(())
}

fn defer_to_thread_rust(n: u64) -> Duration {
    let r = Reactor::with_options(&ReactorOptions {
        threadpool_max: 4,
        ..Default::default()
    })
    .unwrap();
    FIRED.set(0);
    TARGET.set(n);
    REACTOR.set(Some(r.handle_local()));
    let rr = r.handle_local();
    r.call_later(Duration::ZERO, move || {
        for _ in 0..n {
            drop(rr.defer_to_thread(|| ()).unwrap().add_callback(task_done));
        }
    })
    .unwrap();
    let t0 = Instant::now();
    r.run().unwrap();
    let t = t0.elapsed();
    assert_eq!(FIRED.get(), n);
    REACTOR.set(None);
    t
}

type Bench = (&'static str, &'static str, fn(u64) -> Duration, u64);

const BENCHES: &[Bench] = &[
    ("deferred_cycle", "rust", cycle_rust, 1_000_000),
    ("deferred_cycle", "oneshot", cycle_oneshot, 1_000_000),
    ("callback_link", "rust", link_rust, 10_000),
    ("await_fired", "rust", await_fired_rust, 1_000_000),
    ("defer_to_thread", "rust", defer_to_thread_rust, 100_000),
];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let name = args.first().cloned();
    let n: Option<u64> = args.get(1).and_then(|s| s.parse().ok());
    let reps: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    if name
        .as_deref()
        .is_some_and(|x| !BENCHES.iter().any(|b| b.0 == x))
        || (args.len() > 1 && n.is_none_or(|n| n == 0))
        || (args.len() > 2 && reps == 0)
    {
        eprintln!("usage: bench [NAME [N [REPS]]] (N, REPS > 0); NAME is one of:");
        for (i, b) in BENCHES.iter().enumerate() {
            if i == 0 || BENCHES[i - 1].0 != b.0 {
                eprintln!("  {}", b.0);
            }
        }
        std::process::exit(2);
    }
    for &(bench, imp, run, default_n) in BENCHES {
        if name.as_deref().is_some_and(|x| x != bench) {
            continue;
        }
        let n = n.unwrap_or(default_n);
        let (mut best, mut total, mut runs) = (Duration::MAX, Duration::ZERO, 0);
        while runs < reps || (total < Duration::from_millis(200) && runs < 1000) {
            let t = run(n);
            best = best.min(t);
            total += t;
            runs += 1;
        }
        println!(
            "{{\"bench\": \"{bench}\", \"impl\": \"{imp}\", \"n\": {n}, \"ns_per_op\": {:.2}}}",
            best.as_nanos() as f64 / n as f64
        );
    }
}

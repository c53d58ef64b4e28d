//! "Generating Deferreds": largeFibonacciNumber on the thread pool with
//! `defer_to_thread`, while a LoopingCall ticks every 10 ms on the reactor
//! thread to show that the reactor stays free; the answer arrives in a
//! callback on the reactor thread.
use deferred::{Failure, Reactor};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

const TARGET: usize = 10_000;

/// The TARGETth Fibonacci number in decimal (base-1e9 limbs), computed a few
/// times over so that it takes long enough to see the ticks.
fn large_fibonacci_number() -> String {
    let mut answer = Vec::new();
    for _ in 0..40 {
        let (mut a, mut b): (Vec<u64>, Vec<u64>) = (vec![0], vec![1]);
        for _ in 0..TARGET - 1 {
            let mut c = Vec::with_capacity(b.len() + 1);
            let mut carry = 0;
            for (i, limb) in b.iter().enumerate() {
                let s = carry + limb + a.get(i).copied().unwrap_or(0);
                c.push(s % 1_000_000_000);
                carry = s / 1_000_000_000;
            }
            if carry > 0 {
                c.push(carry);
            }
            a = b;
            b = c;
        }
        answer = b;
    }
    let mut s = answer.last().unwrap().to_string();
    for limb in answer.iter().rev().skip(1) {
        s.push_str(&format!("{limb:09}"));
    }
    s
}

fn main() -> Result<(), Failure> {
    let reactor = Reactor::new()?;
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let lc = reactor.looping_call(move || {
        t.set(t.get() + 1);
        Ok(())
    })?;
    let _ticking = lc.start(Duration::from_millis(10), true)?;

    let d = reactor.defer_to_thread(large_fibonacci_number)?;
    println!("1st line after the addition of the callback");
    println!("2nd line after the addition of the callback");
    let r = reactor.handle_local();
    let t = ticks.clone();
    let _done = d.add_callback(move |number: String| {
        println!(
            "largeFibonacciNumber result = {}...{} ({} digits)",
            &number[..20],
            &number[number.len() - 20..],
            number.len()
        );
        println!("the reactor ticked {} times meanwhile", t.get());
        lc.stop()?;
        r.stop()
    });
    reactor.run()?;
    assert!(ticks.get() > 1, "the reactor was blocked");
    Ok(())
}

// The "my_callbacks" inlineCallbacks example, with async/await over Deferreds:
// a plain value, a Deferred fired by a timer, and one that fails.
'use strict';
const { Deferred, callLater } = require('..');

const DELAY = Number(process.env.DELAY || 0.5); // seconds (5 in the original)

async function myCallbacks() {
  console.log('first callback');
  let result = await 1; // awaited values that aren't Deferreds come right back
  console.log('second callback got', result);

  let d = new Deferred();
  callLater(DELAY, (v) => d.callback(v), 2);
  result = await d; // awaiting a Deferred pauses the function until it fires
  console.log('third callback got', result);

  d = new Deferred();
  callLater(DELAY, (e) => d.errback(e), new Error('3'));
  try {
    await d;
  } catch (e) {
    result = e;
  }
  console.log('fourth callback got', result.message); // the error from the Deferred
}

// Turn the async function back into a Deferred, as inlineCallbacks would.
Deferred.fromPromise(myCallbacks()).addBoth((r) => {
  console.log('done');
  return r;
});
// No reactor.run()/stop(): the reactor is Node's own loop; the process ends
// when nothing is pending.

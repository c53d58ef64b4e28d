// largeFibonacci: a blocking C function deferred to the reactor's thread pool
// (through libffi), while a LoopingCall keeps ticking in JS.
'use strict';
const path = require('node:path');
const { NativeLibrary, LoopingCall } = require('..');

// The binding's test library (built by `npm install`): fib() and slow_fib(),
// which blocks its thread for a while first, standing in for a long computation.
const lib = new NativeLibrary(path.join(__dirname, '..', 'build', 'libtestlib.so'));
const largeFibonacci = lib.func('int64', 'slow_fib', ['int32', 'int32']);

const TARGET = 90;
let ticks = 0;
const ticker = new LoopingCall(() => {
  ticks++;
  console.log(`tick ${ticks}: the JS thread is free`);
});
const stopped = ticker.start(0.1);

const t0 = Date.now();
const d = largeFibonacci(TARGET, 500);
console.log(`largeFibonacci call returned after ${Date.now() - t0} ms`);
d.addCallback((n) => {
  console.log(`The ${TARGET}th Fibonacci number is ${n}`);
  ticker.stop();
});
stopped.addCallback(() => console.log(`ticked ${ticks} times while C worked`));

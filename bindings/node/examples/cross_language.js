// One chain across languages: a C coroutine (the binding's test library)
// awaits a Deferred made and fired in JS and one a C pool job fires; a JS
// object goes through a C DeferredList and comes back as the same object.
'use strict';
const path = require('node:path');
const { Deferred, DeferredList, NativeLibrary, deferLater } = require('..');

const lib = new NativeLibrary(path.join(__dirname, '..', 'build', 'libtestlib.so'));
const sum = lib.deferredFunction('c_sum_coroutine'); // dfr_await in C, on the JS thread
const fib = lib.func('int64', 'slow_fib', ['int32', 'int32']); // on a pool thread

async function main() {
  const fromJs = new Deferred();
  const total = sum(fromJs, fib(20, 50));
  deferLater(0.05, () => fromJs.callback(0.5));
  console.log('C coroutine summed:', await total); // 6765 + 0.5

  const obj = { name: 'a JS object' };
  const results = await DeferredList([deferLater(0.01, () => obj), fib(10, 1)]);
  console.log('same object back from C:', results[0][1] === obj, '| fib(10) =', results[1][1]);
}
main();

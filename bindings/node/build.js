#!/usr/bin/env node
// Builds the addon with the C compiler and pkg-config: no download, no
// node-gyp.  Node's headers come from the installed Node (NODE_INCLUDE or
// <prefix>/include/node); libdeferred from `pkg-config deferred`, which by
// default is this repository's own meson build (its uninstalled .pc file),
// linked with an rpath so the addon loads that very libdeferred.so.0.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = __dirname;
const repo = path.resolve(here, '../..');
function findBuild() {
  if (process.env.DEFERRED_BUILD) return path.resolve(process.env.DEFERRED_BUILD);
  for (const d of [path.join(repo, 'build-test/plain'), path.join(repo, 'build')]) {
    if (fs.existsSync(path.join(d, 'meson-uninstalled/deferred-uninstalled.pc'))) return d;
  }
  return null;
}
const build = findBuild();
const env = { ...process.env };
if (build) {
  env.PKG_CONFIG_PATH = [path.join(build, 'meson-uninstalled'), env.PKG_CONFIG_PATH]
    .filter(Boolean).join(':');
}
const pcName = build ? 'deferred-uninstalled' : 'deferred';
function pc(...args) {
  return execFileSync('pkg-config', [...args, pcName], { env, encoding: 'utf8' }).trim();
}
let cflags, libs, libdir;
try {
  cflags = pc('--cflags');
  libs = pc('--libs');
  // The uninstalled .pc names the build's own src/ with -L: that is the rpath.
  libdir = pc('--libs-only-L').split(/\s+/).filter(Boolean).map((f) => f.slice(2))[0] ||
    pc('--variable=libdir');
} catch (e) {
  console.error('build.js: pkg-config cannot find libdeferred. Build the library first:\n' +
    '  meson setup build && ninja -C build\n' +
    'or point DEFERRED_BUILD at a meson build directory.');
  process.exit(1);
}
const nodeInc = process.env.NODE_INCLUDE ||
  path.join(path.dirname(path.dirname(process.execPath)), 'include/node');
if (!fs.existsSync(path.join(nodeInc, 'node_api.h'))) {
  console.error(`build.js: node_api.h not found in ${nodeInc} (set NODE_INCLUDE)`);
  process.exit(1);
}
const ffi = execFileSync('pkg-config', ['--cflags', '--libs', 'libffi'], { encoding: 'utf8' }).trim();
// libdeferred was compiled against the system libuv; inside Node its uv_*
// calls bind to Node's copy, which must be at least as new (checked at load).
const uvVer = execFileSync('pkg-config', ['--modversion', 'libuv'], { encoding: 'utf8' }).trim().split('.');
const out = path.join(here, 'build');
fs.mkdirSync(out, { recursive: true });
const cc = process.env.CC || 'cc';
const args = [
  '-std=gnu11', '-O2', '-g', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror',
  '-fvisibility=hidden', '-DNAPI_VERSION=8',
  `-DLIB_UV_MAJOR=${+uvVer[0]}`, `-DLIB_UV_MINOR=${+uvVer[1]}`, `-I${nodeInc}`,
  ...cflags.split(/\s+/).filter(Boolean), ...ffi.split(/\s+/).filter(Boolean),
  path.join(here, 'src/addon.c'),
  '-o', path.join(out, 'deferred.node'),
  ...libs.split(/\s+/).filter(Boolean), `-Wl,-rpath,${libdir}`, '-ldl',
];
console.log([cc, ...args].join(' '));
execFileSync(cc, args, { stdio: 'inherit' });

// The tests' own C library (a blocking Fibonacci, a C-fired deferred).
const targs = ['-std=gnu11', '-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror',
  ...cflags.split(/\s+/).filter(Boolean), path.join(here, 'test/native/testlib.c'),
  '-o', path.join(out, 'libtestlib.so'), ...libs.split(/\s+/).filter(Boolean),
  `-Wl,-rpath,${libdir}`];
execFileSync(cc, targs, { stdio: 'inherit' });

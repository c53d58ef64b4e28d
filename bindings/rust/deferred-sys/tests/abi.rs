//! The hand-written declarations match the C header and the built library:
//! a C probe compiled now against the same headers prints sizes, alignments,
//! field offsets and constants; `nm -D` lists the library's exported `dfr_`
//! symbols, each of which must be declared in src/lib.rs (and nothing more).
use deferred_sys::*;
use std::collections::{BTreeMap, BTreeSet};
use std::mem::{align_of, offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

const PROBE: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <stdalign.h>
#include <deferred.h>
#include <deferred/ffi.h>
#define S(t) printf("size " #t " %zu\nalign " #t " %zu\n", sizeof(t), alignof(t));
#define O(t, f) printf("offset " #t "." #f " %zu\n", offsetof(t, f));
#define C(c) printf("const " #c " %lld\n", (long long)(c));
int main(void) {
    S(dfr_value) O(dfr_value, type) O(dfr_value, u)
    S(dfr_type) O(dfr_type, size) O(dfr_type, name) O(dfr_type, drop) O(dfr_type, clone)
    S(dfr_allocator) O(dfr_allocator, size) O(dfr_allocator, malloc) O(dfr_allocator, realloc)
    O(dfr_allocator, free) O(dfr_allocator, ctx)
    S(dfr_reactor_options) O(dfr_reactor_options, size) O(dfr_reactor_options, manual_clock)
    O(dfr_reactor_options, threadpool_min) O(dfr_reactor_options, threadpool_max)
    O(dfr_reactor_options, uv_loop)
    S(dfr_coroutine_options) O(dfr_coroutine_options, size) O(dfr_coroutine_options, stack_size)
    S(dfr_connect_options) O(dfr_connect_options, size) O(dfr_connect_options, family)
    O(dfr_connect_options, no_delay)
    S(dfr_listen_options) O(dfr_listen_options, size) O(dfr_listen_options, backlog)
    O(dfr_listen_options, no_delay)
    S(dfr_protocol) O(dfr_protocol, size) O(dfr_protocol, connection_made)
    O(dfr_protocol, data_received) O(dfr_protocol, read_eof) O(dfr_protocol, connection_lost)
    O(dfr_protocol, write_full) O(dfr_protocol, write_drained)
    S(dfr_framed_protocol) O(dfr_framed_protocol, size) O(dfr_framed_protocol, framing)
    O(dfr_framed_protocol, max) O(dfr_framed_protocol, connection_made)
    O(dfr_framed_protocol, frame_received) O(dfr_framed_protocol, connection_lost)
    S(dfr_state) S(bool) S(dfr_trigger_phase) S(dfr_trigger_event) S(dfr_list_flags) S(dfr_kind)
    C(DFR_OK) C(DFR_EINVAL) C(DFR_ENOMEM) C(DFR_EALREADY) C(DFR_ECANCELLED) C(DFR_ETIMEDOUT)
    C(DFR_EFIRST) C(DFR_ENOTRUNNING) C(DFR_EALREADY_CANCELLED) C(DFR_EALREADY_RAN)
    C(DFR_ENOTCORO) C(DFR_EDEADLK) C(DFR_EOVERFLOW) C(DFR_EUNDERFLOW) C(DFR_ENOTOWNER)
    C(DFR_ECONNREFUSED) C(DFR_EUNREACHABLE) C(DFR_ENOTFOUND) C(DFR_ECONNRESET) C(DFR_ECONNDONE)
    C(DFR_ECONNLOST) C(DFR_EFRAME) C(DFR_EADDRINUSE) C(DFR_EALREADY_RUNNING)
    C(DFR_ENOTRESTARTABLE) C(DFR_EALREADY_STARTED) C(DFR_EINUSE)
    C(DFR_FRAMING_LINES) C(DFR_FRAMING_NETSTRINGS)
    C(DFR_KIND_INVALID) C(DFR_STATE_INVALID)
    C(DFR_KIND_NONE) C(DFR_KIND_I64) C(DFR_KIND_F64) C(DFR_KIND_PTR) C(DFR_KIND_BYTES)
    C(DFR_KIND_FAILURE) C(DFR_KIND_DEFERRED) C(DFR_KIND_LIST) C(DFR_KIND_OTHER)
    C(DFR_ANY) C(DFR_PENDING) C(DFR_SUCCEEDED) C(DFR_FAILED)
    C(DFR_FIRE_ON_ONE_CALLBACK) C(DFR_FIRE_ON_ONE_ERRBACK) C(DFR_CONSUME_ERRORS)
    C(DFR_UNLIMITED) C(DFR_BEFORE) C(DFR_DURING) C(DFR_AFTER) C(DFR_STARTUP) C(DFR_SHUTDOWN)
    C(DFR_CORO_DEFAULT_STACK) C(DFR_CORO_MIN_STACK) C(DFR_CORO_MAX_STACK)
    S(ffi_type) O(ffi_type, size) O(ffi_type, alignment) O(ffi_type, type) O(ffi_type, elements)
    S(ffi_cif) O(ffi_cif, abi) O(ffi_cif, nargs) O(ffi_cif, arg_types) O(ffi_cif, rtype)
    O(ffi_cif, bytes) O(ffi_cif, flags) S(ffi_abi) S(ffi_status)
    C(FFI_OK) C(FFI_DEFAULT_ABI)
    printf("domain %s\n", DFR_DOMAIN);
    return 0;
}
"#;

fn probe() -> BTreeMap<String, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join("abi_probe.c");
    let exe = dir.join("abi_probe");
    std::fs::write(&src, PROBE).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(cc);
    cmd.arg("-std=gnu11").arg("-Wall").arg("-Werror");
    let includes = [env!("DFR_SYS_INCLUDE"), env!("DFR_SYS_FFI_INCLUDE")];
    for inc in includes.iter().flat_map(std::env::split_paths) {
        cmd.arg("-I").arg(inc);
    }
    let st = cmd
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("run the C compiler");
    assert!(st.success(), "the ABI probe does not compile");
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn layouts_and_constants_match_the_header() {
    let c = probe();
    let mut rust: Vec<(String, u128)> = Vec::new();
    macro_rules! s {
        ($t:ty, $name:literal) => {
            rust.push((concat!("size ", $name).into(), size_of::<$t>() as u128));
            rust.push((concat!("align ", $name).into(), align_of::<$t>() as u128));
        };
    }
    macro_rules! o {
        ($t:ty, $f:ident, $name:literal) => {
            rust.push((concat!("offset ", $name).into(), offset_of!($t, $f) as u128));
        };
    }
    s!(dfr_value, "dfr_value");
    o!(dfr_value, type_, "dfr_value.type");
    o!(dfr_value, u, "dfr_value.u");
    s!(dfr_type, "dfr_type");
    o!(dfr_type, size, "dfr_type.size");
    o!(dfr_type, name, "dfr_type.name");
    o!(dfr_type, drop, "dfr_type.drop");
    o!(dfr_type, clone, "dfr_type.clone");
    s!(dfr_allocator, "dfr_allocator");
    o!(dfr_allocator, size, "dfr_allocator.size");
    o!(dfr_allocator, malloc, "dfr_allocator.malloc");
    o!(dfr_allocator, realloc, "dfr_allocator.realloc");
    o!(dfr_allocator, free, "dfr_allocator.free");
    o!(dfr_allocator, ctx, "dfr_allocator.ctx");
    s!(dfr_reactor_options, "dfr_reactor_options");
    o!(dfr_reactor_options, size, "dfr_reactor_options.size");
    o!(
        dfr_reactor_options,
        manual_clock,
        "dfr_reactor_options.manual_clock"
    );
    o!(
        dfr_reactor_options,
        threadpool_min,
        "dfr_reactor_options.threadpool_min"
    );
    o!(
        dfr_reactor_options,
        threadpool_max,
        "dfr_reactor_options.threadpool_max"
    );
    o!(dfr_reactor_options, uv_loop, "dfr_reactor_options.uv_loop");
    s!(dfr_coroutine_options, "dfr_coroutine_options");
    o!(dfr_coroutine_options, size, "dfr_coroutine_options.size");
    o!(
        dfr_coroutine_options,
        stack_size,
        "dfr_coroutine_options.stack_size"
    );
    s!(dfr_connect_options, "dfr_connect_options");
    o!(dfr_connect_options, size, "dfr_connect_options.size");
    o!(dfr_connect_options, family, "dfr_connect_options.family");
    o!(
        dfr_connect_options,
        no_delay,
        "dfr_connect_options.no_delay"
    );
    s!(dfr_listen_options, "dfr_listen_options");
    o!(dfr_listen_options, size, "dfr_listen_options.size");
    o!(dfr_listen_options, backlog, "dfr_listen_options.backlog");
    o!(dfr_listen_options, no_delay, "dfr_listen_options.no_delay");
    s!(dfr_protocol, "dfr_protocol");
    o!(dfr_protocol, size, "dfr_protocol.size");
    o!(
        dfr_protocol,
        connection_made,
        "dfr_protocol.connection_made"
    );
    o!(dfr_protocol, data_received, "dfr_protocol.data_received");
    o!(dfr_protocol, read_eof, "dfr_protocol.read_eof");
    o!(
        dfr_protocol,
        connection_lost,
        "dfr_protocol.connection_lost"
    );
    o!(dfr_protocol, write_full, "dfr_protocol.write_full");
    o!(dfr_protocol, write_drained, "dfr_protocol.write_drained");
    s!(dfr_framed_protocol, "dfr_framed_protocol");
    o!(dfr_framed_protocol, size, "dfr_framed_protocol.size");
    o!(dfr_framed_protocol, framing, "dfr_framed_protocol.framing");
    o!(dfr_framed_protocol, max, "dfr_framed_protocol.max");
    o!(
        dfr_framed_protocol,
        connection_made,
        "dfr_framed_protocol.connection_made"
    );
    o!(
        dfr_framed_protocol,
        frame_received,
        "dfr_framed_protocol.frame_received"
    );
    o!(
        dfr_framed_protocol,
        connection_lost,
        "dfr_framed_protocol.connection_lost"
    );
    s!(dfr_state, "dfr_state");
    s!(bool, "bool");
    s!(dfr_trigger_phase, "dfr_trigger_phase");
    s!(dfr_trigger_event, "dfr_trigger_event");
    s!(dfr_list_flags, "dfr_list_flags");
    s!(dfr_kind, "dfr_kind");
    s!(ffi_type, "ffi_type");
    o!(ffi_type, size, "ffi_type.size");
    o!(ffi_type, alignment, "ffi_type.alignment");
    o!(ffi_type, type_, "ffi_type.type");
    o!(ffi_type, elements, "ffi_type.elements");
    s!(ffi_cif, "ffi_cif");
    o!(ffi_cif, abi, "ffi_cif.abi");
    o!(ffi_cif, nargs, "ffi_cif.nargs");
    o!(ffi_cif, arg_types, "ffi_cif.arg_types");
    o!(ffi_cif, rtype, "ffi_cif.rtype");
    o!(ffi_cif, bytes, "ffi_cif.bytes");
    o!(ffi_cif, flags, "ffi_cif.flags");
    s!(ffi_abi, "ffi_abi");
    s!(ffi_status, "ffi_status");
    let mut n = 0;
    for (k, v) in &rust {
        assert_eq!(
            c.get(k).map(String::as_str),
            Some(v.to_string().as_str()),
            "{k}"
        );
        n += 1;
    }
    macro_rules! k {
        ($($c:ident),*) => {$(
            let got: i128 = c[concat!("const ", stringify!($c))].parse().unwrap();
            // DFR_UNLIMITED (SIZE_MAX) prints as -1 through long long.
            let want = $c as i128;
            assert!(got == want || (want == usize::MAX as i128 && got == -1), stringify!($c));
            n += 1;
        )*};
    }
    k!(
        DFR_OK,
        DFR_EINVAL,
        DFR_ENOMEM,
        DFR_EALREADY,
        DFR_ECANCELLED,
        DFR_ETIMEDOUT,
        DFR_EFIRST,
        DFR_ENOTRUNNING,
        DFR_EALREADY_CANCELLED,
        DFR_EALREADY_RAN,
        DFR_ENOTCORO,
        DFR_EDEADLK,
        DFR_EOVERFLOW,
        DFR_EUNDERFLOW,
        DFR_ENOTOWNER,
        DFR_ECONNREFUSED,
        DFR_EUNREACHABLE,
        DFR_ENOTFOUND,
        DFR_ECONNRESET,
        DFR_ECONNDONE,
        DFR_ECONNLOST,
        DFR_EFRAME,
        DFR_EADDRINUSE,
        DFR_EALREADY_RUNNING,
        DFR_ENOTRESTARTABLE,
        DFR_EALREADY_STARTED,
        DFR_EINUSE,
        DFR_FRAMING_LINES,
        DFR_FRAMING_NETSTRINGS,
        DFR_KIND_INVALID,
        DFR_STATE_INVALID,
        DFR_KIND_NONE,
        DFR_KIND_I64,
        DFR_KIND_F64,
        DFR_KIND_PTR,
        DFR_KIND_BYTES,
        DFR_KIND_FAILURE,
        DFR_KIND_DEFERRED,
        DFR_KIND_LIST,
        DFR_KIND_OTHER,
        DFR_ANY,
        DFR_PENDING,
        DFR_SUCCEEDED,
        DFR_FAILED,
        DFR_FIRE_ON_ONE_CALLBACK,
        DFR_FIRE_ON_ONE_ERRBACK,
        DFR_CONSUME_ERRORS,
        DFR_UNLIMITED,
        DFR_BEFORE,
        DFR_DURING,
        DFR_AFTER,
        DFR_STARTUP,
        DFR_SHUTDOWN,
        DFR_CORO_DEFAULT_STACK,
        DFR_CORO_MIN_STACK,
        DFR_CORO_MAX_STACK,
        FFI_OK,
        FFI_DEFAULT_ABI
    );
    assert_eq!(c["domain"].as_bytes(), &DFR_DOMAIN[..3]);
    // Every size/offset line of the probe was compared.
    assert_eq!(
        c.keys()
            .filter(|k| !k.starts_with("const") && *k != "domain")
            .count(),
        rust.len()
    );
    assert_eq!(
        c.keys().filter(|k| k.starts_with("const")).count(),
        n - rust.len()
    );
}

fn library_path() -> PathBuf {
    for dir in std::env::split_paths(env!("DFR_SYS_LIBDIR")) {
        let p = dir.join("libdeferred.so");
        if p.exists() {
            return p;
        }
    }
    panic!("libdeferred.so not found in {}", env!("DFR_SYS_LIBDIR"));
}

#[test]
fn every_exported_symbol_is_declared() {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(library_path())
        .output()
        .expect("run nm (binutils)");
    assert!(out.status.success());
    let exported: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(|s| s.split('@').next().unwrap().to_string())
        .filter(|s| s.starts_with("dfr_"))
        .collect();
    assert!(exported.len() > 100, "{exported:?}");
    let src = include_str!("../src/lib.rs");
    let declared: BTreeSet<String> = src
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| (w[0] == "fn" || w[0] == "static") && w[1].starts_with("dfr_"))
        .map(|w| w[1].to_string())
        .collect();
    let missing: Vec<_> = exported.difference(&declared).collect();
    let stale: Vec<_> = declared.difference(&exported).collect();
    assert!(missing.is_empty(), "exported but not declared: {missing:?}");
    assert!(stale.is_empty(), "declared but not exported: {stale:?}");
}

#[test]
fn calls_through_the_declarations_work() {
    // SAFETY: plain calls with valid arguments; every value made is dropped.
    unsafe {
        let v = dfr_i64(42);
        assert!(dfr_is_i64(v));
        assert_eq!(v.u.i64, 42);
        assert!(std::ptr::eq(v.type_, &dfr_type_i64));
        let d = dfr_succeed(dfr_f64(1.5));
        assert_eq!(dfr_deferred_state(d), DFR_SUCCEEDED);
        assert_eq!((*dfr_deferred_result(d)).u.f64, 1.5);
        dfr_deferred_unref(d);
        let f = dfr_failure_newf(
            DFR_DOMAIN.as_ptr().cast(),
            -4,
            c"%s %d".as_ptr(),
            c"x".as_ptr(),
            7,
        );
        assert_eq!(
            std::ffi::CStr::from_ptr(dfr_failure_message(f)).to_str(),
            Ok("x 7")
        );
        dfr_failure_unref(f);
        let ver = std::ffi::CStr::from_ptr(dfr_version()).to_str().unwrap();
        assert!(ver.starts_with("0."), "{ver}");
    }
}

//! Finds libdeferred with pkg-config.  For this repository's own build, point
//! PKG_CONFIG_PATH at `<meson build dir>/meson-uninstalled` (scripts/rust-env
//! does it): pkg-config then prefers `deferred-uninstalled.pc`.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_DISABLE_UNINSTALLED");
    let lib = match pkg_config::Config::new()
        .atleast_version("0.2") // add_timeout_with, looping_call_with_count
        .probe("deferred")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!(
                "\nlibdeferred was not found by pkg-config ({e}).\n\
                 Install it (meson setup build && ninja -C build && meson install -C build),\n\
                 or build it and use it uninstalled:\n    \
                 meson setup <dir> && ninja -C <dir> && \
                 export PKG_CONFIG_PATH=<dir>/meson-uninstalled\n\
                 (bindings/rust/scripts/rust-env does this for you).\n"
            );
            std::process::exit(1);
        }
    };
    // 0.x: a new minor may change the ABI; these declarations are 0.2's.
    if !lib.version.starts_with("0.") {
        eprintln!(
            "\nlibdeferred {} found by pkg-config, but these declarations are for 0.2 \
             (a later 0.x adds to them; another major version is not compatible).\n",
            lib.version
        );
        std::process::exit(1);
    }
    // Dependents (the safe crate's build script) read these as
    // DEP_DEFERRED_LIBDIR / DEP_DEFERRED_INCLUDE / DEP_DEFERRED_VERSION.
    let join = |v: &[std::path::PathBuf]| {
        env::join_paths(v)
            .expect("pkg-config paths")
            .into_string()
            .expect("utf-8 paths")
    };
    println!("cargo:libdir={}", join(&lib.link_paths));
    println!("cargo:include={}", join(&lib.include_paths));
    println!("cargo:version={}", lib.version);
    // For this crate's own tests (the ABI check compiles a C probe and reads
    // the library's exported symbols).
    println!("cargo:rustc-env=DFR_SYS_LIBDIR={}", join(&lib.link_paths));
    println!(
        "cargo:rustc-env=DFR_SYS_INCLUDE={}",
        join(&lib.include_paths)
    );
    // libffi, for the ffi_* declarations (dfr_reactor_defer_call's cif):
    // libdeferred requires it, so it is there wherever libdeferred is.
    let ffi = match pkg_config::Config::new().probe("libffi") {
        Ok(ffi) => ffi,
        Err(e) => {
            eprintln!("\nlibffi was not found by pkg-config ({e}); libdeferred needs it.\n");
            std::process::exit(1);
        }
    };
    println!(
        "cargo:rustc-env=DFR_SYS_FFI_INCLUDE={}",
        join(&ffi.include_paths)
    );
    for dir in &lib.link_paths {
        if !is_system_dir(dir) {
            println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir.display());
        }
    }
}

fn is_system_dir(p: &std::path::Path) -> bool {
    ["/usr/lib", "/lib", "/usr/lib64", "/lib64"]
        .iter()
        .any(|s| p.starts_with(s) && p.components().count() <= 4)
}

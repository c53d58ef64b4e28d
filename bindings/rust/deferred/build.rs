//! Tests and examples of this crate run against the library deferred-sys
//! found: give them an rpath to it (unless it is in a system directory), so
//! they never pick up another copy.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_DEFERRED_LIBDIR");
    println!("cargo:rerun-if-env-changed=DEP_DEFERRED_VERSION");
    // The version checked against dfr_version() at run time.
    let version = std::env::var("DEP_DEFERRED_VERSION").unwrap_or_else(|_| "0.0.0".into());
    println!("cargo:rustc-env=DFR_BUILT_AGAINST={version}");
    if let Ok(dirs) = std::env::var("DEP_DEFERRED_LIBDIR") {
        for dir in std::env::split_paths(&dirs) {
            let system = ["/usr/lib", "/lib", "/usr/lib64", "/lib64"]
                .iter()
                .any(|s| dir.starts_with(s) && dir.components().count() <= 4);
            if !system {
                // Tests, examples and benches (a library has no link step).
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
        }
    }
}

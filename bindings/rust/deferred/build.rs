//! Tests and examples of this crate run against the library deferred-sys
//! found: give them an rpath to it (unless it is in a system directory), so
//! they never pick up another copy.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_DEFERRED_LIBDIR");
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

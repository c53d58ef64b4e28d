//! Compiles the C half of the cross-language tests against the headers of
//! the library deferred-sys found, and gives tests an rpath to it.
fn main() {
    println!("cargo:rerun-if-changed=c/interop.c");
    let mut b = cc::Build::new();
    b.file("c/interop.c")
        .flag("-std=gnu11")
        .warnings_into_errors(true);
    for inc in std::env::split_paths(&std::env::var("DEP_DEFERRED_INCLUDE").unwrap_or_default()) {
        b.include(inc);
    }
    b.compile("interop");
    for dir in std::env::split_paths(&std::env::var("DEP_DEFERRED_LIBDIR").unwrap_or_default()) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}

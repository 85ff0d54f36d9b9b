//! With the seccomp feature, links libseccomp statically from the
//! directory kforge names in LIBSECCOMP_LIB_PATH, as libseccomp-sys does for
//! Kata's agent when LIBSECCOMP_LINK_TYPE is static.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LIB_PATH");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LINK_TYPE");
    if std::env::var_os("CARGO_FEATURE_SECCOMP").is_none() {
        return;
    }
    let dir = std::env::var("LIBSECCOMP_LIB_PATH").expect("LIBSECCOMP_LIB_PATH is not set");
    let kind = std::env::var("LIBSECCOMP_LINK_TYPE").unwrap_or_else(|_| "dylib".into());
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-lib={kind}=seccomp");
}

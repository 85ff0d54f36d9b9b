//! Prints a ready line built with serde_json, then, when it runs as /init
//! (pid 1), reboots so that QEMU (-no-reboot) exits. With the seccomp
//! feature the line carries the version of the libseccomp linked in.
use std::io::Write;

#[cfg(feature = "seccomp")]
mod seccomp {
    #[repr(C)]
    pub struct Version {
        major: libc::c_uint,
        minor: libc::c_uint,
        micro: libc::c_uint,
    }
    extern "C" {
        fn seccomp_version() -> *const Version;
    }
    pub fn version() -> String {
        let v = unsafe { &*seccomp_version() };
        format!("{}.{}.{}", v.major, v.minor, v.micro)
    }
}

fn main() {
    let pid = unsafe { libc::getpid() };
    #[allow(unused_mut)]
    let mut ready = serde_json::json!({ "ready": true, "pid": pid });
    #[cfg(feature = "seccomp")]
    {
        ready["seccomp"] = serde_json::Value::from(seccomp::version());
    }
    let mut out = std::io::stdout();
    writeln!(out, "KFORGE-RUST-READY {}", ready).unwrap();
    out.flush().unwrap();
    if pid == 1 {
        unsafe {
            libc::sync();
            libc::reboot(libc::RB_AUTOBOOT);
        }
    }
}

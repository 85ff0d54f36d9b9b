//! Prints a ready line built with serde_json, then, when it runs as /init
//! (pid 1), reboots so that QEMU (-no-reboot) exits.
use std::io::Write;

fn main() {
    let pid = unsafe { libc::getpid() };
    let ready = serde_json::json!({ "ready": true, "pid": pid });
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

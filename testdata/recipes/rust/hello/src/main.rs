//! Prints a ready line built with serde_json, then, when it runs as /init
//! (pid 1), reboots so that QEMU (-no-reboot) exits. With the seccomp
//! feature the line carries the version of the libseccomp linked in. Run by
//! systemd, the line also names the unit it runs in (from its cgroup) and
//! the time since the kernel started (CLOCK_BOOTTIME); kata-agent.service's
//! ExecStop then powers the guest off when it exits.
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
    if pid != 1 {
        if let Some(unit) = systemd_unit() {
            ready["unit"] = serde_json::Value::from(unit);
            ready["uptime_ms"] = serde_json::Value::from(uptime_ms());
        }
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

/// The systemd unit whose cgroup the process is in (cgroup v2's single
/// line, "0::/system.slice/kata-agent.service"), if it is a service.
fn systemd_unit() -> Option<String> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let unit = path.rsplit('/').next()?;
    unit.ends_with(".service").then(|| unit.to_string())
}

/// Milliseconds since the kernel started counting time, suspend included.
fn uptime_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

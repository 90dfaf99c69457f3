//! Dropping privileges once the sockets are open.
//!
//! Takes an optional user name; switches to that user (its primary group, no supplementary
//! groups) and clears every capability — effective, permitted and inheritable — so that once
//! the rings and listeners exist, a compromised parser can no longer use what opening them
//! needed. Returns a one-line error when the kernel refuses.

use std::ffi::CString;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Switches to `user` when given, then drops every capability and forbids regaining any.
pub fn drop_privileges(user: Option<&str>) -> Result<(), String> {
    if let Some(name) = user {
        let c = CString::new(name).map_err(|_| format!("bad user name {name:?}"))?;
        // SAFETY: getpwnam returns a pointer to static storage or null; read at once.
        let pw = unsafe { libc::getpwnam(c.as_ptr()) };
        if pw.is_null() {
            return Err(format!("user {name} does not exist"));
        }
        // SAFETY: `pw` is non-null and points to a valid passwd entry.
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        // SAFETY: plain syscalls; each result is checked.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(format!(
                    "cannot switch to user {name}: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: capset with a v3 header and two zeroed data words clears this thread's
    // capabilities; threads started afterwards inherit the empty sets.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot drop capabilities: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: prctl with constant arguments.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
    Ok(())
}

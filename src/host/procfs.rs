//! Reading a `/proc` tree: the three operations the index needs, behind a trait so that tests
//! can serve a fake tree or inject the errors a real one gives (`EACCES` on another user's
//! descriptors, `ENOENT`/`ESRCH` from a process that exited mid-scan).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

/// The longest line read from a `/proc` file; longer lines end the read as unreadable (no
/// file the index reads has lines near this long).
const MAX_LINE: usize = 64 * 1024;

/// A `/proc` tree. Paths are relative to its root (`"1234/fd"`, `"1234/net/tcp6"`).
pub trait ProcFs: Send {
    /// The names in a directory.
    fn list(&self, rel: &str) -> io::Result<Vec<String>>;
    /// Where a symbolic link points (`socket:[1234]`, `net:[4026531840]`).
    fn link(&self, rel: &str) -> io::Result<String>;
    /// Hands the file's lines (without their newline) to `each` until it returns false or the
    /// file ends.
    fn lines(&self, rel: &str, each: &mut dyn FnMut(&str) -> bool) -> io::Result<()>;
}

/// A directory that looks like `/proc`: `/proc` itself, or a fake tree in tests.
#[derive(Debug, Clone)]
pub struct DirProc {
    root: PathBuf,
}

impl DirProc {
    pub fn new(root: impl Into<PathBuf>) -> DirProc {
        DirProc { root: root.into() }
    }
}

impl ProcFs for DirProc {
    fn list(&self, rel: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.root.join(rel))? {
            // Names in /proc are ASCII; anything else is not a pid or a descriptor.
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn link(&self, rel: &str) -> io::Result<String> {
        let target = std::fs::read_link(self.root.join(rel))?;
        Ok(target.to_string_lossy().into_owned())
    }

    fn lines(&self, rel: &str, each: &mut dyn FnMut(&str) -> bool) -> io::Result<()> {
        let mut reader = BufReader::new(File::open(self.root.join(rel))?);
        let mut line = String::new();
        loop {
            line.clear();
            let n = Read::take(&mut reader, MAX_LINE as u64).read_line(&mut line)?;
            if n == 0 {
                return Ok(());
            }
            if !line.ends_with('\n') && n == MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if !each(line.trim_end_matches('\n')) {
                return Ok(());
            }
        }
    }
}

/// What a failed read of `/proc` means for the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Not allowed (`EACCES`, `EPERM`): another user's process without the capability.
    Permission,
    /// The process exited while it was read (`ENOENT`, `ESRCH`).
    Gone,
    /// Anything else (`EIO`, a file that is not what it should be).
    Unreadable,
}

pub(crate) fn failure(e: &io::Error) -> Failure {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Failure::Permission,
        Some(libc::ENOENT | libc::ESRCH) => Failure::Gone,
        Some(_) => Failure::Unreadable,
        None => match e.kind() {
            io::ErrorKind::PermissionDenied => Failure::Permission,
            io::ErrorKind::NotFound => Failure::Gone,
            _ => Failure::Unreadable,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert_eq!(failure(&e(libc::EACCES)), Failure::Permission);
        assert_eq!(failure(&e(libc::EPERM)), Failure::Permission);
        assert_eq!(failure(&e(libc::ENOENT)), Failure::Gone);
        assert_eq!(failure(&e(libc::ESRCH)), Failure::Gone);
        assert_eq!(failure(&e(libc::EIO)), Failure::Unreadable);
        let invalid = io::Error::new(io::ErrorKind::InvalidData, "x");
        assert_eq!(failure(&invalid), Failure::Unreadable);
    }

    #[test]
    fn reads_lines_links_and_names_of_the_real_proc() {
        let proc = DirProc::new("/proc");
        let mut first = None;
        proc.lines("self/comm", &mut |l| {
            first = Some(l.to_string());
            false
        })
        .unwrap();
        assert!(first.is_some_and(|c| !c.is_empty() && !c.contains('\n')));
        assert!(proc.link("self/ns/net").unwrap().starts_with("net:["));
        assert!(proc.list("self/fd").unwrap().iter().any(|n| n == "0"));
        let missing = proc.link("self/fd/999999").unwrap_err();
        assert_eq!(failure(&missing), Failure::Gone);
    }
}

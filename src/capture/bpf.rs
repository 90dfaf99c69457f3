//! Capture filters: tcpdump expressions compiled to classic BPF by libpcap's own compiler.
//!
//! Takes an expression (`tcp port 80 or port 3306`); gives the instructions to attach with
//! SO_ATTACH_FILTER, and their listing as `tcpdump -d` prints it. libpcap is loaded at run time
//! (`libpcap.so.0.8`, Debian's libpcap0.8), so building wirespan needs no libpcap headers and
//! replay works without it; only a capture with a filter needs the library.

use super::ring::SockFilter;
use libloading::{Library, Symbol};
use std::ffi::{c_char, c_int, c_uint, CStr, CString};

/// DLT_EN10MB: filters for Ethernet frames (SOCK_RAW sockets on an interface).
pub const DLT_EN10MB: c_int = 1;
/// DLT_RAW: filters for frames that start at the IP header (cooked `-i any` sockets).
pub const DLT_RAW: c_int = 12;
const PCAP_NETMASK_UNKNOWN: c_uint = 0xffff_ffff;

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut SockFilter,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut std::ffi::c_void;
type Compile = unsafe extern "C" fn(
    *mut std::ffi::c_void,
    *mut BpfProgram,
    *const c_char,
    c_int,
    c_uint,
) -> c_int;
type GetErr = unsafe extern "C" fn(*mut std::ffi::c_void) -> *mut c_char;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type Close = unsafe extern "C" fn(*mut std::ffi::c_void);
type Image = unsafe extern "C" fn(*const SockFilter, c_int) -> *mut c_char;

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    pub instructions: Vec<SockFilter>,
    /// `tcpdump -d` style listing, one line per instruction.
    pub listing: Vec<String>,
}

fn load() -> Result<Library, String> {
    let mut last = String::new();
    for name in ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"] {
        // SAFETY: loading libpcap runs its initialisers, which have no preconditions.
        match unsafe { Library::new(name) } {
            Ok(lib) => return Ok(lib),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "a capture filter needs libpcap to compile it (apt-get install libpcap0.8): {last}"
    ))
}

/// Compiles `expr` for frames of the given DLT.
pub fn compile(expr: &str, dlt: c_int) -> Result<Filter, String> {
    let lib = load()?;
    let cexpr = CString::new(expr).map_err(|_| "the filter contains a NUL byte".to_owned())?;
    let sym_err = |e: libloading::Error| format!("libpcap lacks a symbol wirespan needs: {e}");
    // SAFETY: the symbol types match libpcap's documented C prototypes.
    unsafe {
        let open_dead: Symbol<OpenDead> = lib.get(b"pcap_open_dead\0").map_err(sym_err)?;
        let compile: Symbol<Compile> = lib.get(b"pcap_compile\0").map_err(sym_err)?;
        let geterr: Symbol<GetErr> = lib.get(b"pcap_geterr\0").map_err(sym_err)?;
        let freecode: Symbol<FreeCode> = lib.get(b"pcap_freecode\0").map_err(sym_err)?;
        let close: Symbol<Close> = lib.get(b"pcap_close\0").map_err(sym_err)?;
        let image: Symbol<Image> = lib.get(b"bpf_image\0").map_err(sym_err)?;
        let handle = open_dead(dlt, 262_144);
        if handle.is_null() {
            return Err("libpcap could not open a compiler handle".into());
        }
        let mut prog = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        if compile(handle, &mut prog, cexpr.as_ptr(), 1, PCAP_NETMASK_UNKNOWN) != 0 {
            let msg = CStr::from_ptr(geterr(handle))
                .to_string_lossy()
                .into_owned();
            close(handle);
            return Err(format!("bad filter '{expr}': {msg}"));
        }
        let insns = std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize).to_vec();
        let listing = insns
            .iter()
            .enumerate()
            .map(|(i, insn)| {
                CStr::from_ptr(image(insn, i as c_int))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        freecode(&mut prog);
        close(handle);
        Ok(Filter {
            instructions: insns,
            listing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_like_tcpdump_or_says_why_not() {
        let f = match compile("tcp port 80", DLT_EN10MB) {
            Ok(f) => f,
            Err(e) if e.contains("needs libpcap") => {
                eprintln!("SKIPPED: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            f.listing.first().map(String::as_str),
            Some("(000) ldh      [12]")
        );
        assert_eq!(f.instructions.len(), f.listing.len());
        assert!(f.listing.last().is_some_and(|l| l.contains("ret")));
        let bad = compile("tcp prot 80", DLT_EN10MB).expect_err("a syntax error");
        assert!(bad.starts_with("bad filter 'tcp prot 80'"), "{bad}");
    }
}

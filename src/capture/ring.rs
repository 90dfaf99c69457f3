//! Live capture: an AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring.
//!
//! Takes an interface, ring geometry, an optional fanout group and a classic BPF program;
//! gives blocks of frames read in place from the ring, each frame borrowed until its block is
//! handed back to the kernel (when the [`Block`] is dropped). Kernel packet and drop counts come
//! from PACKET_STATISTICS.

use super::LinkType;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{fence, Ordering};

const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_FANOUT: libc::c_int = 18;
const TPACKET_V3: libc::c_int = 2;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const PACKET_FANOUT_HASH: u32 = 0;
const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_KERNEL: u32 = 0;
const ETH_P_ALL: u16 = 0x0003;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const PACKET_OUTGOING: u8 = 4;
/// Offset of `struct sockaddr_ll` after a `tpacket3_hdr` (TPACKET_ALIGN(sizeof(hdr)) = 48).
const SOCKADDR_LL_OFFSET: usize = 48;

/// Ring geometry: `block_count` blocks of `block_size` bytes; the kernel hands a block over
/// when it is full or `block_timeout_ms` after its first frame.
#[derive(Debug, Clone, Copy)]
pub struct RingConfig {
    pub block_size: u32,
    pub block_count: u32,
    pub frame_size: u32,
    pub block_timeout_ms: u32,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            block_count: 64,
            frame_size: 2048,
            block_timeout_ms: 10,
        }
    }
}

/// One classic BPF instruction, as `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const SockFilter,
}

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
struct PacketMreq {
    mr_ifindex: libc::c_int,
    mr_type: libc::c_ushort,
    mr_alen: libc::c_ushort,
    mr_address: [u8; 8],
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

/// Kernel counters of one socket since the last read (PACKET_STATISTICS resets on read).
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelStats {
    pub packets: u64,
    pub drops: u64,
}

/// What opening a ring can fail on, each with a message fit for the user.
#[derive(Debug)]
pub enum RingError {
    NoSuchInterface(String),
    NotPermitted(io::Error),
    Other(String, io::Error),
}

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingError::NoSuchInterface(i) => write!(f, "interface {i} does not exist"),
            RingError::NotPermitted(e) => write!(
                f,
                "cannot open a packet socket ({e}): capture needs CAP_NET_RAW (run as root or grant the capability)"
            ),
            RingError::Other(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for RingError {}

/// The index of an interface, or `None` when there is no such interface.
pub fn interface_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// The name of an interface index (for `-i any`, where each frame says where it came from).
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// An AF_PACKET socket with its mapped TPACKET_V3 ring.
pub struct Ring {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    cfg: RingConfig,
    next_block: usize,
    /// Bound to every interface (`-i any`): frames are cooked (start at the network layer).
    cooked: bool,
}

// SAFETY: the ring is owned by one reader thread at a time; the mapping is private to it.
unsafe impl Send for Ring {}

fn setsockopt<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
    what: &str,
) -> Result<(), RingError> {
    // SAFETY: `value` points to a live `T` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(RingError::Other(
            what.to_owned(),
            io::Error::last_os_error(),
        ))
    }
}

impl Ring {
    /// Opens a ring on `interface` (`any` for all). The filter is attached before the ring
    /// exists, so nothing unfiltered is ever queued; fanout joins `group` (hash by flow).
    pub fn open(
        interface: &str,
        cfg: RingConfig,
        fanout_group: Option<u16>,
        promiscuous: bool,
        filter: Option<&[SockFilter]>,
    ) -> Result<Ring, RingError> {
        let any = interface == "any";
        let ifindex = if any {
            0
        } else {
            interface_index(interface)
                .ok_or_else(|| RingError::NoSuchInterface(interface.to_owned()))?
        };
        let kind = if any {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_RAW
        };
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, kind, i32::from(ETH_P_ALL.to_be())) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EPERM) {
                RingError::NotPermitted(e)
            } else {
                RingError::Other("socket(AF_PACKET)".into(), e)
            });
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if let Some(prog) = filter {
            let fprog = SockFprog {
                len: prog.len() as libc::c_ushort,
                filter: prog.as_ptr(),
            };
            setsockopt(
                &fd,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &fprog,
                "attaching the BPF filter",
            )?;
        }
        setsockopt(
            &fd,
            SOL_PACKET,
            PACKET_VERSION,
            &TPACKET_V3,
            "selecting TPACKET_V3",
        )?;
        let req = TpacketReq3 {
            block_size: cfg.block_size,
            block_nr: cfg.block_count,
            frame_size: cfg.frame_size,
            frame_nr: cfg.block_size / cfg.frame_size * cfg.block_count,
            retire_blk_tov: cfg.block_timeout_ms,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(
            &fd,
            SOL_PACKET,
            PACKET_RX_RING,
            &req,
            "creating the receive ring",
        )?;
        let map_len = cfg.block_size as usize * cfg.block_count as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket; checked below.
        let map = unsafe {
            libc::mmap(
                ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd.as_raw_fd(),
                0,
            )
        };
        let map = if map == libc::MAP_FAILED {
            // MAP_LOCKED can fail under a low memlock limit; an unlocked ring still works.
            // SAFETY: as above, without MAP_LOCKED.
            let m = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if m == libc::MAP_FAILED {
                return Err(RingError::Other(
                    "mapping the ring".into(),
                    io::Error::last_os_error(),
                ));
            }
            m
        } else {
            map
        };
        let ring = Ring {
            fd,
            map: map.cast(),
            map_len,
            cfg,
            next_block: 0,
            cooked: any,
        };
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value before we fill it.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                ring.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(RingError::Other(
                format!("binding to {interface}"),
                io::Error::last_os_error(),
            ));
        }
        if promiscuous && !any {
            let mreq = PacketMreq {
                mr_ifindex: ifindex as i32,
                mr_type: PACKET_MR_PROMISC,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            setsockopt(
                &ring.fd,
                SOL_PACKET,
                PACKET_ADD_MEMBERSHIP,
                &mreq,
                "entering promiscuous mode",
            )?;
        }
        if let Some(group) = fanout_group {
            let arg: u32 =
                u32::from(group) | (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16;
            setsockopt(
                &ring.fd,
                SOL_PACKET,
                PACKET_FANOUT,
                &arg,
                "joining the fanout group",
            )?;
        }
        Ok(ring)
    }

    fn block_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY: i < block_count, so the offset stays inside the mapping.
        unsafe { self.map.add(i * self.cfg.block_size as usize) }
    }

    fn block_status(&self, i: usize) -> u32 {
        // SAFETY: the block header's status word is at offset 8 of each block; the kernel
        // writes it concurrently, hence the volatile read.
        unsafe { ptr::read_volatile(self.block_ptr(i).add(8).cast::<u32>()) }
    }

    /// The next block the kernel has filled, waiting up to `timeout_ms` for one.
    pub fn next_block(&mut self, timeout_ms: i32) -> io::Result<Option<Block<'_>>> {
        let i = self.next_block;
        if self.block_status(i) & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                return if e.kind() == io::ErrorKind::Interrupted {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
            if self.block_status(i) & TP_STATUS_USER == 0 {
                return Ok(None);
            }
        }
        // Reads of the block's frames must not move before the status check.
        fence(Ordering::Acquire);
        self.next_block = (i + 1) % self.cfg.block_count as usize;
        let base = self.block_ptr(i);
        let len = self.cfg.block_size as usize;
        // SAFETY: the kernel handed block `i` to user space (TP_STATUS_USER) and will not touch
        // it until we set TP_STATUS_KERNEL in Block::drop.
        let bytes = unsafe { std::slice::from_raw_parts(base as *const u8, len) };
        Ok(Some(Block {
            bytes,
            status: base,
            cooked: self.cooked,
            next: 0,
            left: 0,
            started: false,
        }))
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Kernel counters since the previous call.
    pub fn kernel_stats(&self) -> KernelStats {
        let mut st = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: `st` is writable for `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                PACKET_STATISTICS,
                (&mut st as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return KernelStats::default();
        }
        // tp_packets counts every packet the socket got, dropped ones included.
        KernelStats {
            packets: u64::from(st.tp_packets),
            drops: u64::from(st.tp_drops),
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what open() mapped; no Block can outlive &mut self.
        unsafe {
            libc::munmap(self.map.cast(), self.map_len);
        }
    }
}

/// A frame borrowed from the ring.
#[derive(Debug, Clone, Copy)]
pub struct RingFrame<'a> {
    pub ts_ns: u64,
    pub wire_len: u32,
    pub ifindex: u32,
    pub link: LinkType,
    /// For cooked frames: the EtherType from sockaddr_ll.
    pub ethertype: u16,
    pub data: &'a [u8],
}

/// A block of frames owned by user space until dropped.
pub struct Block<'r> {
    bytes: &'r [u8],
    status: *mut u8,
    cooked: bool,
    next: usize,
    left: u32,
    started: bool,
}

fn rd32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn rd16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

impl<'r> Block<'r> {
    /// The block's next frame. Loopback frames are seen twice (going out and coming in);
    /// like libpcap, the outgoing copy is skipped.
    pub fn next_frame(&mut self) -> Option<RingFrame<'r>> {
        loop {
            let (frame, outgoing_loopback) = self.raw_frame()?;
            if !outgoing_loopback {
                return Some(frame);
            }
        }
    }

    fn raw_frame(&mut self) -> Option<(RingFrame<'r>, bool)> {
        if !self.started {
            self.started = true;
            self.left = rd32(self.bytes, 12)?;
            self.next = rd32(self.bytes, 16)? as usize;
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let at = self.next;
        let hdr = self.bytes.get(at..)?;
        let next_offset = rd32(hdr, 0)? as usize;
        let sec = rd32(hdr, 4)?;
        let nsec = rd32(hdr, 8)?;
        let snaplen = rd32(hdr, 12)? as usize;
        let len = rd32(hdr, 16)?;
        let mac = usize::from(rd16(hdr, 24)?);
        let ll = hdr.get(SOCKADDR_LL_OFFSET..SOCKADDR_LL_OFFSET + 20)?;
        let ethertype = u16::from_be_bytes([ll[2], ll[3]]);
        let ifindex = i32::from_ne_bytes([ll[4], ll[5], ll[6], ll[7]]) as u32;
        let hatype = u16::from_ne_bytes([ll[8], ll[9]]);
        let pkttype = ll[10];
        self.next = if next_offset == 0 {
            self.bytes.len()
        } else {
            at + next_offset
        };
        let data = hdr.get(mac..mac + snaplen)?;
        let link = if self.cooked {
            LinkType::Ethertype(ethertype)
        } else if hatype == ARPHRD_ETHER || hatype == ARPHRD_LOOPBACK {
            LinkType::Ethernet
        } else {
            LinkType::RawIp
        };
        let frame = RingFrame {
            ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
            wire_len: len,
            ifindex,
            link,
            ethertype,
            data,
        };
        Some((
            frame,
            hatype == ARPHRD_LOOPBACK && pkttype == PACKET_OUTGOING,
        ))
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        // Frames must be done with before the kernel may overwrite the block.
        fence(Ordering::Release);
        // SAFETY: the status word of this block, which we own until this write returns it.
        unsafe { ptr::write_volatile(self.status.add(8).cast::<u32>(), TP_STATUS_KERNEL) }
    }
}

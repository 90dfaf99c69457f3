//! A traffic generator for the live benchmark: pushes a capture's frames out of an interface
//! (a veth, usually) as fast as one core can, or at a given rate, looping the capture with the
//! client port of every inner TCP segment moved on each loop, so that every loop's connections
//! are new flows (a flow table would take a repeated flow for retransmissions).
//!
//!   cargo build --release --example send
//!   target/release/examples/send IFACE PCAP [--loops N] [--pps RATE] [--batch N] [--threads N]
//!   target/release/examples/send --write OUT.pcap PCAP [--loops N] [--pps RATE]
//!
//! Sends with sendmmsg(2) on an AF_PACKET socket with PACKET_QDISC_BYPASS (no qdisc, the frame
//! goes straight to the driver), `--batch` frames per call (default 256). With `--pps`, paced
//! per batch. `--write` writes the same stream (the loops, the moved ports, timestamps spaced at
//! `--pps`, default 1 M/s) as a pcap instead, so that replay can be timed on exactly the
//! packets the live run was offered. The client port is the higher of the two; TCP checksums
//! are kept right (RFC 1624). With `--threads N`, N threads send at once, each on its own
//! socket, thread i taking loops i, i+N, i+2N…: on a veth the receiving side's kernel work
//! (and every listening capture's copy into its ring) runs on the sending thread's CPU, so one
//! thread is bound by one core's worth of sender and receiver together. Prints packets, bytes,
//! seconds and the rate reached.

use std::ffi::CString;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use wirespan::capture::{CaptureFile, CapturePoints, LinkType};
use wirespan::decode::{decode, DecodeConfig, Decoded, Encap};

/// One frame of the capture and where its client port sits (with its TCP checksum's offset).
#[derive(Clone)]
struct Frame {
    bytes: Vec<u8>,
    /// (offset of the client port, its original value, offset of the TCP checksum)
    port: Option<(usize, u16, usize)>,
}

struct Args {
    iface: Option<String>,
    write: Option<String>,
    pcap: String,
    loops: u64,
    pps: Option<f64>,
    batch: usize,
    threads: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut args = Args {
        iface: None,
        write: None,
        pcap: String::new(),
        loops: 1,
        pps: None,
        batch: 256,
        threads: 1,
    };
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--loops" => args.loops = value("--loops")?.parse().map_err(|e| format!("{e}"))?,
            "--pps" => args.pps = Some(value("--pps")?.parse().map_err(|e| format!("{e}"))?),
            "--batch" => args.batch = value("--batch")?.parse().map_err(|e| format!("{e}"))?,
            "--threads" => {
                args.threads = value("--threads")?.parse().map_err(|e| format!("{e}"))?
            }
            "--write" => args.write = Some(value("--write")?),
            _ => positional.push(a),
        }
    }
    match (args.write.is_some(), positional.as_slice()) {
        (false, [iface, pcap]) => {
            args.iface = Some(iface.clone());
            args.pcap = pcap.clone();
        }
        (true, [pcap]) => args.pcap = pcap.clone(),
        _ => return Err(
            "usage: send IFACE PCAP [--loops N] [--pps RATE] [--batch N] [--threads N]\n       \
                        send --write OUT.pcap PCAP [--loops N] [--pps RATE]"
                .into(),
        ),
    }
    args.batch = args.batch.clamp(1, 1024);
    args.threads = args.threads.clamp(1, 64);
    Ok(args)
}

/// The frames of `path`, each with its inner TCP client port found.
fn load(path: &str) -> Result<(Vec<Frame>, LinkType), String> {
    let file = CaptureFile::open(Path::new(path)).map_err(|e| e.to_string())?;
    let mut points = CapturePoints::default();
    let mut reader = file.packets(&mut points).map_err(|e| e.to_string())?;
    let cfg = DecodeConfig::default();
    let mut encap = Encap::default();
    let mut frames = Vec::new();
    let mut link = LinkType::Ethernet;
    while let Some(p) = reader.next_packet(&mut points).map_err(|e| e.to_string())? {
        link = p.link;
        let port = match decode(p.link, p.data, false, &cfg, &mut encap) {
            Decoded::Tcp(seg) => tcp_header(p.data, &seg).map(|at| {
                let client_is_src = seg.src_port > seg.dst_port;
                let (off, value) = if client_is_src {
                    (at, seg.src_port)
                } else {
                    (at + 2, seg.dst_port)
                };
                (off, value, at + 16)
            }),
            _ => None,
        };
        frames.push(Frame {
            bytes: p.data.to_vec(),
            port,
        });
    }
    if frames.is_empty() {
        return Err(format!("{path}: no frames"));
    }
    Ok((frames, link))
}

/// Where the segment's TCP header starts in `frame`: just before its payload, found by its
/// ports and sequence number (the header is 20 to 60 bytes).
fn tcp_header(frame: &[u8], seg: &wirespan::decode::TcpSegment<'_>) -> Option<usize> {
    let payload_at = (seg.payload.as_ptr() as usize).checked_sub(frame.as_ptr() as usize)?;
    let mut want = [0u8; 8];
    want[..2].copy_from_slice(&seg.src_port.to_be_bytes());
    want[2..4].copy_from_slice(&seg.dst_port.to_be_bytes());
    want[4..].copy_from_slice(&seg.seq.to_be_bytes());
    (20..=60)
        .step_by(4)
        .filter_map(|len| payload_at.checked_sub(len))
        .find(|&at| frame.get(at..at + 8) == Some(&want[..]))
}

/// The client port of loop `n`: moved by a step prime to the port range, so that one loop's
/// ports stay distinct and come back only after thousands of loops.
fn moved_port(original: u16, n: u64) -> u16 {
    if original < 1024 {
        return original;
    }
    let span = 65536 - 1024;
    (1024 + (u64::from(original) - 1024 + n * 7919) % span) as u16
}

/// Writes `port` at `frame[off..]`, correcting the TCP checksum at `sum_at` (RFC 1624).
fn set_port(frame: &mut [u8], off: usize, sum_at: usize, port: u16) {
    let Some(old) = frame
        .get(off..off + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
    else {
        return;
    };
    if let Some(b) = frame.get_mut(off..off + 2) {
        b.copy_from_slice(&port.to_be_bytes());
    }
    if let Some(b) = frame.get_mut(sum_at..sum_at + 2) {
        let sum = u16::from_be_bytes([b[0], b[1]]);
        let mut acc = u32::from(!sum) + u32::from(!old) + u32::from(port);
        acc = (acc & 0xffff) + (acc >> 16);
        acc = (acc & 0xffff) + (acc >> 16);
        b.copy_from_slice(&(!(acc as u16)).to_be_bytes());
    }
}

/// Moves every frame's client port to loop `n`'s.
fn rewrite(frames: &mut [Frame], n: u64) {
    for f in frames.iter_mut() {
        if let Some((off, original, sum_at)) = f.port {
            set_port(&mut f.bytes, off, sum_at, moved_port(original, n));
        }
    }
}

fn open_socket(iface: &str) -> Result<i32, String> {
    let name = CString::new(iface).map_err(|e| e.to_string())?;
    // SAFETY: plain syscalls on a socket this function owns; every pointer is to a local.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        if ifindex == 0 {
            return Err(format!("{iface}: no such interface"));
        }
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let one: libc::c_int = 1;
        let bypass = libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        if bypass < 0 {
            eprintln!(
                "send: PACKET_QDISC_BYPASS refused ({}), going through the qdisc",
                std::io::Error::last_os_error()
            );
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        addr.sll_protocol = 0;
        let bound = libc::bind(
            fd,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        );
        if bound < 0 {
            return Err(format!("bind {iface}: {}", std::io::Error::last_os_error()));
        }
        Ok(fd)
    }
}

/// Sends `frames` (all of them, retrying what the kernel did not take); returns the frames
/// the kernel refused outright (a full device queue: ENOBUFS).
fn send_all(fd: i32, frames: &[Frame], batch: usize, pace: &mut Pacer) -> Result<u64, String> {
    let mut refused = 0u64;
    for chunk in frames.chunks(batch) {
        let mut iov: Vec<libc::iovec> = chunk
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.bytes.as_ptr() as *mut libc::c_void,
                iov_len: f.bytes.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; every field set below points into `iov`, which
        // outlives the call.
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        let mut done = 0;
        while done < msgs.len() {
            // SAFETY: `msgs[done..]` is a valid array of initialised mmsghdr.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs[done..].as_mut_ptr(),
                    (msgs.len() - done) as libc::c_uint,
                    0,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENOBUFS) {
                    refused += 1;
                    done += 1;
                    continue;
                }
                return Err(format!("sendmmsg: {e}"));
            }
            done += n as usize;
        }
        pace.wait(chunk.len() as u64);
    }
    Ok(refused)
}

/// Keeps a steady rate: after each batch, waits until the schedule catches up.
struct Pacer {
    start: Instant,
    pps: Option<f64>,
    sent: u64,
}

impl Pacer {
    fn wait(&mut self, n: u64) {
        self.sent += n;
        let Some(pps) = self.pps else { return };
        let due = Duration::from_secs_f64(self.sent as f64 / pps);
        loop {
            let now = self.start.elapsed();
            if now >= due {
                return;
            }
            if due - now > Duration::from_micros(200) {
                std::thread::sleep(due - now - Duration::from_micros(100));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Writes the looped stream as a classic pcap, microsecond timestamps `1/pps` apart.
fn write_pcap(
    out: &str,
    frames: &mut [Frame],
    link: LinkType,
    loops: u64,
    pps: f64,
) -> Result<(), String> {
    let file = std::fs::File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut w = std::io::BufWriter::new(file);
    let linktype: u32 = match link {
        LinkType::LinuxSll => 113,
        LinkType::RawIp => 101,
        _ => 1,
    };
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&linktype.to_le_bytes());
    let io = |e: std::io::Error| format!("{out}: {e}");
    w.write_all(&header).map_err(io)?;
    let t0 = 1_700_000_000_000_000u64;
    let mut k = 0u64;
    for n in 0..loops {
        rewrite(frames, n);
        for f in frames.iter() {
            let us = t0 + (k as f64 * 1e6 / pps) as u64;
            k += 1;
            let len = f.bytes.len() as u32;
            let mut rec = [0u8; 16];
            rec[..4].copy_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
            rec[4..8].copy_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
            rec[8..12].copy_from_slice(&len.to_le_bytes());
            rec[12..].copy_from_slice(&len.to_le_bytes());
            w.write_all(&rec).map_err(io)?;
            w.write_all(&f.bytes).map_err(io)?;
        }
    }
    w.flush().map_err(io)?;
    println!("wrote {} packets to {out}", k);
    Ok(())
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let (mut frames, link) = load(&args.pcap)?;
    if let Some(out) = &args.write {
        return write_pcap(
            out,
            &mut frames,
            link,
            args.loops,
            args.pps.unwrap_or(1_000_000.0),
        );
    }
    if !matches!(link, LinkType::Ethernet) {
        return Err(format!(
            "{}: only Ethernet frames can be sent on an interface",
            args.pcap
        ));
    }
    let iface = args.iface.as_deref().unwrap_or_default();
    let bytes_per_loop: u64 = frames.iter().map(|f| f.bytes.len() as u64).sum();
    let start = Instant::now();
    let threads = args.threads;
    let results: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                // Each thread moves the ports of its own copy.
                let mut frames = frames.clone();
                let pps = args.pps.map(|p| p / threads as f64);
                let batch = args.batch;
                let loops = args.loops;
                scope.spawn(move || -> Result<u64, String> {
                    let fd = open_socket(iface)?;
                    let mut pace = Pacer {
                        start,
                        pps,
                        sent: 0,
                    };
                    let mut refused = 0;
                    let mut outcome = Ok(());
                    for n in (i..loops).step_by(threads as usize) {
                        rewrite(&mut frames, n);
                        match send_all(fd, &frames, batch, &mut pace) {
                            Ok(r) => refused += r,
                            Err(e) => {
                                outcome = Err(e);
                                break;
                            }
                        }
                    }
                    // SAFETY: fd is this thread's socket.
                    unsafe { libc::close(fd) };
                    outcome.map(|()| refused)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a sender thread panicked".into()))
            })
            .collect()
    });
    let mut refused = 0;
    for r in results {
        refused += r?;
    }
    let secs = start.elapsed().as_secs_f64();
    let packets = frames.len() as u64 * args.loops;
    let bytes = bytes_per_loop * args.loops;
    println!(
        "sent {packets} packets ({bytes} bytes) in {secs:.3} s: {:.0} packets/s, {:.1} MB/s; \
         {refused} refused by the device (ENOBUFS)",
        packets as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("send: {e}");
        std::process::exit(1);
    }
}

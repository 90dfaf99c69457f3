//! Memory per tracked flow: heap bytes (counted by the allocator) the pipeline holds for
//! 1 000 000 idle TCP flows (a SYN each), for 100 000 flows with an HTTP request waiting for
//! its response (an in-flight exchange), and for 1 000 000 connections that closed and linger.
//!
//! `cargo bench --bench flow_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use wirespan::capture::{CapturePointId, LinkType, RawPacket};
use wirespan::pipeline::{Pipeline, PipelineConfig};

/// The system allocator, counting the bytes in use.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        IN_USE.fetch_add(new_size, Ordering::Relaxed);
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An Ethernet/IPv4/TCP frame from client `n` (10.x.y.z:port) to 10.255.0.1:80.
fn frame(n: u32, to_server: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let client = [10, (n >> 16) as u8 & 0x7f, (n >> 8) as u8, n as u8];
    let server = [10, 255, 0, 1];
    let cport = 1024 + (n % 60_000) as u16;
    let (src, dst, sport, dport) = if to_server {
        (client, server, cport, 80)
    } else {
        (server, client, 80, cport)
    };
    let mut f = vec![0u8; 14 + 20 + 20];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (40 + payload.len()) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[42..46].copy_from_slice(&ack.to_be_bytes());
    f[46] = 0x50;
    f[47] = flags;
    f[48..50].copy_from_slice(&65535u16.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN: u8 = 0x01;

fn feed(p: &mut Pipeline, point: CapturePointId, ts: &mut u64, f: &[u8]) {
    *ts += 100;
    p.packet(&RawPacket {
        ts_ns: *ts,
        link: LinkType::Ethernet,
        point,
        wire_len: f.len() as u32,
        data: f,
    });
    p.take_spans().for_each(drop);
}

/// Builds `flows` flows in a fresh pipeline with `one` and prints the heap they hold.
fn measure(what: &str, flows: u32, one: impl Fn(&mut Pipeline, CapturePointId, &mut u64, u32)) {
    let mut cfg = PipelineConfig::default();
    cfg.flows.max_flows = 2_000_000;
    let mut ts = 1_700_000_000_000_000_000u64;
    let before = IN_USE.load(Ordering::Relaxed);
    let mut p = Pipeline::new(cfg);
    let point = p.points.intern("bench");
    for n in 0..flows {
        one(&mut p, point, &mut ts, n);
    }
    let held = IN_USE.load(Ordering::Relaxed) - before;
    println!(
        "{what}: {flows} hold {:.1} MiB: {:.0} bytes each",
        held as f64 / (1 << 20) as f64,
        held as f64 / f64::from(flows)
    );
}

const REQUEST: &[u8] =
    b"GET /index.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: flow-memory\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";

/// Handshake and request: the flow waits for the response.
fn open_with_request(p: &mut Pipeline, point: CapturePointId, ts: &mut u64, n: u32) {
    feed(p, point, ts, &frame(n, true, SYN, 1000, 0, &[]));
    feed(p, point, ts, &frame(n, false, SYN | ACK, 5000, 1001, &[]));
    feed(p, point, ts, &frame(n, true, ACK, 1001, 5001, &[]));
    feed(p, point, ts, &frame(n, true, PSH_ACK, 1001, 5001, REQUEST));
}

fn main() {
    measure(
        "idle tracked flows (a SYN each)",
        1_000_000,
        |p, point, ts, n| {
            feed(p, point, ts, &frame(n, true, SYN, 1000, 0, &[]));
        },
    );
    measure("flows with a request in flight", 100_000, open_with_request);
    measure(
        "closed connections lingering",
        1_000_000,
        |p, point, ts, n| {
            open_with_request(p, point, ts, n);
            let (req, resp) = (1001 + REQUEST.len() as u32, 5001 + RESPONSE.len() as u32);
            feed(p, point, ts, &frame(n, false, PSH_ACK, 5001, req, RESPONSE));
            feed(p, point, ts, &frame(n, true, FIN | ACK, req, resp, &[]));
            feed(
                p,
                point,
                ts,
                &frame(n, false, FIN | ACK, resp, req + 1, &[]),
            );
        },
    );
}

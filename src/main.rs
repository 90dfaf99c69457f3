/// mimalloc: every span allocates its attribute strings and the JSON line, and glibc's malloc
/// spent about a quarter of a replay's time on them (perf, small-packet workload).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in the mimalloc v3 header that Cargo.lock pins (libmimalloc-sys
/// 0.1.49; the Rust bindings do not name it). `MIMALLOC_VERBOSE=1 wirespan …` lists the
/// options in enum order: purge_delay is the 16th.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() {
    // Freed memory goes back to the system after 100 ms instead of v3's 1 s: a long-running
    // agent's RSS then tracks what it holds (an export outage held the default's 20 MB of
    // freed pages), and replay speed is unchanged (measured on the generated workloads).
    // SAFETY: sets a plain integer option; mimalloc reads options at any time.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
    // No transparent huge pages for the heap (mimalloc asks for them; options are read before
    // main, so the process says it): an always-on agent's heap creeps, and each new 2 MiB page
    // showed as 2 MiB more RSS (an export outage's test grew in 2 MiB steps) and cost a 2 MiB
    // zeroing at its first touch (a third of a short live run's samples). The capture rings
    // are packet mmaps, not affected.
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and affects only this process.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    let cli = wirespan::cli::parse();
    std::process::exit(wirespan::cli::run(cli));
}

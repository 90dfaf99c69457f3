/// mimalloc: every span allocates its attribute strings and the JSON line, and glibc's malloc
/// spent about a quarter of a replay's time on them (perf, small-packet workload).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = wirespan::cli::parse();
    std::process::exit(wirespan::cli::run(cli));
}

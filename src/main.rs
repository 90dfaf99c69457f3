fn main() {
    let cli = wirespan::cli::parse();
    std::process::exit(wirespan::cli::run(cli));
}

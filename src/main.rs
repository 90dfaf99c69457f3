use clap::Parser;

fn main() {
    let cli = wirespan::cli::Cli::parse();
    std::process::exit(wirespan::cli::run(cli));
}

//! The saved fuzz corpora replayed through the fuzz targets' own entry points on stable Rust:
//! `fuzz/seeds/TARGET/` (a minimised corpus from `fuzz/run.sh`, covering what the fuzzers
//! reached) and `fuzz/regressions/TARGET/` (every input that once crashed or hung). Each
//! must run without a panic; a panic names the target and file.

use std::path::Path;

fn replay_dir(dir: &Path) -> usize {
    let mut inputs = 0;
    let Ok(targets) = std::fs::read_dir(dir) else {
        return 0;
    };
    for target in targets.flatten() {
        let name = target.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(target.path())
            .expect("readable corpus directory")
            .flatten()
            .map(|f| f.path())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("readable corpus file");
            eprintln!("{}", file.display());
            assert!(
                wirespan::fuzz::run(&name, &data),
                "{} is not a fuzz target (fuzz/fuzz_targets/)",
                name
            );
            inputs += 1;
        }
    }
    inputs
}

#[test]
fn every_target_has_a_saved_corpus() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for target in wirespan::fuzz::target_names() {
        let n = std::fs::read_dir(seeds.join(target)).map_or(0, |d| d.count());
        assert!(
            n > 0,
            "no saved corpus for fuzz target {target} in {}",
            seeds.display()
        );
    }
}

#[test]
fn saved_corpora_replay_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = replay_dir(&root.join("seeds"));
    let regressions = replay_dir(&root.join("regressions"));
    eprintln!("{seeds} seed inputs, {regressions} regression inputs");
    assert!(seeds > 0);
}

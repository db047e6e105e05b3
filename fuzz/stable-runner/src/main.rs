//! `cardgate-fuzz-runner`: a mutation fuzzer on the stable toolchain for cardgate's harnesses.
//!
//! It needs neither nightly nor libFuzzer. It has no code coverage; as feedback it keeps
//! every input whose *outcome class* (which error, which card state, see
//! `cardgate_fuzz_harness::class`) it has not seen before, and mutates from those.
//!
//! ```text
//! cardgate-fuzz-runner [--seconds N] [--seed S] [--corpus DIR] [--artifacts DIR] [TARGET…]
//! cardgate-fuzz-runner --replay TARGET FILE…
//! cardgate-fuzz-runner --list
//! ```
//!
//! For each target (all by default) it first runs every seed in `<corpus>/<target>/`, then
//! mutates for `--seconds` (default 30). A panic is a finding: the input is saved as
//! `<artifacts>/<target>/crash-<hash>`, that target stops, and the run exits with status 1.
//! It prints one line per target: executions, rate, seeds, inputs kept, classes, findings.
#![forbid(unsafe_code)]

mod mutate;

use cardgate_fuzz_harness::{class, Target, TARGETS};
use mutate::Rng;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Inputs kept per target beyond the seeds.
const MAX_POOL: usize = 4096;
/// An input slower than this is saved as `slow-<hash>` and reported (not a failure).
const SLOW: Duration = Duration::from_secs(1);

static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

struct Options {
    seconds: u64,
    seed: u64,
    corpus: PathBuf,
    artifacts: PathBuf,
    targets: Vec<&'static Target>,
}

/// What one target's run gave.
struct Report {
    name: &'static str,
    execs: u64,
    elapsed: Duration,
    seeds: usize,
    kept: usize,
    classes: usize,
    crash: Option<PathBuf>,
    slowest: Duration,
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("fuzz"))
}

fn usage() -> ExitCode {
    eprintln!("usage: cardgate-fuzz-runner [--seconds N] [--seed S] [--corpus DIR] [--artifacts DIR] [TARGET...]");
    eprintln!("       cardgate-fuzz-runner --replay TARGET FILE...");
    eprintln!("       cardgate-fuzz-runner --list");
    ExitCode::from(2)
}

fn load_seeds(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect()
}

/// Runs one input, catching a panic; `Err` carries the panic message.
fn execute(target: &Target, input: &[u8]) -> Result<u64, String> {
    catch_unwind(AssertUnwindSafe(|| (target.run)(input))).map_err(|_| {
        LAST_PANIC
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    })
}

fn save(dir: &Path, prefix: &str, input: &[u8]) -> PathBuf {
    let path = dir.join(format!("{prefix}-{:016x}", class::fnv(input)));
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, input)) {
        eprintln!("could not save {}: {e}", path.display());
    }
    path
}

fn fuzz_target(target: &'static Target, opts: &Options, rng: &mut Rng) -> Result<Report, String> {
    let seeds = load_seeds(&opts.corpus.join(target.name))?;
    let artifacts = opts.artifacts.join(target.name);
    let mut report = Report {
        name: target.name,
        execs: 0,
        elapsed: Duration::ZERO,
        seeds: seeds.len(),
        kept: 0,
        classes: 0,
        crash: None,
        slowest: Duration::ZERO,
    };
    let started = Instant::now();
    let mut classes = HashSet::new();
    let mut pool: Vec<Vec<u8>> = Vec::with_capacity(seeds.len() + MAX_POOL);
    let run_one = |input: &[u8], report: &mut Report| -> Option<u64> {
        let t0 = Instant::now();
        let result = execute(target, input);
        let took = t0.elapsed();
        report.execs += 1;
        if took > report.slowest {
            report.slowest = took;
            if took > SLOW {
                let path = save(&artifacts, "slow", input);
                eprintln!(
                    "{}: slow input ({} ms) saved as {}",
                    target.name,
                    took.as_millis(),
                    path.display()
                );
            }
        }
        match result {
            Ok(c) => Some(c),
            Err(message) => {
                let path = save(&artifacts, "crash", input);
                eprintln!(
                    "{}: FINDING: {message}\n  input saved as {}",
                    target.name,
                    path.display()
                );
                report.crash = Some(path);
                None
            }
        }
    };
    for s in &seeds {
        match run_one(s, &mut report) {
            Some(c) => {
                classes.insert(c);
            }
            None => break,
        }
    }
    pool.extend(seeds);
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let deadline = started + Duration::from_secs(opts.seconds);
    while report.crash.is_none() && Instant::now() < deadline {
        // Favour the inputs kept most recently: they are what the search just reached.
        let parent = if rng.one_in(2) && pool.len() > report.seeds {
            report.seeds + rng.below(pool.len() - report.seeds)
        } else {
            rng.below(pool.len())
        };
        let other = rng.below(pool.len());
        let child = mutate::mutate(rng, target, &pool[parent], &pool[other]);
        if let Some(c) = run_one(&child, &mut report) {
            if classes.insert(c) && pool.len() < report.seeds + MAX_POOL {
                pool.push(child);
                report.kept += 1;
            }
        }
    }
    report.elapsed = started.elapsed();
    report.classes = classes.len();
    Ok(report)
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        seconds: 30,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        corpus: fuzz_dir().join("corpus"),
        artifacts: fuzz_dir().join("artifacts"),
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => {
                opts.seconds = value("--seconds")?
                    .parse()
                    .map_err(|_| "--seconds takes a number")?
            }
            "--seed" => {
                opts.seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed takes a number")?
            }
            "--corpus" => opts.corpus = value("--corpus")?.into(),
            "--artifacts" => opts.artifacts = value("--artifacts")?.into(),
            name => opts.targets.push(
                cardgate_fuzz_harness::target(name).ok_or(format!("unknown target {name:?}"))?,
            ),
        }
    }
    if opts.targets.is_empty() {
        opts.targets = TARGETS.iter().collect();
    }
    Ok(opts)
}

fn replay(args: &[String]) -> ExitCode {
    let Some((name, files)) = args.split_first() else {
        return usage();
    };
    let Some(target) = cardgate_fuzz_harness::target(name) else {
        eprintln!("unknown target {name:?}");
        return ExitCode::from(2);
    };
    let mut failed = false;
    for f in files {
        match std::fs::read(f) {
            Ok(input) => match execute(target, &input) {
                Ok(c) => println!("{f}: ok (class {c:016x})"),
                Err(m) => {
                    println!("{f}: FINDING: {m}");
                    failed = true;
                }
            },
            Err(e) => {
                eprintln!("{f}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        if let Ok(mut m) = LAST_PANIC.lock() {
            *m = text;
        }
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--list") => {
            for t in TARGETS {
                println!("{}", t.name);
            }
            return ExitCode::SUCCESS;
        }
        Some("--replay") => return replay(&args[1..]),
        Some("--help" | "-h") => return usage(),
        _ => {}
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return usage();
        }
    };
    println!(
        "cardgate-fuzz-runner: {} target(s), {} s each, seed {}",
        opts.targets.len(),
        opts.seconds,
        opts.seed
    );
    println!(
        "{:<16} {:>11} {:>9} {:>6} {:>6} {:>8} {:>9}  result",
        "target", "executions", "exec/s", "seeds", "kept", "classes", "slowest"
    );
    let mut rng = Rng::new(opts.seed);
    let mut findings = 0;
    for target in &opts.targets {
        match fuzz_target(target, &opts, &mut rng) {
            Ok(r) => {
                let rate = r.execs as f64 / r.elapsed.as_secs_f64().max(1e-9);
                let result = match &r.crash {
                    Some(p) => {
                        findings += 1;
                        format!("FINDING {}", p.display())
                    }
                    None => "ok".to_owned(),
                };
                println!(
                    "{:<16} {:>11} {:>9.0} {:>6} {:>6} {:>8} {:>7}ms  {result}",
                    r.name,
                    r.execs,
                    rate,
                    r.seeds,
                    r.kept,
                    r.classes,
                    r.slowest.as_millis()
                );
            }
            Err(e) => {
                findings += 1;
                println!("{:<16} could not start: {e}", target.name);
            }
        }
    }
    cardgate_fuzz_harness::audit::cleanup();
    if findings > 0 {
        eprintln!("{findings} target(s) with findings; replay with --replay TARGET FILE");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

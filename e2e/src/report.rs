//! The suite's summary: one line per e2e case (result, seconds, objects written, objects read
//! back intact, objects lost, reads during an operation and how many failed, controller
//! kills, and why a case could not run here), appended to the file in
//! `AIS_E2E_SUMMARY` when the case ends, passed or failed. `just e2e-local` prints the table
//! at the end (`e2e/summary.sh`).
//!
//! A case is the test function: [`Case::start`] at its top names it after the test's thread
//! (the test harness names each thread after its test), and the data client adds what it wrote
//! and read on that thread to it, so no test passes counts around.

use std::cell::RefCell;
use std::io::Write;
use std::time::Instant;

/// What the data client did in the running case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Objects written (each set counted once, when it was stored whole).
    pub written: usize,
    /// Objects read back with the checksum they were written with, over every check of the
    /// case (a set checked after three operations counts three times).
    pub verified: usize,
    /// Objects read back missing or different (each verification's failures).
    pub lost: usize,
    /// Reads that failed while an operation ran (a [`crate::data::Reader`]).
    pub failed_reads: usize,
    /// Reads that succeeded while an operation ran.
    pub reads: usize,
    /// Times the case's controller was killed ([`crate::chaos::Chaos`]).
    pub kills: usize,
}

thread_local! {
    static CURRENT: RefCell<Option<Counts>> = const { RefCell::new(None) };
}

/// Adds to the counts of the case running on this thread (none: nothing is recorded).
pub(crate) fn note(f: impl FnOnce(&mut Counts)) {
    CURRENT.with(|c| {
        if let Some(counts) = c.borrow_mut().as_mut() {
            f(counts);
        }
    });
}

/// One case of the suite; its line is written when it is dropped.
#[derive(Debug)]
pub struct Case {
    name: String,
    start: Instant,
    not_run: Option<String>,
}

impl Case {
    /// Starts the case of the calling test.
    pub fn start() -> Self {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        CURRENT.with(|c| *c.borrow_mut() = Some(Counts::default()));
        Self {
            name,
            start: Instant::now(),
            not_run: None,
        }
    }

    /// Records that the case cannot run on this cluster, and why: the summary shows it as
    /// `not-run` with the reason, never as passed.
    pub fn not_run(&mut self, why: &str) {
        println!("{}: not run here: {why}", self.name);
        self.not_run = Some(why.replace(['\t', '\n'], " "));
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let counts = CURRENT.with(|c| c.borrow_mut().take()).unwrap_or_default();
        let result = if std::thread::panicking() {
            "FAILED"
        } else if self.not_run.is_some() {
            "not-run"
        } else {
            "passed"
        };
        let line = format!(
            "{}\t{result}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.name,
            self.start.elapsed().as_secs(),
            counts.written,
            counts.verified,
            counts.lost,
            counts.reads,
            counts.failed_reads,
            counts.kills,
            self.not_run.as_deref().unwrap_or_default(),
        );
        print!("case {line}");
        let Ok(path) = std::env::var("AIS_E2E_SUMMARY") else {
            return;
        };
        // One short append per case: lines of cases that end at once do not interleave.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

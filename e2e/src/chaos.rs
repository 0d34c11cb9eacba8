//! Controller kills at random points of a flow: the controller of a test runs as a child
//! process that [`Chaos::tick`] kills (SIGKILL, no goodbye) once its random lifetime is up and
//! starts again at once, so that every step of the flow (a decommission under way, a target in
//! maintenance, a rollout between two pods) may be where a controller dies. The delays come
//! from a seed that is printed; `AIS_E2E_CHAOS_SEED=<seed>` gives the same delays again.

use std::time::{Duration, Instant};

use crate::{Process, free_port, start_controller};

/// The shortest and longest time a controller runs before it is killed.
const MIN_LIFE: Duration = Duration::from_secs(3);
const MAX_LIFE: Duration = Duration::from_secs(20);

/// A controller for one namespace that is killed and restarted at random times.
#[derive(Debug)]
pub struct Chaos {
    ns: String,
    port: u16,
    controller: Option<Process>,
    state: u64,
    next_kill: Instant,
    kills: usize,
}

impl Chaos {
    /// Starts the namespace's controller; the first kill is a random delay away.
    pub fn start(ns: &str) -> Self {
        let seed = std::env::var("AIS_E2E_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| u64::from(crate::rand_u32()))
            // xorshift never leaves zero.
            | 1;
        println!(
            "{ns}: controller kills with seed {seed} (AIS_E2E_CHAOS_SEED={seed} replays them)"
        );
        let port = free_port("127.0.0.1");
        let mut chaos = Self {
            ns: ns.to_string(),
            port,
            controller: Some(start_controller(ns, port)),
            state: seed,
            next_kill: Instant::now(),
            kills: 0,
        };
        chaos.next_kill = Instant::now() + chaos.life();
        chaos
    }

    /// The controller's health and metrics port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many times the controller was killed.
    pub fn kills(&self) -> usize {
        self.kills
    }

    fn life(&mut self) -> Duration {
        next_life(&mut self.state)
    }

    /// Kills and restarts the controller when its time is up; call it from every poll of a
    /// wait.
    pub fn tick(&mut self) {
        if Instant::now() >= self.next_kill {
            self.kill_now();
        }
    }

    /// Kills the controller now and starts it again (a kill the case places itself, e.g.
    /// together with a target pod's).
    pub fn kill_now(&mut self) {
        // Dropping the process kills it (SIGKILL) and reaps it.
        drop(self.controller.take());
        self.kills += 1;
        crate::report::note(|c| c.kills += 1);
        println!("{}: controller killed ({} so far)", self.ns, self.kills);
        self.controller = Some(start_controller(&self.ns, self.port));
        self.next_kill = Instant::now() + self.life();
    }
}

/// A random lifetime in [`MIN_LIFE`, `MAX_LIFE`] from `state` (xorshift64: no dependency, and
/// the same seed gives the same sequence on every machine). `state` must not be zero.
fn next_life(state: &mut u64) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let span = u64::try_from((MAX_LIFE - MIN_LIFE).as_millis()).unwrap_or(u64::MAX - 1);
    MIN_LIFE + Duration::from_millis(*state % (span + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_lifetimes_within_bounds() {
        let run = |seed: u64| {
            let mut state = seed;
            (0..50).map(|_| next_life(&mut state)).collect::<Vec<_>>()
        };
        let first = run(12_345);
        assert_eq!(first, run(12_345));
        assert_ne!(first, run(54_321));
        assert!(first.iter().all(|d| (MIN_LIFE..=MAX_LIFE).contains(d)));
        // Spread over the range, not stuck at one end.
        assert!(first.iter().any(|d| *d < Duration::from_secs(8)));
        assert!(first.iter().any(|d| *d > Duration::from_secs(15)));
    }
}
